"""Real rclpy from the PyPI wheels, isolated: a random domain id and localhost-only discovery."""

import os
import random
import threading
import time

import pytest

os.environ["ROS_DOMAIN_ID"] = str(random.Random(os.getpid()).randint(20, 99))
os.environ["ROS_LOCALHOST_ONLY"] = "1"
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"

rclpy = pytest.importorskip("rclpy", reason="rclpy is not installed (pip install -r requirements-ros.txt)")


@pytest.fixture(scope="session")
def ros():
    rclpy.init()
    yield rclpy
    rclpy.try_shutdown()


class Spinner:
    """Spins nodes in a background thread; ``wait_for`` polls a condition."""

    def __init__(self, *nodes):
        from rclpy.executors import MultiThreadedExecutor

        self.executor = MultiThreadedExecutor(num_threads=4)
        for n in nodes:
            self.executor.add_node(n)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def wait_for(self, condition, timeout=30.0, period=0.05):
        end = time.time() + timeout
        while time.time() < end:
            if condition():
                return True
            time.sleep(period)
        return False

    def stop(self):
        self.executor.shutdown(timeout_sec=2.0)
        self.thread.join(timeout=5.0)


@pytest.fixture
def spinner_factory():
    made = []

    def make(*nodes):
        s = Spinner(*nodes)
        made.append(s)
        return s

    yield make
    for s in made:
        s.stop()
