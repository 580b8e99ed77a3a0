"""Procedural textured objects, so finetuning and tests need no external meshes.

Each object is a random composition of 1-3 primitives with a random texture atlas (noise, stripes,
checkers, blobs and glyph-like strokes), mapped per face onto six tiles by the face's dominant axis.
The same seed always gives the same object.
"""

from __future__ import annotations

import numpy as np


def random_texture(rng: np.random.Generator, size: int = 256) -> np.ndarray:
    """A (size, size, 3) uint8 texture with enough structure to tell places apart."""
    import cv2

    base = rng.integers(0, 256, size=(max(2, size // 64), max(2, size // 64), 3)).astype(np.uint8)
    tex = cv2.resize(base, (size, size), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    kind = rng.integers(4)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    if kind == 0:  # stripes
        freq = rng.uniform(4, 16) * 2 * np.pi / size
        angle = rng.uniform(0, np.pi)
        wave = np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * freq)
        tex *= (0.6 + 0.4 * wave)[..., None]
    elif kind == 1:  # checkers
        cell = int(rng.integers(size // 16, size // 4))
        tex *= (0.55 + 0.45 * (((xx // cell) + (yy // cell)) % 2))[..., None]
    elif kind == 2:  # fine noise
        noise = cv2.GaussianBlur(rng.normal(size=(size, size, 3)).astype(np.float32), (0, 0), rng.uniform(1.0, 3.0))
        tex += 90 * noise / (noise.std() + 1e-6)
    tex = np.clip(tex, 0, 255).astype(np.uint8)
    for _ in range(int(rng.integers(4, 12))):  # blobs and strokes
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        centre = tuple(int(c) for c in rng.integers(0, size, 2))
        if rng.random() < 0.5:
            cv2.circle(tex, centre, int(rng.integers(size // 40, size // 8)), color, -1, cv2.LINE_AA)
        else:
            pts = rng.integers(0, size, size=(int(rng.integers(2, 5)), 2)).astype(np.int32)
            cv2.polylines(tex, [pts], False, color, int(rng.integers(1, 6)), cv2.LINE_AA)
    return tex


def _primitive(rng: np.random.Generator):
    import trimesh

    kind = rng.integers(6)
    if kind == 0:
        mesh = trimesh.creation.box(extents=rng.uniform(0.3, 1.0, 3))
        mesh = mesh.subdivide().subdivide()
    elif kind == 1:
        mesh = trimesh.creation.cylinder(radius=rng.uniform(0.15, 0.5), height=rng.uniform(0.3, 1.0), sections=48)
    elif kind == 2:
        mesh = trimesh.creation.capsule(radius=rng.uniform(0.15, 0.4), height=rng.uniform(0.2, 0.8), count=[24, 24])
    elif kind == 3:
        mesh = trimesh.creation.icosphere(subdivisions=3, radius=0.5)
        mesh.apply_scale(rng.uniform(0.4, 1.0, 3))
    elif kind == 4:
        mesh = trimesh.creation.cone(radius=rng.uniform(0.2, 0.5), height=rng.uniform(0.4, 1.0), sections=48)
    else:
        mesh = trimesh.creation.torus(major_radius=rng.uniform(0.3, 0.5), minor_radius=rng.uniform(0.08, 0.2), major_sections=48, minor_sections=24)
    from .geometry import random_rotation

    T = np.eye(4)
    T[:3, :3] = random_rotation(rng)
    T[:3, 3] = rng.uniform(-0.25, 0.25, 3)
    mesh.apply_transform(T)
    return mesh


def box_project_uv(mesh):
    """Give each face its own vertices and UVs on one of six atlas tiles (3 x 2) chosen by the
    face's dominant normal axis and sign; UVs within a tile come from the other two coordinates."""
    mesh = mesh.copy()
    mesh.unmerge_vertices()
    lo, hi = mesh.bounds
    extent = np.maximum(hi - lo, 1e-9)
    normals = mesh.face_normals
    axis = np.abs(normals).argmax(1)
    sign = (normals[np.arange(len(normals)), axis] > 0).astype(int)
    tile = axis * 2 + sign  # 0..5
    other_axes = np.array([[1, 2], [0, 2], [0, 1]])[axis]  # (F, 2)
    corners = mesh.vertices[mesh.faces]  # (F, 3, 3)
    local = np.take_along_axis(corners, other_axes[:, None, :].repeat(3, 1), axis=2)  # (F, 3, 2)
    local = 0.02 + 0.96 * (local - lo[other_axes][:, None]) / extent[other_axes][:, None]
    uv = np.zeros((len(mesh.vertices), 2))
    uv[mesh.faces, 0] = ((tile % 3)[:, None] + local[..., 0]) / 3.0
    uv[mesh.faces, 1] = ((tile // 3)[:, None] + local[..., 1]) / 2.0
    return mesh, uv


def photo_texture(rng: np.random.Generator, photos: list[np.ndarray], size: int = 256) -> np.ndarray:
    """A (size, size, 3) texture cut from a random region of one of ``photos`` (natural statistics)."""
    import cv2

    photo = photos[int(rng.integers(len(photos)))]
    side = int(rng.integers(min(photo.shape[:2]) // 4, min(photo.shape[:2]) + 1))
    y = int(rng.integers(0, photo.shape[0] - side + 1))
    x = int(rng.integers(0, photo.shape[1] - side + 1))
    tile = cv2.resize(np.ascontiguousarray(photo[y : y + side, x : x + side]), (size, size), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(np.rot90(tile, int(rng.integers(4))))


def procedural_object(seed: int, size_m: float = 0.2, texture_size: int = 256, photos: list[np.ndarray] | None = None):
    """A textured ``trimesh.Trimesh`` whose largest bounding-box side is ``size_m`` metres.

    With ``photos`` (RGB images), the six texture tiles are crops of them instead of synthetic
    patterns, which gives natural image statistics.
    """
    import trimesh
    from PIL import Image

    rng = np.random.default_rng(seed)
    parts = [_primitive(rng) for _ in range(int(rng.integers(1, 4)))]
    mesh = trimesh.util.concatenate(parts)
    mesh.apply_translation(-mesh.bounds.mean(0))
    mesh.apply_scale(size_m / float((mesh.bounds[1] - mesh.bounds[0]).max()))
    mesh, uv = box_project_uv(mesh)
    if photos:
        tiles = [photo_texture(rng, photos, texture_size) for _ in range(6)]
    else:
        tiles = [random_texture(rng, texture_size) for _ in range(6)]
    atlas = np.concatenate([np.concatenate(tiles[0:3], axis=1), np.concatenate(tiles[3:6], axis=1)], axis=0)
    # UV v grows upwards in image space conventions of glTF/OBJ: flip rows so tile t sits at row t // 3.
    atlas = atlas[::-1].copy()
    material = trimesh.visual.material.SimpleMaterial(image=Image.fromarray(atlas), diffuse=[255, 255, 255, 255])
    mesh.visual = trimesh.visual.TextureVisuals(uv=uv, image=Image.fromarray(atlas), material=material)
    return mesh


def sample_object():
    """The bundled sample object "mveq_toy_drill": a toy drill (body, barrel, chuck, handle, battery)
    about 0.18 m long with a generated texture of labels, stripes and patterns. It has no
    rotational symmetry, so every pose is recoverable. Made by this project (MIT licence)."""
    import cv2
    import trimesh
    from PIL import Image

    rng = np.random.default_rng(20251124)
    parts = []

    def box(extents, centre):
        m = trimesh.creation.box(extents=extents)
        m = m.subdivide().subdivide()
        m.apply_translation(centre)
        return m

    def cylinder(radius, length, centre):
        m = trimesh.creation.cylinder(radius=radius, height=length, sections=48)
        m.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, [0, 1, 0]))
        m.apply_translation(centre)
        return m

    parts.append(box((0.11, 0.05, 0.06), (0.0, 0.0, 0.0)))  # body
    parts.append(cylinder(0.018, 0.05, (0.078, 0.0, 0.005)))  # barrel
    parts.append(cylinder(0.010, 0.03, (0.115, 0.0, 0.005)))  # chuck
    handle = box((0.035, 0.04, 0.09), (-0.01, 0.0, -0.07))
    handle.apply_transform(trimesh.transformations.rotation_matrix(np.radians(-12), [0, 1, 0], point=(-0.01, 0, -0.03)))
    parts.append(handle)
    parts.append(box((0.06, 0.055, 0.03), (-0.02, 0.0, -0.125)))  # battery
    mesh = trimesh.util.concatenate(parts)
    mesh.apply_translation(-mesh.bounds.mean(0))
    mesh, uv = box_project_uv(mesh)

    size = 512
    tiles = []
    base_colours = [(230, 120, 20), (40, 40, 45), (20, 110, 200), (235, 200, 40), (200, 40, 60), (60, 170, 90)]
    for k in range(6):
        tile = random_texture(rng, size).astype(np.float32)
        colour = np.array(base_colours[k], np.float32)
        tile = np.clip(0.55 * colour + 0.45 * tile, 0, 255).astype(np.uint8)
        for j in range(int(rng.integers(3, 7))):  # labels make each side unique and readable
            text = ["mveq", "18V", "PRO", "DRILL", "ICLR", "torque", "2025"][int(rng.integers(7))]
            org = (int(rng.integers(10, size - 200)), int(rng.integers(60, size - 10)))
            cv2.putText(tile, text, org, cv2.FONT_HERSHEY_DUPLEX, float(rng.uniform(1.2, 3.0)), (255, 255, 255) if j % 2 else (10, 10, 10), int(rng.integers(2, 6)), cv2.LINE_AA)
        tiles.append(tile)
    atlas = np.concatenate([np.concatenate(tiles[0:3], axis=1), np.concatenate(tiles[3:6], axis=1)], axis=0)[::-1].copy()
    material = trimesh.visual.material.SimpleMaterial(image=Image.fromarray(atlas), diffuse=[255, 255, 255, 255])
    mesh.visual = trimesh.visual.TextureVisuals(uv=uv, image=Image.fromarray(atlas), material=material)
    return mesh
