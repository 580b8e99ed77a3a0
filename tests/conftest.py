"""Shared fixtures: small deterministic objects, renders and a tiny random-init ViT."""

import os

os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never reach the network

import numpy as np
import pytest
import torch

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(scope="session")
def procedural_mesh():
    from mveq_core.procedural import procedural_object

    return procedural_object(seed=5, size_m=0.2)


@pytest.fixture(scope="session")
def tiny_features():
    from mveq_core.backbones import create_backbone
    from mveq_core.features import DenseFeatures

    return DenseFeatures(create_backbone("tiny_vit14", "random"))


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


# CI's skip rule (tests/skip_policy.py): skips are listed; a ROS test skipped for any reason but the
# absence of launch_ros fails the run.
from tests.skip_policy import (  # noqa: E402, F401
    pytest_collectreport,
    pytest_runtest_logreport,
    pytest_sessionfinish,
    pytest_sessionstart,
    pytest_terminal_summary,
)
