"""The skip rule fails a run whose ROS test skips for a reason other than launch_ros."""

pytest_plugins = ["pytester"]

CONFTEST = "import sys\nsys.path.insert(0, %r)\nfrom tests.skip_policy import pytest_collectreport, pytest_runtest_logreport, pytest_sessionfinish, pytest_sessionstart, pytest_terminal_summary  # noqa\n" % str(__import__("pathlib").Path(__file__).resolve().parents[1])


def test_ros_skip_for_another_reason_fails_the_run(pytester):
    pytester.makeconftest(CONFTEST)
    ros = pytester.mkdir("tests").joinpath("ros")
    ros.mkdir()
    ros.joinpath("test_a.py").write_text(
        "import pytest\n"
        "def test_launch():\n    pytest.skip('launch_ros is not installed')\n"
        "def test_ok():\n    pass\n"
    )
    result = pytester.runpytest_subprocess("-rs", "-p", "no:cacheprovider")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*SKIPPED*launch_ros is not installed*"])
    ros.joinpath("test_b.py").write_text("import pytest\npytest.importorskip('no_such_module_rclpy')\n")
    other = pytester.mkdir("other")
    other.joinpath("test_c.py").write_text("import pytest\ndef test_c():\n    pytest.skip('slow')\n")
    result = pytester.runpytest_subprocess("-rs", "-p", "no:cacheprovider")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*skip policy*tests/ros/test_b.py*no_such_module_rclpy*"])
    assert "other/test_c.py" not in "".join(line for line in result.stdout.lines if "skip policy" in line)
