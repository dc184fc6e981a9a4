"""Two worker processes on the same Redis never run the same entry twice."""
import asyncio
import subprocess
import sys
import time
from pathlib import Path

from dlq import DLQSettings, build_queue

KIND = "whatsapp.send"
ENTRIES = 200
PROJECT = Path(__file__).resolve().parents[2]


async def test_two_processes_share_200_entries_without_running_any_twice(redis_client, prefix, sqlite_url):
    redis_url = "redis://127.0.0.1:6379/0"
    queue = build_queue(DLQSettings(redis_url=redis_url, database_url=sqlite_url), prefix=prefix,
                        clock=lambda: time.time() - 3600, record_metrics=False)
    ids = {(await queue.enqueue(KIND, {"n": n}, error="HTTP 503", reason="graph_unavailable")).id for n in range(ENTRIES)}
    await queue.close()
    command = [sys.executable, "-m", "tests.dlq.worker_process", "count", redis_url, prefix, sqlite_url, KIND, "300"]
    workers = [subprocess.Popen(command, cwd=PROJECT) for _ in range(2)]
    try:
        deadline = time.monotonic() + 60
        while await redis_client.get(f"{prefix}:ready") != "2":  # both imported and connected: start together
            assert time.monotonic() < deadline and all(w.poll() is None for w in workers), "a worker did not start"
            await asyncio.sleep(0.02)
        await redis_client.set(f"{prefix}:go", "1")
        for worker in workers:
            assert await asyncio.to_thread(worker.wait, 90) == 0
    finally:
        for worker in workers:
            worker.kill()
    calls = {entry_id: int(count) for entry_id, count in (await redis_client.hgetall(f"{prefix}:calls")).items()}
    assert set(calls) == ids
    assert max(calls.values()) == 1, f"{sum(calls.values()) - ENTRIES} entries ran twice"
    by_process = [int(count) for count in (await redis_client.hgetall(f"{prefix}:by_process")).values()]
    assert len(by_process) == 2 and sum(by_process) == ENTRIES, f"both processes should have worked: {by_process}"
