"""Benchmarks. The real-image benchmark's choices live here, without heavy imports, so the CLI's
options and :class:`~mveq_core.benchmarks.real_pose.RealBenchConfig` read one list."""

CROP_MODES = ("gt", "gt-mask", "detections", "none", "localize", "track")
ONBOARDING = ("cad", "video")
