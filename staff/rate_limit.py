"""Failed logins per client address, in a sliding window.

After ``max_failures`` failures within ``window_seconds`` an address gets no
more password checks (not even a right one) until its oldest failure leaves
the window. Memory is bounded: at most ``max_addresses`` are tracked, the
stalest dropped first. One process: the console runs as a single worker.
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
    ) -> None:
        self.max_failures = max_failures
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

    def retry_after(self, address: str) -> float:
        """Seconds until ``address`` may try again; 0 when it may now."""
        with self._lock:
            now = self._clock()
            times = self._recent(address, now)
            if len(times) < self.max_failures:
                return 0.0
            return max(0.0, times[0] + self.window_seconds - now)

    def record_failure(self, address: str) -> None:
        with self._lock:
            now = self._clock()
            times = self._recent(address, now)
            times.append(now)
            self._failures[address] = times
            self._failures.move_to_end(address)
            while len(self._failures) > self._max_addresses:
                self._failures.popitem(last=False)

    def reset(self, address: str) -> None:
        with self._lock:
            self._failures.pop(address, None)
