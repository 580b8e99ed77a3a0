"""The nodes' frame worker: newest frame only, and a shutdown that says whether a frame is still in
progress (the node then exits without tearing torch down under it)."""

import threading
import time

from mveq_ros.worker import NewestFrameWorker


class _Log:
    def __init__(self):
        self.errors = []

    def error(self, text, **_):
        self.errors.append(text)


def test_newest_frame_only_and_stop_reports_a_busy_worker():
    release, started, done = threading.Event(), threading.Event(), []

    def process(item):
        started.set()
        release.wait(10)
        done.append(item)

    worker = NewestFrameWorker(process, _Log(), "test_worker")
    worker.offer(1)
    assert started.wait(5)
    worker.offer(2)
    worker.offer(3)  # replaces 2 while 1 is in progress
    assert worker.received == 3 and worker.dropped == 1
    assert worker.stop(timeout=0.2) is False and worker.is_alive()  # frame 1 still in progress
    release.set()
    deadline = time.time() + 5
    while worker.is_alive() and time.time() < deadline:
        time.sleep(0.05)
    assert not worker.is_alive() and done == [1]  # stopped after the frame in progress; 3 not started
    assert worker.stop(timeout=0.1) is True


def test_an_exception_in_process_is_logged_and_the_worker_goes_on():
    log, seen = _Log(), []

    def process(item):
        if item == "bad":
            raise RuntimeError("CUDA error: out of memory")
        seen.append(item)

    worker = NewestFrameWorker(process, log, "test_worker")
    worker.offer("bad")
    time.sleep(0.3)
    worker.offer("good")
    deadline = time.time() + 5
    while not seen and time.time() < deadline:
        time.sleep(0.05)
    assert seen == ["good"] and len(log.errors) == 1 and "RuntimeError: CUDA error" in log.errors[0]
    assert worker.stop() is True
