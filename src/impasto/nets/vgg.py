"""The VGG loss network (Simonyan & Zisserman 2015), conv part only, with the papers' layer names.

Layers are named as in Gatys et al. and Johnson et al.: conv1_1, relu1_1, conv1_2, ..., pool1, ...
The network is cut after the deepest layer a run asks for, so shallow runs cost less.
"""

from __future__ import annotations

from typing import Callable, Mapping

import torch
from torch import nn

from ..core.errors import ImpastoError
from ..core.layer_names import check_layers, layer_plan

# How the weights expect their input. caffe: BGR, 0..255, ImageNet mean subtracted (the original
# VGG release). torch: RGB, 0..1, normalised by ImageNet mean and std (torchvision's weights).
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
TORCH_MEAN = (0.485, 0.456, 0.406)
TORCH_STD = (0.229, 0.224, 0.225)


class _MaxPoolByUnpool(torch.autograd.Function):
    """2x2 max pooling whose backward is max_unpool2d of the gradient by the pooling's indices: the
    same scatter, bit for bit, as max_pool2d's own backward, which is slower on the CPU in
    channels_last (figures in bench/RESULTS.md)."""

    @staticmethod
    def forward(ctx, x):
        y, indices = torch.nn.functional.max_pool2d(x, 2, 2, return_indices=True)
        ctx.save_for_backward(indices)
        ctx.size = x.shape[-2:]
        return y

    @staticmethod
    def backward(ctx, grad):
        indices, = ctx.saved_tensors
        return torch.nn.functional.max_unpool2d(grad, indices, 2, 2, output_size=ctx.size)


class MaxPool(nn.MaxPool2d):
    """nn.MaxPool2d(2, 2), with a faster backward on the CPU (_MaxPoolByUnpool)."""

    def __init__(self):
        super().__init__(2, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type == "cpu" and x.requires_grad and torch.is_grad_enabled():
            return _MaxPoolByUnpool.apply(x)
        return super().forward(x)


class VGG(nn.Module):
    """VGG conv layers up to `last`, returning the feature maps of the layers asked for."""

    def __init__(self, network: str = "vgg16", last: str = "relu5_1", pooling: str = "max",
                 convention: str = "caffe"):
        super().__init__()
        check_layers(network, [last])
        if pooling not in ("max", "avg"):
            raise ImpastoError(f"pooling must be 'max' or 'avg', not {pooling!r}")
        if convention not in ("caffe", "torch"):
            raise ImpastoError(f"unknown input convention {convention!r}")
        self.network, self.convention = network, convention
        for name, in_channels, out_channels in layer_plan(network):
            if name.startswith("conv"):
                self.add_module(name, nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1))
            elif name.startswith("relu"):
                self.add_module(name, nn.ReLU())
            else:
                # Gatys et al.: average pooling gives slightly more appealing synthesis.
                self.add_module(name, nn.AvgPool2d(2, 2) if pooling == "avg" else MaxPool())
            if name == last:
                break
        self.requires_grad_(False)
        self.eval()

    def preprocess(self, image: torch.Tensor) -> torch.Tensor:
        """RGB in [0, 1] -> the input convention the weights were trained with."""
        if self.convention == "caffe":
            mean = image.new_tensor(CAFFE_MEAN_BGR).view(1, 3, 1, 1)
            return image.flip(1) * 255.0 - mean
        mean = image.new_tensor(TORCH_MEAN).view(1, 3, 1, 1)
        std = image.new_tensor(TORCH_STD).view(1, 3, 1, 1)
        return (image - mean) / std

    def forward(self, image: torch.Tensor, layers: list[str] | tuple[str, ...],
                taps: Mapping[str, Callable[[torch.Tensor], torch.Tensor]] | None = None) -> dict[str, torch.Tensor]:
        """Feature maps {layer: (B, C, H, W)} for an RGB batch in [0, 1]; stops at the deepest layer.
        `taps` {layer: function} replace a layer's output on the chain by the function of it (a loss
        that passes its features on: losses.gram_tap)."""
        taps = taps or {}
        wanted = set(layers) | set(taps)
        missing = wanted - set(self._modules)
        if missing:
            raise ImpastoError(f"layers {sorted(missing)} lie beyond this network's cut")
        # Pre-process in fp32 (0..255 in bf16 would round to whole levels), then run in the
        # network's own dtype and layout.
        weight = next(self.parameters())
        x = self.preprocess(image.float()).to(weight.dtype)
        if weight.is_contiguous(memory_format=torch.channels_last) and not weight.is_contiguous():
            x = x.contiguous(memory_format=torch.channels_last)
        features = {}
        for name, module in self._modules.items():
            x = module(x)
            if name in taps:
                x = taps[name](x)
            if name in wanted:
                features[name] = x
                if len(features) == len(wanted):
                    break
        return features
