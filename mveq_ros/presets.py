"""Named sets of pose_estimator parameters that launch files turn on with one argument (no rclpy
import here: the launch process reads them)."""

# The camera-rate switches (issue 11, docs/benchmarks.md): on one H100 the offline default model
# with these processed 600 of 600 frames of a 30 Hz stream, 18 ms from image message to result.
# CUDA only: the graphs and the compiled PnP are captured when the node loads its databases.
CAMERA_RATE = {"tracking_mode": True, "pnp_backend": "gpu", "pnp_compile": True, "box_queries": True, "cuda_graphs": True}
