"""ament_python package mveq_ros: the mveq_core library, the mveq_ros nodes and the mveq CLI."""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = "mveq_ros"

setup(
    name=PACKAGE,
    version="0.1.0",
    description="Multiview-equivariant ViT features for one-shot 6D pose estimation (ROS 2 package + library)",
    license="MIT",
    python_requires=">=3.10",
    packages=find_packages(include=["mveq_core", "mveq_core.*", "mveq_ros", "mveq_ros.*"]),
    package_data={"mveq_core": ["assets/*", "assets/**/*"]},
    include_package_data=True,
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml")),
    ],
    install_requires=[
        "numpy",
        "torch>=2.1",
        "timm>=1.0",
        "peft>=0.10",
        "safetensors",
        "opencv-python-headless",
        "trimesh",
        "pyrender-maintained",
        "poselib",
        "scipy",
        "tqdm",
        "pyyaml",
        "matplotlib",
        "onnx",
    ],
    zip_safe=False,
    entry_points={
        "console_scripts": [
            "mveq = mveq_core.cli:main",
            "pose_estimator = mveq_ros.pose_node:main",
            "point_tracker = mveq_ros.tracker_node:main",
        ],
    },
)
