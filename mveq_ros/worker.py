"""What both nodes share: work on the newest frame only in a thread of its own, and a main()."""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Callable


class NewestFrameWorker:
    """Keeps only the latest offered item and hands it to ``process`` in a worker thread.

    Items offered while the worker is busy replace the waiting one (counted in ``dropped``), so no
    backlog builds up and latency stays at one processing time. An exception in ``process`` (a bad
    frame, a GPU error) is logged, throttled, on ``logger`` and the worker carries on.
    """

    def __init__(self, process: Callable, logger, name: str):
        self._process = process
        self._logger = logger
        self._cond = threading.Condition()
        self._pending = None
        self._stop = False
        self.received = 0
        self.dropped = 0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    @property
    def pending(self):
        return self._pending

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def offer(self, item) -> None:
        with self._cond:
            self.received += 1
            if self._pending is not None:
                self.dropped += 1
            self._pending = item
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._pending is None and not self._stop:
                    self._cond.wait(timeout=0.5)
                if self._stop:
                    return
                item, self._pending = self._pending, None
            try:
                self._process(item)
            except Exception as exc:  # one bad item (or a GPU error) must not stop the node
                self._logger.error(f"frame skipped: {type(exc).__name__}: {exc}", throttle_duration_sec=5.0)

    def stop(self, timeout: float = 2.0) -> bool:
        """Stop taking items; wait up to ``timeout`` s for the item in progress. True when the worker
        has ended (False: still inside ``process``, e.g. a slow CPU frame)."""
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        self._thread.join(timeout=timeout)
        return not self._thread.is_alive()


def run_node(node_class, name: str, args=None) -> None:
    """rclpy init / spin / clean shutdown (SIGINT included) for one node; startup errors exit 1."""
    import rclpy

    rclpy.init(args=args)
    node = None
    try:
        node = node_class()
        rclpy.spin(node)
    except KeyboardInterrupt:
        pass
    except Exception as exc:  # startup failures: one readable line, non-zero exit
        print(f"{name}: error: {exc}")
        raise SystemExit(1)
    finally:
        # launch forwards SIGINT (then SIGTERM after 5 s) while we clean up: finish undisturbed
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        busy = False
        if node is not None:
            busy = not node.shutdown_worker()
            node.destroy_node()
        rclpy.try_shutdown()
        if busy:
            # A frame is still being processed (seconds on a CPU): leave now rather than let the
            # interpreter tear down torch and rclpy under that thread (which aborts the process).
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)
