"""CI's rule for skipped tests: every skip is listed, and a ROS test may only skip because launch_ros
is absent (ROS 2 launch is not on PyPI); any other reason (rclpy or messages missing, a fixture
that gave up) fails the run. Imported by tests/conftest.py."""

ROS_DIR = "tests/ros/"
ALLOWED = "launch_ros"
_unexpected: list[tuple[str, str]] = []


def _reason(report) -> str:
    longrepr = report.longrepr
    return str(longrepr[2]) if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)


def _check(report) -> None:
    if report.skipped and ROS_DIR in report.nodeid.replace("\\", "/") and ALLOWED not in _reason(report):
        _unexpected.append((report.nodeid, _reason(report)))


def pytest_sessionstart(session):
    _unexpected.clear()


def pytest_collectreport(report):
    _check(report)


def pytest_runtest_logreport(report):
    _check(report)


def pytest_terminal_summary(terminalreporter):
    for nodeid, reason in _unexpected:
        terminalreporter.write_line(f"FAILED (skip policy): ROS test skipped for a reason other than {ALLOWED}: {nodeid}: {reason}", red=True)


def pytest_sessionfinish(session, exitstatus):
    if _unexpected and session.exitstatus == 0:
        session.exitstatus = 1
