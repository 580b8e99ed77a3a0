"""Issue 13: can SIFT options register Middlebury views 45 degrees apart? The 8 even views of a ring
(every other view; start 1 for the odd ones) reconstructed by `mveq_core.sfm.reconstruct` with
COLMAP's wide-baseline SIFT options switched in (affine shape estimation, domain-size pooling,
guided matching, an upsampled first octave, lower inlier thresholds for verification and
initialisation); registered views and relative rotation errors against the ground-truth cameras.
The options are swapped in by replacing pycolmap's option constructors for the run (this script
only; the product keeps its defaults).

    .venv/bin/python scripts/realdata/sift_wide_baseline.py ../shared/realdata/middlebury_temple [START]
"""

import sys
import time
from pathlib import Path

import cv2  # noqa: F401  (before pycolmap: loaded the other way round, their PNG writers crash on a double free)
import pycolmap

sys.path.insert(0, str(Path(__file__).resolve().parent))
from middlebury_sfm import load  # noqa: E402

from mveq_core import sfm  # noqa: E402
from mveq_core.io import read_image_rgb  # noqa: E402

ORIGINAL = (pycolmap.FeatureExtractionOptions, pycolmap.FeatureMatchingOptions, pycolmap.TwoViewGeometryOptions, pycolmap.IncrementalPipelineOptions)
VARIANTS = [
    ("defaults", {}),
    ("affine shape + DSP", dict(affine=True, dsp=True)),
    ("affine shape + DSP + guided matching", dict(affine=True, dsp=True, guided=True)),
    ("first octave -1", dict(octave=-1)),
    ("affine shape + DSP + first octave -1", dict(affine=True, dsp=True, octave=-1)),
    ("lower inlier thresholds", dict(min_inliers=8, init_inliers=50)),
    ("affine shape + DSP + lower thresholds", dict(affine=True, dsp=True, min_inliers=8, init_inliers=50)),
]


def use_options(affine=False, dsp=False, guided=False, octave=None, min_inliers=None, init_inliers=None) -> None:
    extraction_cls, matching_cls, verification_cls, pipeline_cls = ORIGINAL

    def extraction():
        o = extraction_cls()
        o.sift.estimate_affine_shape, o.sift.domain_size_pooling = affine, dsp
        if octave is not None:
            o.sift.first_octave = octave
        return o

    def matching():
        o = matching_cls()
        o.guided_matching = guided
        return o

    def verification():
        o = verification_cls()
        if min_inliers is not None:
            o.min_num_inliers = min_inliers
        return o

    def pipeline():
        o = pipeline_cls()
        if init_inliers is not None:
            o.mapper.init_min_num_inliers = init_inliers
            o.mapper.abs_pose_min_num_inliers = max(10, init_inliers // 3)
        return o

    pycolmap.FeatureExtractionOptions, pycolmap.FeatureMatchingOptions, pycolmap.TwoViewGeometryOptions, pycolmap.IncrementalPipelineOptions = (
        extraction, matching, verification, pipeline)


def main(folder: str, start: str = "0") -> int:
    folder = Path(folder)
    names, Ks, Ts, _, _ = load(folder)
    idx = list(range(int(start), len(names), 2))
    images = [read_image_rgb(folder / names[i]) for i in idx]
    for name, options in VARIANTS:
        use_options(**options)
        t = time.time()
        try:
            rec = sfm.reconstruct(images, Ks[0])
        except sfm.SfMError as exc:
            print(f"{name:40} failed: {exc}")
            continue
        s = sfm.relative_motion_summary(rec.T_cam_world, [Ts[i] for i in idx])
        print(f"{name:40} registered {len(rec.T_cam_world)} of {len(images)}, {len(rec.points)} points, relative rotation median "
              f"{s.get('median_rotation_error_deg', float('nan')):.2f}° max {s.get('max_rotation_error_deg', float('nan')):.2f}°, {time.time() - t:.0f} s")
    pycolmap.FeatureExtractionOptions, pycolmap.FeatureMatchingOptions, pycolmap.TwoViewGeometryOptions, pycolmap.IncrementalPipelineOptions = ORIGINAL
    return 0


if __name__ == "__main__":
    raise SystemExit(main(*sys.argv[1:]))
