"""One-shot 6D pose: query features on a grid, mutual nearest neighbours against object databases, PnP.

:class:`PoseEstimator` is the one code path behind ``mveq pose``, the ROS node and the benchmarks.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, replace
from typing import Iterable, Mapping, Sequence

import numpy as np
import torch

from .box_distance import draw_to_box, hull_points
from .crop import Crop, crop_sizes, mask_box
from .database import ObjectDatabase, load_database
from .depth import apply_correction, check_depth, correct_distance
from .features import DenseFeatures, image_to_tensor
from .geometry import check_intrinsics
from .hypotheses import SCORES as HYPOTHESIS_SCORES
from .hypotheses import SOURCES as HYPOTHESIS_SOURCES
from .hypotheses import ranked_views, refine_box_and_cut, refine_hypotheses
from .localize import LocalizeConfig
from .matching import METHODS as MATCHING_METHODS
from .matching import mutual_nearest_neighbours, principal_directions
from .pnp import PnPConfig, solve_pnp
from .pose_result import PoseResult, QueryFeatures, check_image, pose_score  # noqa: F401  (PoseResult, check_image: public here too)
from .settings import option, require, require_choice

log = logging.getLogger(__name__)
BOX_MASKS = ("off", "grabcut", "box-and-grabcut")  # PoseConfig.box_mask


@dataclass(frozen=True)
class PoseConfig:
    """The paper's protocol: the (cropped) image scaled to a 512 px longer side, query pixels every
    4 px, mutual nearest neighbours, RANSAC PnP with 10,000 iterations and an 8 px threshold.

    ``crop_margin`` enlarges a given box (or a mask's box) by this fraction of its size per side.
    ``refine_with_crop``: without a box or mask, estimate on the whole image, then again on a crop
    around the first pose's projected object box (kept when it has more inliers).
    ``max_elements`` bounds the similarity block held in memory at once.
    ``search``: how an image without a box or mask is searched: ``two-pass`` (a pose on the whole
    image, then on a crop around it) or ``localize`` (clusters of matched cells over the image and
    tiles, verified by a pose pass; :mod:`mveq_core.localize`; measured in docs/benchmarks.md).
    """

    input_size: int | None = option(512, "longer side of the (cropped) image fed to the features, px", cli="--input-size", ros="input_size")
    grid_stride: int = option(4, "query pixel spacing in the resized image, px", cli="--grid-stride", ros="grid_stride")
    crop_margin: float = option(0.15, "a box is enlarged by this fraction of its size per side", cli="--crop-margin")
    # Off by default: the extra context cost accuracy on real frames (docs/benchmarks.md, session 5).
    crop_quantum: int = option(0, "a crop's shorter side grows (more context, no padding) to a multiple of this many input pixels, so the GPU's captured feature graphs see fewer sizes; 0: off", cli="--crop-quantum", ros="crop_quantum")
    # Queries in the crop's margin see background (a visible box holds the whole visible object);
    # without them matching has about 40 % fewer queries to compare (margin 0.15).
    box_queries: bool = option(False, "with a box: query pixels only inside the box (not in the crop's margin around it)", cli="--box-queries", ros="box_queries")
    # A mask matters for CAD databases (background blacked out like a render's; the silhouette
    # choice of hypotheses): a box alone can be turned into one by GrabCut (docs/benchmarks.md).
    # box-and-grabcut (the default): with render refinement and hypotheses, the box alone's hypotheses and a GrabCut
    # mask's, pooled (real frames, box only: ADD(-S) 18 -> 21, 5 cm 5° 15 -> 20, 10 cm 10° 17 -> 29 of 61; docs/benchmarks.md,
    # session 23); without them the box alone, and GrabCut is not run
    box_mask: str = option("box-and-grabcut", "with a box and no mask: off = the box alone; grabcut = cut a mask from the box with OpenCV's GrabCut and use it as the query mask; "
                           "box-and-grabcut = with render_refine and hypotheses, refine the box's hypotheses and the GrabCut mask's and keep the one whose silhouette agrees best with both (else the box alone)",
                           cli="--box-mask", ros="box_mask", choices=BOX_MASKS)
    # A box's sides fix the translation once the rotation is known; PnP's distance is a few per cent
    # off. 0.5: half way (31 real BOP frames, box only: ADD(-S) 12 -> 16 of 31; 30 held-out LINEMOD
    # cat frames 9 -> 12; box sides off by 1-2 % or one side cut short by an occluder lose little or
    # nothing; docs/benchmarks.md, session 24)
    box_distance: float = option(0.5, "with a box, no mask and the object's mesh: move the pose's translation this share of the way to the one whose mesh's projected box has the box's sides "
                                 "(all four, or three with one cut short as by an occluder; kept when its distance is within a tenth of the pose's; 0: off)", cli="--box-distance", ros="box_distance")
    # Without a box or mask, a first pass over the whole image gives a coarse pose; a second pass
    # on a crop around the object's projected box then sees it at the database's scale.
    refine_with_crop: bool = option(True, "without a box: a second pass on a crop around the first pose", ros="refine_with_crop")
    search: str = option("two-pass", "without a box or mask: two-pass (whole image, then a crop) or localize (matched-cell clusters verified by pose)",
                         cli="--search", choices=("two-pass", "localize"))
    min_matches: int = 12
    matching: str = option("auto", "mutual nearest neighbours: fused (one GPU kernel, no similarity matrix), blocked (matrix blocks) or auto (fused on CUDA)", cli="--matching", ros="matching", choices=MATCHING_METHODS)
    # Matching is tensor-core bound (queries x database entries x channels): projecting both sides
    # onto the database's leading principal directions cuts that work by channels / match_dims.
    match_dims: int = option(0, "project query and database descriptors onto the database's first N principal directions before mutual nearest neighbours (fewer multiply-adds; 0: full descriptors)",
                             cli="--match-dims", ros="match_dims")
    max_elements: int = option(50_000_000, "largest query x database similarity block held at once (memory bound; fewer, larger blocks are faster on a GPU)", cli="--max-elements")
    # Template retrieval (FoundPose-style): > 0 matches only against the database views that most
    # query descriptors pick as their nearest neighbour's view (this many views).
    retrieval_views: int = option(0, "match a query crop around the object (a box, a mask, the second pass) only against the N database views with most nearest-neighbour votes (0: all; 12 with render_refine: the CAD recipe, docs/benchmarks.md)", cli="--retrieval-views", ros="retrieval_views")
    # Grey query crops: for databases rendered from meshes without colours (the renders are grey).
    grayscale_query: bool = option(False, "grey query crops (for databases of meshes without colours)", cli="--grayscale-query")
    # RGB-D: with a depth image registered to the colour image, the pose's distance is corrected
    # from its inliers' measured depths (mveq_core.depth; measured in docs/benchmarks.md).
    depth_refine: bool = option(True, "with a depth image: scale the pose's distance so its inliers' model depths match the measured ones", cli="--depth-refine", ros="depth_refine")
    # CAD templates are renders on black; a query with an object mask (a segmenter's, or the node's
    # mask topic) looks like them once its background is black too (FoundPose's protocol). Measured
    # on real frames in docs/benchmarks.md.
    mask_background: str = option("auto", "with a mask: black out the query's background before features: on, off, or auto (on when every queried database is CAD-rendered)",
                                  cli="--mask-background", ros="mask_background", choices=("auto", "on", "off"))
    # CAD databases whose mesh the estimator has (set_mesh): match again against renders at the pose
    # (mveq_core.render_refine; measured on real frames in docs/benchmarks.md).
    render_refine: int = option(0, "with the object's mesh (a CAD database's own, or given): refine each pose N times against a render at the pose", cli="--render-refine", ros="render_refine")
    # With render_refine: more coarse poses, one per single template (hypothesis_source), each refined; the refined
    # pose that explains the query best is kept (mveq_core.hypotheses). 10 hypotheses chosen by the
    # silhouette: real BOP frames ADD(-S) 42 -> 61 %, LINEMOD cat 37 -> 53 % (docs/benchmarks.md).
    hypotheses: int = option(10, "with render_refine and a query around the object: refine up to N coarse poses (all templates, then single templates: hypothesis_source) and keep the best", cli="--hypotheses", ros="hypotheses")
    # Where the other hypotheses come from: the templates most voted for by the query's nearest
    # neighbours (votes), or the templates, turned in-plane, whose features laid over the query's
    # box agree best with the query's (aligned: only the template's own object pixels are compared,
    # so background inside a box does not count). auto: aligned for a box alone (31 real BOP frames,
    # box only: ADD(-S) 19 -> 35 %, 5 cm 5° 6 -> 19 %), votes with a mask (61 % there);
    # docs/benchmarks.md, session 16.
    hypothesis_source: str = option("auto", "with hypotheses > 1: coarse poses from the most-voted templates (votes), from templates laid over the query box (aligned), or auto (aligned for a box alone, votes with a mask)",
                                    cli="--hypothesis-source", ros="hypothesis_source", choices=HYPOTHESIS_SOURCES)
    # How a render-refinement round moves the pose: matches (mutual nearest neighbours with the
    # render, then PnP) or featuremetric (the render's object features pulled to where the query's
    # agree best; background never counts), or matches and then, on the chosen hypothesis only,
    # turn_rounds featuremetric rounds of turn and shift at matching's distance (matches-featuremetric,
    # the default: 31 real BOP frames, box only, 5 cm 5° 19 -> 29 %, with masks 55 -> 61 %, ADD(-S)
    # unchanged, +1.2 s/frame on an H200; docs/benchmarks.md, session 18).
    refine_method: str = option("matches-featuremetric", "how each render-refinement round moves the pose: matches (the query matched against the render, PnP), featuremetric (the render's object features aligned with the query's by gradient ascent of their cosine), or matches-featuremetric (matching, then turn_rounds featuremetric rounds of turn and shift on the chosen pose, the distance kept)",
                                cli="--refine-method", ros="refine_method", choices=("matches", "featuremetric", "matches-featuremetric"))
    # Rounds of that turn (each: a render at the pose, then 60 Adam steps). 31 real BOP frames,
    # replayed on a CPU: 2 rounds as accurate as 3 (box only ADD(-S) 11 / 5 cm 5° 10 vs 9 of 31;
    # GT masks 19 / 18 of 30 either way), about 0.4 s less per frame on an H200 (HANDAL box only
    # 3.8 -> 3.4 s, the same poses); docs/benchmarks.md, session 19 (session 18's figures: 3).
    turn_rounds: int = option(2, "with refine_method matches-featuremetric: featuremetric rounds of turn and shift on the chosen pose",
                              cli="--turn-rounds", ros="turn_rounds")
    hypothesis_score: str = option("silhouette", "how the best refined hypothesis is chosen: inliers against its render, silhouette (IoU with the query mask; without one, of the silhouette's box with the query box), or inliers-silhouette (their product)",
                                   cli="--hypothesis-score", ros="hypothesis_score", choices=HYPOTHESIS_SCORES)
    pnp: PnPConfig = PnPConfig()
    localize: LocalizeConfig = LocalizeConfig()

    def __post_init__(self):
        require_choice(self, "search")
        require(self, "input_size", self.input_size is None or self.input_size > 0)
        require(self, "grid_stride", self.grid_stride > 0)
        require(self, "crop_quantum", self.crop_quantum >= 0, "must be >= 0")
        require(self, "match_dims", self.match_dims >= 0, "must be >= 0")
        require_choice(self, "matching")
        require_choice(self, "mask_background")
        require_choice(self, "box_mask")
        require(self, "render_refine", self.render_refine >= 0, "must be >= 0")
        require(self, "hypotheses", self.hypotheses >= 1, "must be >= 1")
        require_choice(self, "hypothesis_score")
        require_choice(self, "hypothesis_source")
        require_choice(self, "refine_method")
        require(self, "turn_rounds", self.turn_rounds >= 0, "must be >= 0")
        require(self, "box_distance", 0.0 <= self.box_distance <= 1.0, "must be in [0, 1]")


class PoseEstimator:
    """Estimates the poses of database objects in RGB images.

    Args:
        features: the extractor. A database built with other features (e.g. a CAD database built
            without the adapter) is matched with its own, recreated from its header on the same
            device (the query crop is featurised once per feature set); one whose features cannot
            be recreated is refused.
        databases: :class:`ObjectDatabase` objects (or a name -> database mapping).
    """

    def __init__(self, features: DenseFeatures, databases: Sequence[ObjectDatabase] | Mapping[str, ObjectDatabase] = (), config: PoseConfig = PoseConfig()):
        self.features = features.eval()
        self.config = config
        self.databases: dict[str, ObjectDatabase] = {}
        self.meshes: dict = {}  # name -> (mesh in metres, flat shading) or None, for render_refine
        self._hull_points: dict[str, np.ndarray] = {}  # name -> its mesh's convex hull vertices: box_distance
        self.feature_sets: dict[str, DenseFeatures] = {features.identity(): self.features}  # identity -> extractor
        self._projected: dict[str, tuple] = {}  # name -> (descriptors, basis, projected descriptors): match_dims
        self.template_layouts: dict[str, tuple] = {}  # name -> (descriptors, TemplateLayout): hypothesis_source aligned
        self._graphs_ready: set[tuple[str, int]] = set()  # (feature identity, input size) whose crop sizes' CUDA graphs are captured
        items = databases.values() if isinstance(databases, Mapping) else databases
        for db in items:
            self.add_database(db)

    @classmethod
    def from_files(cls, features: DenseFeatures, paths: Iterable[str | os.PathLike], config: PoseConfig = PoseConfig()) -> "PoseEstimator":
        estimator = cls(features, (), config)
        for path in paths:
            estimator.add_database(load_database(path), path)
        return estimator

    def add_database(self, database: ObjectDatabase, path: str | os.PathLike | None = None) -> None:
        """Add (or replace) an object; built with other features, it gets its own extractor
        (refused when those cannot be recreated)."""
        identity = database.meta.feature_identity
        if identity not in self.feature_sets:
            other = None
            try:
                other = DenseFeatures.create(replace(database.feature_config(str(self.features.device)), precision=self.features.precision,
                                                     cuda_graphs=self.features.cuda_graphs))
            except Exception as exc:  # weights or adapter not here: the refusal below says what to do
                log.debug("features of %s not recreated: %s", database.name, exc)
            if other is None or other.identity() != identity:
                database.check_compatible(self.features, path)  # refused, naming both feature sets
            log.info("%s: matched with its own features (%s); the query is featurised once more for it", database.name, other.describe())
            self.feature_sets[identity] = other.eval()
        dtype = torch.float16 if self.features.device.type == "cuda" else torch.float32
        self.databases[database.name] = database.to(self.features.device, dtype)
        self._prepare_graphs(identity)
        pnp = self.config.pnp
        if pnp.compile and pnp.backend in ("gpu", "auto"):  # compile and capture the PnP's size buckets now, not on the first frames (CUDA only)
            from .pnp_gpu import prepare

            queries_max = ((self.config.input_size or 2048) // self.config.grid_stride) ** 2
            prepare(self.features.device, min(len(database), queries_max), pnp.iterations, pnp.threshold_px, compile=True)

    def _prepare_graphs(self, identity: str) -> None:
        """With cuda_graphs on CUDA: capture the feature graphs of every crop size at the current
        input size now (when a database loads, or on the first frame after ``config.input_size``
        changed), not on the frames that bring each size; once per feature set and input size."""
        size = self.config.input_size
        if not size or (identity, size) in self._graphs_ready:
            return
        self._graphs_ready.add((identity, size))
        captured = self.feature_sets[identity].prepare_graphs(crop_sizes(size))
        if captured:
            log.info("captured %d feature graphs for crops of every size at %d px", captured, size)

    def features_of(self, name: str) -> DenseFeatures:
        """The extractor that object ``name``'s database was built with."""
        return self.feature_sets[self.databases[name].meta.feature_identity]

    def feature_groups(self, names: Sequence[str]) -> dict[str, list[str]]:
        """``names`` grouped by the feature set of their databases (identity -> names, in order):
        an image is featurised once per group."""
        groups: dict[str, list[str]] = {}
        for n in names:
            groups.setdefault(self.databases[n].meta.feature_identity, []).append(n)
        return groups

    def _sync(self) -> None:
        if self.features.device.type == "cuda":
            torch.cuda.synchronize(self.features.device)

    @torch.no_grad()
    def estimate(
        self,
        image: np.ndarray,
        K: np.ndarray,
        mask: np.ndarray | None = None,
        box: Sequence[float] | None = None,
        objects: Sequence[str] | None = None,
        dist_coeffs: np.ndarray | None = None,
        depth: np.ndarray | None = None,
        box_is_tight: bool = True,
    ) -> dict[str, PoseResult]:
        """Poses of ``objects`` (default: all databases) in one image.

        Args:
            image: (H, W, 3) uint8 RGB (grey (H, W) is accepted), any size.
            K: (3, 3) intrinsics of ``image``; ``dist_coeffs``: OpenCV distortion, or None.
            mask: optional (H, W) bool object mask: queries only inside it, crop to its box, and
                (``mask_background``) the background blacked out like a CAD render's.
            box: optional [x0, y0, x1, y1] crop around the object (e.g. a detection).
            depth: optional (H, W) depth in metres registered to ``image`` (NaN or 0: no depth):
                with ``depth_refine`` each pose's distance is corrected from it.
            box_is_tight: ``box`` bounds the object's visible pixels (a detection's box), so with
                ``box_distance`` the translation is drawn toward its fit; False for a region to
                search (tracking's crop around the last pose, a localisation cluster).
        """
        if depth is not None:
            depth = check_depth(depth, np.shape(image)[:2])
        cfg, cut = self.config, None
        pooled = cfg.box_mask == "box-and-grabcut" and cfg.render_refine > 0 and cfg.hypotheses > 1  # else the box alone
        if mask is None and box is not None and (cfg.box_mask == "grabcut" or pooled):
            from .crop import grabcut_mask

            cut = grabcut_mask(check_image(image), box)
            cut = cut if cut.any() else None
        if cut is not None and pooled:
            results = self._estimate(image, K, None, box, objects, dist_coeffs, cut=cut)
        else:
            results = self._estimate(image, K, mask if cut is None else cut, box, objects, dist_coeffs)
        if mask is None and box is not None and box_is_tight and cfg.box_distance > 0:
            results = {name: self.draw_to_box(r, K, box, np.shape(image)[:2], dist_coeffs) for name, r in results.items()}
        return {name: self.correct_with_depth(r, depth) for name, r in results.items()} if depth is not None else results

    def draw_to_box(self, result: PoseResult, K: np.ndarray, box, shape: tuple[int, int], dist_coeffs=None) -> PoseResult:
        """``result`` with its translation drawn ``box_distance`` of the way toward the one whose
        mesh's projected box fits ``box`` (:func:`mveq_core.box_distance.draw_to_box`, which says
        when it is kept; ``box_fit`` records it); unchanged without a pose or the object's mesh."""
        name = result.object_name
        if not result.success or self.meshes.get(name) is None:
            return result
        if name not in self._hull_points:
            self._hull_points[name] = hull_points(self.meshes[name][0])
        T, fit = draw_to_box(self._hull_points[name], np.asarray(K, np.float64), result.T_cam_obj, box, shape, self.config.box_distance, dist_coeffs=dist_coeffs)
        return replace(result, T_cam_obj=T, box_fit=fit)

    def correct_with_depth(self, result: PoseResult, depth: np.ndarray | None) -> PoseResult:
        """``result`` with its distance corrected by ``depth`` ((H, W) metres, NaN invalid) from its
        inliers (:func:`mveq_core.depth.correct_distance`); unchanged without a pose, without depth,
        with ``depth_refine`` off or when too few inliers have a valid depth."""
        if depth is None or not result.success or not self.config.depth_refine:
            return result
        inl = np.asarray(result.inliers, bool)
        correction = correct_distance(result.T_cam_obj, result.matches_xyz[inl], result.matches_xy[inl], depth)
        if correction is None:
            return result
        return replace(result, T_cam_obj=apply_correction(result.T_cam_obj, correction), depth_correction=correction)

    def set_mesh(self, name: str, mesh, flat_shading: bool = False) -> None:
        """The object's mesh (metres, the database's object frame), for ``render_refine``; rendered
        unlit with ``flat_shading`` (as its database was). Without it a CAD database's own mesh is
        used when its file is found (:func:`~mveq_core.render_refine.database_mesh`)."""
        self.meshes[name] = (mesh, flat_shading)
        self._hull_points.pop(name, None)

    def _estimate(self, image, K, mask, box, objects, dist_coeffs, cut=None) -> dict[str, PoseResult]:
        """Coarse poses, then (``render_refine``) their hypotheses refined against renders; with
        ``cut`` (``box_mask`` ``box-and-grabcut``, no ``mask``) the box's hypotheses and the cut's."""
        results = self._estimate_coarse(image, K, mask, box, objects, dist_coeffs)
        if self.config.render_refine <= 0:
            return results
        from .render_refine import database_mesh

        image = check_image(image)
        for name in results:
            if name not in self.meshes:  # a CAD database's own mesh (its header's path), looked up once
                self.meshes[name] = database_mesh(self.databases[name])
        meshed = [name for name in results if self.meshes[name] is not None]
        with_cut = self._estimate_coarse(image, K, cut, box, meshed, dist_coeffs) if cut is not None and meshed else None
        for name, r in results.items():
            if self.meshes[name] is not None:
                mesh, flat = self.meshes[name]
                if with_cut is not None:
                    results[name] = refine_box_and_cut(self, name, r, with_cut[name], image, K, mesh, flat, cut, box, dist_coeffs)
                else:
                    results[name] = refine_hypotheses(self, name, r, image, K, mesh, flat, mask, box, dist_coeffs)
        return results

    def _estimate_coarse(self, image, K, mask, box, objects, dist_coeffs) -> dict[str, PoseResult]:
        t_start = time.perf_counter()
        if box is None and mask is None and self.config.search == "localize":
            return {name: det.pose if det.present else PoseResult.failure(name, f"not found (best verified score {det.score:.2f})", det.timings_ms) for name, det in self.localize(image, K, objects, dist_coeffs).items()}
        results = self._estimate_once(image, K, mask, box, objects, dist_coeffs)
        if not self.config.refine_with_crop or box is not None or mask is not None:
            return results
        image = check_image(image)
        refined = {}
        for name, first in results.items():
            crop = self.projected_box(name, first, K, image.shape[:2], dist_coeffs)
            if crop is None:
                refined[name] = first
                continue
            second = self._estimate_once(image, K, None, crop, [name], dist_coeffs)[name]
            best = second if second.success and second.num_inliers >= first.num_inliers else first
            best.timings_ms = {**best.timings_ms, "first_pass": first.timings_ms.get("total", 0.0), "total": (time.perf_counter() - t_start) * 1e3}
            refined[name] = best
        return refined

    def localize(self, image: np.ndarray, K: np.ndarray, objects: Sequence[str] | None = None, dist_coeffs: np.ndarray | None = None, config=None) -> dict:
        """Find ``objects`` in the whole image without a box: {name: :class:`~mveq_core.localize.Detection`}."""
        from .localize import Localizer

        return Localizer(self, config or self.config.localize).localize(image, K, self._object_names(objects), dist_coeffs)

    def masks_background(self, names: Sequence[str]) -> bool:
        """Whether a query mask blacks out the background for ``names`` (``mask_background``; auto:
        when all their databases are CAD renders, whose background is black)."""
        if self.config.mask_background != "auto":
            return self.config.mask_background == "on"
        return all(self.databases[n].meta.source == "cad" for n in names)

    def _object_names(self, objects: Sequence[str] | None) -> list[str]:
        """``objects`` (default: every database), refused when one has no database."""
        names = list(objects) if objects is not None else list(self.databases)
        unknown = [n for n in names if n not in self.databases]
        if unknown:
            raise ValueError(f"unknown objects {unknown}; databases: {sorted(self.databases)}")
        return names

    def projected_box(self, name: str, result: PoseResult, K: np.ndarray, shape: tuple[int, int], dist_coeffs: np.ndarray | None = None) -> list[float] | None:
        """The image box of the object's 3D bounding box at a pose (through the lens distortion when
        given), when it is in front and visible."""
        from .geometry import projected_box

        if not result.success:
            return None
        return projected_box(self.databases[name].meta.bbox, result.T_cam_obj, K, shape, min_side=8.0, dist_coeffs=dist_coeffs)

    def _matching_descriptors(self, name: str, db: ObjectDatabase, query: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(database descriptors, query descriptors) as matched: the full descriptors, or with
        ``match_dims`` both projected onto the database's leading principal directions (the
        projected database is computed once per database)."""
        dims = self.config.match_dims
        if dims <= 0 or dims >= db.descriptors.shape[1]:
            return db.descriptors, query
        cached = self._projected.get(name)
        if cached is None or cached[0] is not db.descriptors or cached[1].shape[1] != dims:
            basis = principal_directions(db.descriptors, dims)
            cached = (db.descriptors, basis, (db.descriptors.float() @ basis).to(db.descriptors.dtype).contiguous())
            self._projected[name] = cached
        basis = cached[1]
        return cached[2], query.to(device=basis.device, dtype=torch.float32) @ basis

    def _retrieved_entries(self, query: torch.Tensor, db: ObjectDatabase) -> torch.Tensor | None:
        """Indices of the database entries of the ``retrieval_views`` views that collect the most
        nearest-neighbour votes from the query descriptors (None when the database has fewer views)."""
        view_ids = torch.as_tensor(db.view_ids, device=db.descriptors.device, dtype=torch.long)
        if len(torch.unique(view_ids)) <= self.config.retrieval_views:
            return None
        chosen = ranked_views(query, db, self.config.max_elements, self.config.retrieval_views)[0]
        return torch.nonzero(torch.isin(view_ids, chosen), as_tuple=False)[:, 0]

    def _estimate_once(self, image, K, mask, box, objects, dist_coeffs) -> dict[str, PoseResult]:
        names = self._object_names(objects)
        results = {}
        for group in self.feature_groups(names).values():
            query = self.query_features(image, K, mask, box, group)
            results.update(query if isinstance(query, dict) else self.match_and_solve(query, group, K, dist_coeffs))
        return {n: results[n] for n in names}

    def query_features(self, image, K, mask, box, names: Sequence[str]) -> QueryFeatures | dict[str, PoseResult]:
        """The query crop's descriptors on the stride grid, by the features of ``names``' databases
        (one feature set), or {name: failure} for an empty region."""
        t_start = time.perf_counter()
        image = check_image(image)
        check_intrinsics(K)
        h, w = image.shape[:2]
        if mask is not None:
            mask = np.asarray(mask).astype(bool)
            if mask.shape != (h, w):
                raise ValueError(f"mask: expected shape {(h, w)} like the image, got {mask.shape}")
        cfg = self.config
        if box is None and mask is not None:
            box = mask_box(mask)
            if box is None:
                return {n: PoseResult.failure(n, "empty region (mask without pixels)", {}) for n in names}
        crop = Crop.around((h, w), box, cfg.crop_margin, cfg.input_size, cfg.crop_quantum)
        if crop.empty:
            return {n: PoseResult.failure(n, "empty region (box outside the image)", {}) for n in names}
        if mask is not None and self.masks_background(names):
            image = np.where(mask[..., None], image, np.uint8(0))
        resized = crop.apply(image)
        if cfg.grayscale_query:
            resized = np.repeat((resized.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)).round().astype(np.uint8)[..., None], 3, axis=2)
        xy_r, xy_o = crop.query_grid(cfg.grid_stride, box if mask is None and box is not None and cfg.box_queries else None)
        if mask is not None:
            keep = mask[np.clip(np.round(xy_o[:, 1]).astype(int), 0, h - 1), np.clip(np.round(xy_o[:, 0]).astype(int), 0, w - 1)]
            xy_r, xy_o = xy_r[keep], xy_o[keep]
        t_pre = time.perf_counter()
        if names:
            self._prepare_graphs(self.databases[names[0]].meta.feature_identity)
        device, features = self.features.device, self.features_of(names[0]) if names else self.features
        grid = features.feature_grid(image_to_tensor(resized, device))
        query = grid.sample(torch.from_numpy(xy_r).float().to(device))
        self._sync()
        t_feat = time.perf_counter()
        return QueryFeatures(query, xy_o, {"preprocess": (t_pre - t_start) * 1e3, "features": (t_feat - t_pre) * 1e3}, t_start, box is not None, grid, crop, box)

    def match_and_solve(self, query: QueryFeatures, names: Sequence[str], K, dist_coeffs) -> dict[str, PoseResult]:
        """Mutual-NN matches of ``query`` against each object's database, then robust PnP."""
        K = check_intrinsics(K)
        cfg = self.config
        xy_o, t_start = query.xy, query.t_start
        results = {}
        for name in names:
            db = self.databases[name]
            t0 = time.perf_counter()
            # retrieval votes need a query around the object: the whole image's background outvotes it
            candidates = self._retrieved_entries(query.descriptors, db) if cfg.retrieval_views > 0 and query.around_object else None
            entries, q_desc = self._matching_descriptors(name, db, query.descriptors)
            if candidates is None:
                matches = mutual_nearest_neighbours(q_desc, entries, cfg.max_elements, cfg.matching)
                d_idx = matches.database_index.cpu().numpy()
            else:
                matches = mutual_nearest_neighbours(q_desc, entries[candidates], cfg.max_elements, cfg.matching)
                d_idx = candidates.cpu().numpy()[matches.database_index.cpu().numpy()]
            q_idx = matches.query_index.cpu().numpy()
            self._sync()
            t1 = time.perf_counter()
            xy_m, xyz_m = xy_o[q_idx], db.xyz[d_idx].astype(np.float64)
            timings = {**query.timings, "matching": (t1 - t0) * 1e3}
            if len(q_idx) < cfg.min_matches:
                results[name] = PoseResult.failure(name, f"{len(q_idx)} matches < min_matches {cfg.min_matches}", timings, xy_m, xyz_m)
                continue
            pnp = solve_pnp(xyz_m, xy_m, K, cfg.pnp, dist_coeffs, device=self.features.device)
            timings["pnp"] = (time.perf_counter() - t1) * 1e3
            timings["total"] = (time.perf_counter() - t_start) * 1e3
            results[name] = PoseResult(
                object_name=name,
                success=pnp.success,
                T_cam_obj=pnp.T_cam_obj,
                num_matches=len(q_idx),
                num_inliers=pnp.num_inliers,
                inlier_ratio=pnp.inlier_ratio,
                reprojection_error=pnp.reprojection_error,
                score=pose_score(pnp.num_inliers, pnp.inlier_ratio) if pnp.success else 0.0,
                timings_ms=timings,
                reason=pnp.reason,
                matches_xy=xy_m,
                matches_xyz=xyz_m,
                inliers=pnp.inliers,
            )
        return results
