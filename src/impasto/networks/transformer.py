"""The image transformation network f_W of Johnson, Alahi & Fei-Fei (ECCV 2016), supplementary Table 1.

9x9 conv, two stride-2 3x3 convs down, five residual blocks, two 2x upsampling steps, 9x9 conv out,
through a scaled tanh to the 0..1 pixel range. Reflection padding throughout; instance
normalization (Ulyanov et al. 2016, as in Johnson's released models) by default.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ImpastoError


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    raise ImpastoError(f"unknown normalization {kind!r}; use instance or batch")


class ConvLayer(nn.Sequential):
    """Reflection pad, convolution, then (optionally) normalization and ReLU."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, norm: str | None = "instance",
                 relu: bool = True):
        # No conv bias before a normalization layer: it would be subtracted again, and Adam turns
        # its zero-mean noise gradient into full-size steps.
        layers: list[nn.Module] = [nn.ReflectionPad2d(kernel // 2),
                                   nn.Conv2d(cin, cout, kernel, stride, bias=not norm)]
        if norm:
            layers.append(_norm(norm, cout))
        if relu:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions with a skip connection (He et al. 2016; Gross & Wilber's variant)."""

    def __init__(self, channels: int, norm: str):
        super().__init__()
        self.block = nn.Sequential(ConvLayer(channels, channels, 3, norm=norm),
                                   ConvLayer(channels, channels, 3, norm=norm, relu=False))
        # The last norm's shift reaches only layers that normalise it away again (the next block's
        # and the decoder's norms): it has no effect, so it stays zero instead of drifting on noise.
        self.block[1][-1].bias.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class UpsampleConv(nn.Module):
    """x2 up: nearest upsampling then convolution (avoids the checkerboard artefacts of a
    fractionally-strided convolution; Odena et al. 2016), or the paper's transposed convolution."""

    def __init__(self, cin: int, cout: int, norm: str, mode: str):
        super().__init__()
        self.mode = mode
        if mode == "nearest":
            self.conv = ConvLayer(cin, cout, 3, norm=norm)
        elif mode == "deconv":
            self.conv = nn.Sequential(nn.ConvTranspose2d(cin, cout, 3, stride=2, padding=1, output_padding=1,
                                                         bias=False),
                                      _norm(norm, cout), nn.ReLU(inplace=True))
        else:
            raise ImpastoError(f"unknown upsampling {mode!r}; use nearest or deconv")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "nearest":
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        return self.conv(x)


class TransformerNet(nn.Module):
    """f_W: RGB in 0..1 -> stylized RGB in 0..1, same size (inputs are padded to a multiple of 4)."""

    def __init__(self, width: float = 1.0, norm: str = "instance", upsample: str = "nearest"):
        super().__init__()
        if not 0 < width <= 4:
            raise ImpastoError(f"width must be in (0, 4], not {width}")
        c1, c2, c3 = (max(4, round(c * width)) for c in (32, 64, 128))
        self.config = {"width": width, "norm": norm, "upsample": upsample}
        self.encoder = nn.Sequential(ConvLayer(3, c1, 9, norm=norm), ConvLayer(c1, c2, 3, 2, norm=norm),
                                     ConvLayer(c2, c3, 3, 2, norm=norm))
        self.residuals = nn.Sequential(*(ResidualBlock(c3, norm) for _ in range(5)))
        self.decoder = nn.Sequential(UpsampleConv(c3, c2, norm, upsample), UpsampleConv(c2, c1, norm, upsample),
                                     ConvLayer(c1, 3, 9, norm=None, relu=False))

    def transform(self, image: torch.Tensor) -> torch.Tensor:
        """The network proper, for inputs whose sides are multiples of 4 (what ONNX export traces)."""
        y = self.decoder(self.residuals(self.encoder(image * 2.0 - 1.0)))
        return (torch.tanh(y) + 1.0) / 2.0  # scaled tanh onto the pixel range

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        height, width = image.shape[-2:]
        # Two stride-2 steps: pad to a multiple of 4 so the output has exactly the input's size.
        pad_h, pad_w = (-height) % 4, (-width) % 4
        if pad_h or pad_w:
            image = F.pad(image, (0, pad_w, 0, pad_h), mode="reflect")
        return self.transform(image)[..., :height, :width]
