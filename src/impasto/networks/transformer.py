"""The image transformation network f_W of Johnson, Alahi & Fei-Fei (ECCV 2016), supplementary Table 1.

9x9 conv, two stride-2 3x3 convs down, five residual blocks, two 2x upsampling steps, 9x9 conv out,
through a scaled tanh to the 0..1 pixel range. Reflection padding throughout; instance
normalization (Ulyanov et al. 2016, as in Johnson's released models) by default.

With `styles=N` every normalization is conditional (Dumoulin, Shlens & Kudlur, ICLR 2017): one
network for N paintings, which share every convolution and differ only in each norm's scale and
shift, gamma_s and beta_s. A style is then a weight vector over the N paintings (one-hot to pick one):
gamma = sum_s w_s gamma_s, beta likewise, which is also how styles are mixed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ImpastoError


class ConditionalInstanceNorm(nn.Module):
    """CIN(x, w) = gamma(w) (x - mu(x)) / sigma(x) + beta(w), gamma(w) = w @ gamma_table (Dumoulin et al.)."""

    def __init__(self, channels: int, styles: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(styles, channels))
        self.bias = nn.Parameter(torch.zeros(styles, channels))

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        style = style.to(self.weight.dtype)
        gamma, beta = (style @ self.weight).to(x.dtype), (style @ self.bias).to(x.dtype)
        if gamma.shape[0] == 1:  # one style for the whole batch: the norm's own fused scale and shift
            return F.instance_norm(x, weight=gamma[0], bias=beta[0])
        return F.instance_norm(x) * gamma[:, :, None, None] + beta[:, :, None, None]


class Chain(nn.Sequential):
    """nn.Sequential that hands the style weights to the layers that take them (keeping Sequential's
    parameter names, so single-style model files load unchanged)."""

    def forward(self, x: torch.Tensor, style: torch.Tensor | None = None) -> torch.Tensor:
        for layer in self:
            x = layer(x, style) if isinstance(layer, (Chain, ConditionalInstanceNorm, ResidualBlock,
                                                      UpsampleConv)) else layer(x)
        return x


def _norm(kind: str, channels: int, styles: int = 1) -> nn.Module:
    if kind == "conditional":
        return ConditionalInstanceNorm(channels, styles)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    raise ImpastoError(f"unknown normalization {kind!r}; use instance, batch or conditional")


class ConvLayer(Chain):
    """Reflection pad, convolution, then (optionally) normalization and ReLU."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, norm: str | None = "instance",
                 relu: bool = True, styles: int = 1):
        # No conv bias before a normalization layer: it would be subtracted again, and Adam turns
        # its zero-mean noise gradient into full-size steps.
        layers: list[nn.Module] = [nn.ReflectionPad2d(kernel // 2),
                                   nn.Conv2d(cin, cout, kernel, stride, bias=not norm)]
        if norm:
            layers.append(_norm(norm, cout, styles))
        if relu:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions with a skip connection (He et al. 2016; Gross & Wilber's variant)."""

    def __init__(self, channels: int, norm: str, styles: int = 1):
        super().__init__()
        self.block = Chain(ConvLayer(channels, channels, 3, norm=norm, styles=styles),
                           ConvLayer(channels, channels, 3, norm=norm, relu=False, styles=styles))
        # The last norm's shift reaches only layers that normalise it away again (the next block's
        # and the decoder's norms): it has no effect, so it stays zero instead of drifting on noise.
        self.block[1][-1].bias.requires_grad_(False)

    def forward(self, x: torch.Tensor, style: torch.Tensor | None = None) -> torch.Tensor:
        return x + self.block(x, style)


class UpsampleConv(nn.Module):
    """x2 up: nearest upsampling then convolution (avoids the checkerboard artefacts of a
    fractionally-strided convolution; Odena et al. 2016), or the paper's transposed convolution."""

    def __init__(self, cin: int, cout: int, norm: str, mode: str, styles: int = 1):
        super().__init__()
        self.mode = mode
        if mode == "nearest":
            self.conv = ConvLayer(cin, cout, 3, norm=norm, styles=styles)
        elif mode == "deconv":
            self.conv = Chain(nn.ConvTranspose2d(cin, cout, 3, stride=2, padding=1, output_padding=1, bias=False),
                              _norm(norm, cout, styles), nn.ReLU(inplace=True))
        else:
            raise ImpastoError(f"unknown upsampling {mode!r}; use nearest or deconv")

    def forward(self, x: torch.Tensor, style: torch.Tensor | None = None) -> torch.Tensor:
        if self.mode == "nearest":
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        return self.conv(x, style)


class TransformerNet(nn.Module):
    """f_W: RGB in 0..1 -> stylized RGB in 0..1, same size (inputs are padded to a multiple of 4).
    With `styles` > 1 (conditional norms) it also takes the style weights (B, styles)."""

    def __init__(self, width: float = 1.0, norm: str = "instance", upsample: str = "nearest", styles: int = 1):
        super().__init__()
        if not 0 < width <= 4:
            raise ImpastoError(f"width must be in (0, 4], not {width}")
        if styles < 1 or (styles > 1) != (norm == "conditional"):
            raise ImpastoError(f"{styles} style(s) with {norm} normalization: several styles need "
                               "conditional normalization, and conditional normalization needs several")
        c1, c2, c3 = (max(4, round(c * width)) for c in (32, 64, 128))
        self.styles = styles
        self.config = {"width": width, "norm": norm, "upsample": upsample, "styles": styles}
        self.encoder = Chain(ConvLayer(3, c1, 9, norm=norm, styles=styles),
                             ConvLayer(c1, c2, 3, 2, norm=norm, styles=styles),
                             ConvLayer(c2, c3, 3, 2, norm=norm, styles=styles))
        self.residuals = Chain(*(ResidualBlock(c3, norm, styles) for _ in range(5)))
        self.decoder = Chain(UpsampleConv(c3, c2, norm, upsample, styles), UpsampleConv(c2, c1, norm, upsample, styles),
                             ConvLayer(c1, 3, 9, norm=None, relu=False))

    def style_weights(self, style: torch.Tensor | None, batch: int, like: torch.Tensor) -> torch.Tensor | None:
        """Float style weights, (batch, styles) or (1, styles) for the whole batch; None for a
        single-style network."""
        if self.styles == 1:
            return None
        if style is None:
            raise ImpastoError(f"this network holds {self.styles} styles: say which (style weights)")
        return style.to(device=like.device, dtype=torch.float32)  # (1, styles) serves a whole batch

    def transform(self, image: torch.Tensor, style: torch.Tensor | None = None) -> torch.Tensor:
        """The network proper, for inputs whose sides are multiples of 4 (what ONNX export traces)."""
        style = self.style_weights(style, image.shape[0], image)
        y = self.decoder(self.residuals(self.encoder(image * 2.0 - 1.0, style), style), style)
        return (torch.tanh(y) + 1.0) / 2.0  # scaled tanh onto the pixel range

    def forward(self, image: torch.Tensor, style: torch.Tensor | None = None) -> torch.Tensor:
        height, width = image.shape[-2:]
        # Two stride-2 steps: pad to a multiple of 4 so the output has exactly the input's size.
        pad_h, pad_w = (-height) % 4, (-width) % 4
        if pad_h or pad_w:
            image = F.pad(image, (0, pad_w, 0, pad_h), mode="reflect")
        return self.transform(image, style)[..., :height, :width]
