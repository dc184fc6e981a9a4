"""Failed logins per client address, in a sliding window.

After ``max_failures`` failures within ``window_seconds`` an address gets no
more password checks (not even a right one) until its oldest failure leaves
the window. Memory is bounded: at most ``max_addresses`` are tracked, the
stalest dropped first. One process: the console runs as a single worker.

The client address comes from X-Forwarded-For behind a proxy, which an
attacker can vary on every try; so failures are also counted for everyone
together: after ``global_max_failures`` (default 10 x ``max_failures``) in the
window, no address gets a password check until failures age out (issue #9).
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from typing import Callable, Deque


class LoginRateLimiter:
    def __init__(
        self,
        max_failures: int,
        window_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        max_addresses: int = 10_000,
        global_max_failures: int | None = None,
    ) -> None:
        self.max_failures = max_failures
        self.global_max_failures = global_max_failures or max_failures * 10
        self._everyone: Deque[float] = deque()
        self.window_seconds = window_seconds
        self._clock = clock
        self._max_addresses = max_addresses
        self._failures: "OrderedDict[str, Deque[float]]" = OrderedDict()
        self._lock = threading.Lock()

    def _recent(self, address: str, now: float) -> Deque[float]:
        times = self._failures.get(address, deque())
        while times and times[0] <= now - self.window_seconds:
            times.popleft()
        return times

    def _prune_everyone(self, now: float) -> None:
        while self._everyone and self._everyone[0] <= now - self.window_seconds:
            self._everyone.popleft()

    def retry_after(self, address: str) -> float:
        """Seconds until ``address`` may try again; 0 when it may now."""
        with self._lock:
            now = self._clock()
            self._prune_everyone(now)
            waits = [0.0]
            if len(self._everyone) >= self.global_max_failures:
                waits.append(self._everyone[len(self._everyone) - self.global_max_failures] + self.window_seconds - now)
            times = self._recent(address, now)
            if len(times) >= self.max_failures:
                waits.append(times[0] + self.window_seconds - now)
            return max(waits)

    def record_failure(self, address: str) -> None:
        with self._lock:
            now = self._clock()
            times = self._recent(address, now)
            times.append(now)
            self._prune_everyone(now)
            self._everyone.append(now)
            self._failures[address] = times
            self._failures.move_to_end(address)
            while len(self._failures) > self._max_addresses:
                self._failures.popitem(last=False)

    def reset(self, address: str) -> None:
        with self._lock:
            self._failures.pop(address, None)
