"""Seconds of densify's dense matching for one keyframe pair on this CPU: the nearest neighbours
both ways from two similarity products (the code before session 13) against one product
(`densify._nearest_both`), on random unit descriptors of the test orbit's size (about 10,000 grid
points a keyframe crop, 384 channels: the offline default ViT-S); best of 3 each, same run.

    .venv/bin/python scripts/densify_timing.py
"""

import time

import torch

from mveq_core.densify import _nearest_both


def two_products(a, b):
    """The nearest rows both ways as densify found them before: one blocked product per direction."""
    with torch.no_grad():
        return [torch.cat([(x[s : s + 4096] @ y.T).argmax(1) for s in range(0, len(x), 4096)]) for x, y in ((a, b), (b, a))]


def best_of(fn, *args, repeats=3):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - t)
    return min(times)


if __name__ == "__main__":
    torch.manual_seed(0)
    a = torch.nn.functional.normalize(torch.randn(10_000, 384), dim=1)
    b = torch.nn.functional.normalize(torch.randn(9_500, 384), dim=1)
    old, new = two_products(a, b), _nearest_both(a, b)
    assert (old[0].numpy() == new[0]).all() and (old[1].numpy() == new[1]).all()
    print(f"torch threads {torch.get_num_threads()}: two products {best_of(two_products, a, b):.3f} s, one product both ways {best_of(_nearest_both, a, b):.3f} s (same neighbours)")
