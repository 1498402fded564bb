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

from itertools import islice

import torch
import torch.nn.functional as F
from torch import nn

from ..core.errors import ImpastoError


def exporting() -> bool:
    """Whether the network is being traced for ONNX export, which must see layers ONNX has (the
    textbook ones, and the rewrites made of standard ops)."""
    return torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()


def instance_norm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """IN(x) = weight (x - mu(x)) / sigma(x) + bias, statistics per image and channel (Ulyanov et al.).
    weight and bias are (C,) for the whole batch. instance_norm returns the plain layout on a CPU, and
    the next convolution pays a copy back to channels_last, so it runs in an equal form that keeps the
    layout: for inference on a CPU a group norm with one group per channel (one fused pass, faster
    than a batch norm, but with a slow bf16 backward); for one image with gradients a batch norm,
    whose statistics are that image's."""
    if exporting():  # ONNX has its own op
        return F.instance_norm(x, weight=weight, bias=bias, eps=eps)
    if inference_on_cpu(x):
        return F.group_norm(x, x.shape[1], weight, bias, eps)
    if x.shape[0] == 1:
        return F.batch_norm(x, None, None, weight, bias, training=True, eps=eps)
    return F.instance_norm(x, weight=weight, bias=bias, eps=eps)


class InstanceNorm(nn.InstanceNorm2d):
    """nn.InstanceNorm2d(affine=True) (same parameters) through instance_norm above."""

    def __init__(self, channels: int):
        super().__init__(channels, affine=True)

    def scale_and_shift(self, style: torch.Tensor | None, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        return self.weight.to(dtype), self.bias.to(dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return instance_norm(x, *self.scale_and_shift(None, x.dtype), self.eps)


class ConditionalInstanceNorm(nn.Module):
    """CIN(x, w) = gamma(w) (x - mu(x)) / sigma(x) + beta(w), gamma(w) = w @ gamma_table (Dumoulin et al.)."""

    eps = 1e-5  # instance_norm's

    def __init__(self, channels: int, styles: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(styles, channels))
        self.bias = nn.Parameter(torch.zeros(styles, channels))

    def scale_and_shift(self, style: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """gamma(w), beta(w): (B, C), or (1, C) for one style over the whole batch. Without gradients
        they are kept for the last style weights seen (recomputing them costs two small products and
        casts per norm, every pass)."""
        if torch.is_grad_enabled():
            return self.mix(style, dtype)
        key = (tuple(style.flatten().tolist()), tuple(style.shape), dtype, self.weight.data_ptr(),
               self.bias.data_ptr(), self.weight._version, self.bias._version)
        return kept(self, "mixed", key, lambda: self.mix(style, dtype))

    def mix(self, style: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        style = style.to(self.weight.dtype)
        return (style @ self.weight).to(dtype), (style @ self.bias).to(dtype)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.scale_and_shift(style, x.dtype)
        if gamma.shape[0] == 1:  # one style for the whole batch: the norm's own fused scale and shift
            return instance_norm(x, gamma[0], beta[0])
        return F.instance_norm(x) * gamma[:, :, None, None] + beta[:, :, None, None]


class Chain(nn.Sequential):
    """nn.Sequential that hands the style weights to the layers that take them (keeping Sequential's
    parameter names, so single-style model files load unchanged)."""

    def forward(self, x: torch.Tensor, style: torch.Tensor | None = None, start: int = 0) -> torch.Tensor:
        """The layers from index `start` on (UpsampleConv's fast path does the first two itself)."""
        for layer in islice(self, start, None):
            x = layer(x, style) if isinstance(layer, (Chain, ConditionalInstanceNorm, ResidualBlock,
                                                      UpsampleConv)) else layer(x)
        return x


def inference_on_cpu(x: torch.Tensor) -> bool:
    """Whether the CPU inference rewrites below apply: no gradients wanted (training keeps the
    textbook layers, which torch.compile fuses), not being traced for ONNX export."""
    return not torch.is_grad_enabled() and x.device.type == "cpu" and not exporting()


def kept(module: nn.Module, form: str, key: tuple, make):
    """make(), kept on `module` under `form` until `key` changes (outside the module's state dict)."""
    cached = module.__dict__.get("_" + form)
    if cached is None or cached[0] != key:
        cached = (key, make())
        module.__dict__["_" + form] = cached
    return cached[1]


def derived_weight(module: nn.Module, weight: torch.Tensor, make, form: str = "derived") -> torch.Tensor:
    """make(weight), kept on `module` under `form` until the weight changes (its storage, dtype or
    version): the inference rewrites below would otherwise rearrange their weights on every forward."""
    return kept(module, form, (weight.data_ptr(), weight.dtype, weight._version), lambda: make(weight))


def rewritten(x: torch.Tensor) -> bool:
    """Whether the layer rewrites below that are plain ONNX ops apply: CPU inference, and ONNX export
    (the ONNX runtimes gain from them too)."""
    return exporting() or inference_on_cpu(x)


class _AsOnnxOp(torch.autograd.Function):
    """`function` in torch, traced as one ONNX op `op` with `attributes` (not as the reshapes and
    transposes it is made of, which ONNX runtimes copy one by one)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, function, op: str, attributes: dict) -> torch.Tensor:
        return function(x)

    @staticmethod
    def symbolic(g, x, function, op: str, attributes: dict):
        return g.op(op, x, **attributes)


def reflect_in_blocks(padded: torch.Tensor) -> None:
    """Fill the two-block border of `padded` (N, 4C, H + 4, W + 4), channels (c, a, b) holding pixel
    (2I + a, 2J + b) of channel c, so that it holds the 4-pixel reflection pad of the full-size image
    inside. Full-size pixel -j mirrors pixel j, so along each side block -k takes phase 0 from block k
    and phase 1 from block k - 1 (and at the far end block B - 1 + k phase 0 from block B - k, phase
    1 from B - k - 1). Rows first, then columns over the filled rows, as a 2-D reflection pad does."""
    n, c4, h, w = padded.shape
    blocks = padded.permute(0, 2, 3, 1).view(n, h, w, c4 // 4, 2, 2)  # n, I, J, c, a, b
    for axis, size in ((1, h), (2, w)):
        def fill(to: int, phase: int, source: int) -> None:
            index = [slice(None)] * 6
            index[axis + 3] = phase
            if axis == 1:
                index[2] = slice(2, w - 2)  # the columns' own pass fills their border
            target, src = list(index), list(index)
            target[axis], src[axis] = to, source
            blocks[tuple(target)] = blocks[tuple(src)]
        # padded index = block + 2
        fill(1, 0, 3), fill(0, 0, 4), fill(1, 1, 2), fill(0, 1, 3)
        fill(size - 2, 0, size - 3), fill(size - 1, 0, size - 4), fill(size - 2, 1, size - 4), fill(size - 1, 1, size - 5)


def depth_to_space(y: torch.Tensor) -> torch.Tensor:
    """(N, 4C, H, W), channel (a, b, c) = pixel (2I + a, 2J + b) of channel c -> (N, C, 2H, 2W)
    (ONNX DepthToSpace, mode DCR)."""
    if exporting():
        return _AsOnnxOp.apply(y, _depth_to_space, "DepthToSpace", {"blocksize_i": 2, "mode_s": "DCR"})
    return _depth_to_space(y)


def _depth_to_space(y: torch.Tensor) -> torch.Tensor:
    n, c4, h, w = y.shape
    y = y.permute(0, 2, 3, 1).reshape(n, h, w, 2, 2, c4 // 4).permute(0, 1, 3, 2, 4, 5)
    return y.reshape(n, 2 * h, 2 * w, c4 // 4).permute(0, 3, 1, 2)


class BlockConv(nn.Conv2d):
    """A stride-1 convolution with a wide odd kernel and few output channels (the 9x9 one back to
    RGB), computed for inference one 2x2 block of output pixels at a time: y = depth_to_space(
    conv(x, W', stride 2)), where W' holds the kernel once per output pixel of the block, shifted by
    its place in it (9x9 becomes 10x10, 3 output channels 12). The result is the same convolution;
    it does more multiply-adds, but 16 -> 12 channels run near the CPU's dense rate where 16 -> 3 at
    9x9 runs far below it. ONNX export takes it too (Conv, DepthToSpace); training and odd sizes
    take the plain convolution."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fast = (rewritten(x) and self.stride == (1, 1) and self.padding == (0, 0)
                and self.kernel_size[0] == self.kernel_size[1] and self.kernel_size[0] % 2 == 1
                and x.shape[-2] % 2 == 0 and x.shape[-1] % 2 == 0)
        if not fast:
            return super().forward(x)
        weight = derived_weight(self, self.weight, self.strided_weight)
        # (k + 1)-wide windows at stride 2 over an even map give exactly its (size - k + 1) / 2 blocks
        return depth_to_space(F.conv2d(x, weight, None if self.bias is None else self.bias.repeat(4), stride=2))

    @staticmethod
    def strided_weight(weight: torch.Tensor) -> torch.Tensor:
        """W'[(a, b, o), i, 2m + p, 2n + q] = blocked_weight's [(a, b, o), (i, p, q), m, n]: output
        pixel (2I + a, 2J + b) reads full-size pixel (2I + 2m + p, 2J + 2n + q) of the window at
        block (I, J). (4 * out, in, k + 1, k + 1), output channels ordered (a, b, o)."""
        out, cin, k, _ = weight.shape
        blocks = (k + 2) // 2
        w = BlockConv.blocked_weight(weight).reshape(4 * out, cin, 2, 2, blocks, blocks)  # i, p, q, m, n
        w = w.permute(0, 1, 4, 2, 5, 3).reshape(4 * out, cin, 2 * blocks, 2 * blocks)         # i, m, p, n, q
        return w.contiguous(memory_format=torch.channels_last)

    @staticmethod
    def blocked_weight(weight: torch.Tensor) -> torch.Tensor:
        """W'[(a, b, o), (i, p, q), m, n] = W[o, i, 2m + p - a, 2n + q - b] (zero outside the kernel),
        for output pixel (2I + a, 2J + b) read from input block (I + m, J + n), pixel (p, q) in it:
        the weights of a convolution over 2x2 pixel blocks, input channels ordered (i, p, q) as
        TransformerNet's block-form tail holds them."""
        out, cin, k, _ = weight.shape
        blocks = (k + 2) // 2
        padded = F.pad(weight, (1, 1, 1, 1))  # taps at -1 and k read zeros
        a, p, m = torch.meshgrid(torch.arange(2), torch.arange(2), torch.arange(blocks), indexing="ij")
        taps = (2 * m + p - a + 1).to(weight.device)                   # (a, p, m) -> index into padded
        w = padded[:, :, taps][..., taps]                              # o, i, a, p, m, b, q, n
        w = w.permute(2, 5, 0, 1, 3, 6, 4, 7)                          # a, b, o, i, p, q, m, n
        return w.reshape(out * 4, 4 * cin, blocks, blocks).contiguous(memory_format=torch.channels_last)


def _norm(kind: str, channels: int, styles: int = 1) -> nn.Module:
    if kind == "conditional":
        return ConditionalInstanceNorm(channels, styles)
    if kind == "instance":
        return InstanceNorm(channels)
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    raise ImpastoError(f"unknown normalization {kind!r}; use instance, batch or conditional")


class ConvLayer(Chain):
    """Reflection pad, convolution, then (optionally) normalization and ReLU."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, norm: str | None = "instance",
                 relu: bool = True, styles: int = 1, conv: type[nn.Conv2d] = nn.Conv2d):
        # No conv bias before a normalization layer: it would be subtracted again, and Adam turns
        # its zero-mean noise gradient into full-size steps.
        layers: list[nn.Module] = [nn.ReflectionPad2d(kernel // 2),
                                   conv(cin, cout, kernel, stride, bias=not norm)]
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
        self.dead_shift.requires_grad_(False)

    @property
    def dead_shift(self) -> nn.Parameter:
        """The last norm's shift: it reaches only layers that normalise it away again (the next
        block's and the decoder's norms), so it has no effect, and stays zero instead of drifting
        on noise."""
        return self.block[1][-1].bias

    def forward(self, x: torch.Tensor, style: torch.Tensor | None = None) -> torch.Tensor:
        return x + self.block(x, style)


class UpsampleConv(nn.Module):
    """x2 up: nearest upsampling then convolution (avoids the checkerboard artefacts of a
    fractionally-strided convolution; Odena et al. 2016), or the paper's transposed convolution."""

    # How ONNX export writes the nearest-upsampling path (config.UPSAMPLING_FORMS): "phases" (four
    # 2x2 convolutions put back together by Slice, Concat and DepthToSpace) or "transposed" (the
    # same as one ConvTranspose). Set per instance by export_onnx; not part of the state dict.
    export_form = "phases"

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
        if self.mode == "nearest" and exporting() and self.export_form == "transposed":
            weight = derived_weight(self, self.conv[1].weight, self.transposed_weight, "transposed")
            x = F.conv_transpose2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), weight, stride=2, padding=3)
            return self.conv(x, style, start=2)
        if self.mode == "nearest" and rewritten(x):
            # Nearest x2, reflection pad 1, 3x3 conv == each output pixel's phase (a, b) of its 2x2
            # block read as a 2x2 conv of the replicate-padded low-resolution map: 4/9 of the
            # textbook multiply-adds and none of its full-size upsampled and padded copies.
            x = phases_to_space(self.phase_conv(x))
            return self.conv(x, style, start=2)  # its norm and ReLU
        if self.mode == "nearest":
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        return self.conv(x, style)

    def phase_conv(self, x: torch.Tensor) -> torch.Tensor:
        """The four output phases of the nearest-upsampling path: (N, 4C, H + 1, W + 1), channels
        ordered (a, b, o), from x (N, Cin, H, W) (phase_slices reads them)."""
        weight = derived_weight(self, self.conv[1].weight, self.phase_weight)  # conv[1]: after its pad
        return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), weight)

    @staticmethod
    def phase_weight(weight: torch.Tensor) -> torch.Tensor:
        """W'[(a, b, o)] = (M_a W[o] M_b^T)[a:a+2, b:b+2]: output row 2I + a of the upsampled conv
        reads low-res rows I - 1, I, I (a = 0) or I, I, I + 1 (a = 1), so taps on the same row add
        up, and two rows (columns) remain, starting at I - 1 + a (J - 1 + b). (4 * out, in, 2, 2),
        output channels ordered (a, b, o)."""
        merge = torch.tensor([[[1, 0, 0], [0, 1, 1], [0, 0, 0]],
                              [[0, 0, 0], [1, 1, 0], [0, 0, 1]]], dtype=weight.dtype, device=weight.device)
        w = torch.einsum("arj,oijk,bsk->aboirs", merge, weight, merge)
        w = torch.stack([torch.stack([w[a, b, ..., a:a + 2, b:b + 2] for b in range(2)]) for a in range(2)])
        return w.reshape(-1, weight.shape[1], 2, 2).contiguous(memory_format=torch.channels_last)

    @staticmethod
    def transposed_weight(weight: torch.Tensor) -> torch.Tensor:
        """The phase convolutions as one transposed convolution (stride 2, padding 3) of the
        replicate-padded map: output row Y = 2I + a gets padded input row u = I + a + r through
        kernel row Y - 2u + 3 = 3 - (2r + a), four distinct rows, so K[i, o] holds W'[(a, b, o), i]
        at rows and columns 3 - (2r + a), 3 - (2s + b). (in, out, 4, 4)."""
        out, cin = weight.shape[:2]
        w = UpsampleConv.phase_weight(weight).reshape(2, 2, out, cin, 2, 2)  # a, b, o, i, r, s
        return w.permute(3, 2, 4, 0, 5, 1).reshape(cin, out, 4, 4).flip(2, 3).contiguous()


PHASES = ((0, 0), (0, 1), (1, 0), (1, 1))  # (a, b): row and column within a 2x2 output block


def phase_slices(y: torch.Tensor):
    """((a, b), the part of `y` holding phase (a, b): its C channels, an (H, W) window) for each
    phase of a 2x2 phase convolution's output y (N, 4C, H + 1, W + 1), channels ordered (a, b, o):
    phase (a, b) of output block (I, J) is at (I + a, J + b)."""
    c, h, w = y.shape[1] // 4, y.shape[2] - 1, y.shape[3] - 1
    for k, (a, b) in enumerate(PHASES):
        yield (a, b), y[:, k * c:(k + 1) * c, a:a + h, b:b + w]


def phases_to_space(y: torch.Tensor) -> torch.Tensor:
    """The full-size map (N, C, 2H, 2W) from a 2x2 phase convolution's output (N, 4C, H + 1, W + 1)."""
    if exporting():  # four Slices, a Concat and a DepthToSpace
        return depth_to_space(torch.cat([part for _, part in phase_slices(y)], 1))
    n, c4, h, w = y.shape
    out = torch.empty((n, c4 // 4, 2 * h - 2, 2 * w - 2), dtype=y.dtype, device=y.device,
                      memory_format=torch.channels_last)
    for (a, b), part in phase_slices(y):
        out[:, :, a::2, b::2] = part
    return out


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
                             ConvLayer(c1, 3, 9, norm=None, relu=False, conv=BlockConv))

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
        if self.block_form_applies(image, style):
            return self.transform_in_blocks(image, style)
        y = self.decoder(self.residuals(self.encoder(image * 2.0 - 1.0, style), style), style)
        return (torch.tanh(y) + 1.0) / 2.0  # scaled tanh onto the pixel range

    def block_form_applies(self, image: torch.Tensor, style: torch.Tensor | None) -> bool:
        """Whether transform_in_blocks computes this pass: CPU inference, nearest upsampling, instance
        norms (their mean subtraction absorbs the input's shift), one style for the whole batch."""
        return (inference_on_cpu(image) and self.config["upsample"] == "nearest"
                and self.config["norm"] in ("instance", "conditional") and (style is None or style.shape[0] == 1))

    def transform_in_blocks(self, image: torch.Tensor, style: torch.Tensor | None) -> torch.Tensor:
        """transform() in an exact equivalent form for CPU inference, cheaper where the image is full
        size:
        - the input's 2x - 1 is folded into the first convolution: W (2x - 1) = (2W) x - sum(W), its
          weights doubled and a bias (the norm after it would subtract the shift anyway, but a
          channels_last group norm loses precision on maps far from zero mean: 4e-5 against 1e-5);
        - from the last upsampling on, the full-size maps stay as 2x2 pixel blocks, four channels per
          channel (the phases of UpsampleConv's fast path, kept in place of being put back
          together): its norm is a group norm over each channel's four phases, the reflection pad
          before the 9x9 convolution is two blocks wide, filled phase by phase, and that convolution
          reads the blocks directly (BlockConv's weights) - no full-size copy until the RGB
          output;
        - (tanh(y) + 1) / 2 = sigmoid(2y), the 2 folded into the last convolution."""
        first = self.encoder[0]
        weight = derived_weight(first[1], first[1].weight, lambda w: 2.0 * w, "doubled")
        shift = derived_weight(first[1], first[1].weight, lambda w: -w.sum((1, 2, 3)), "shift")
        x = first(F.conv2d(F.pad(image, (4, 4, 4, 4), mode="reflect"), weight, shift), style, start=2)
        x = self.decoder[0](self.residuals(self.encoder(x, style, start=1), style), style)

        up, out = self.decoder[1], self.decoder[2]
        conv, norm = up.conv[1], up.conv[2]
        y = up.phase_conv(x)
        n, c4, h, w = y.shape
        z = torch.empty((n, c4, h - 1, w - 1), dtype=y.dtype, device=y.device, memory_format=torch.channels_last)
        for k, (_, part) in enumerate(phase_slices(y)):  # (N, 4C, H, W), channels (o, a, b)
            z.unflatten(1, (c4 // 4, 4))[:, :, k] = part
        del y, part  # free before the norm's output is made (peak memory at 1024 px)
        gamma, beta = norm.scale_and_shift(style, z.dtype)
        z = F.group_norm(z, conv.out_channels, gamma.reshape(-1).repeat_interleave(4),
                         beta.reshape(-1).repeat_interleave(4), norm.eps)
        n, c4, h, w = z.shape
        padded = torch.empty((n, c4, h + 4, w + 4), dtype=z.dtype, device=z.device,
                             memory_format=torch.channels_last)
        torch.clamp_min(z, 0.0, out=padded[:, :, 2:-2, 2:-2])  # the ReLU, written inside the border
        reflect_in_blocks(padded)
        conv = out[1]
        weight = derived_weight(conv, conv.weight, lambda w: BlockConv.blocked_weight(2.0 * w), "tail")
        bias = derived_weight(conv, conv.bias, lambda b: (2.0 * b).repeat(4), "tail_bias")
        y = torch.sigmoid(F.conv2d(padded, weight, bias))
        return depth_to_space(y)

    def drop_dead_shifts(self) -> "TransformerNet":
        """Zero each residual block's last shift, which has no effect in exact arithmetic
        (ResidualBlock), where a file holds it drifted: carried along the residual stream it costs a
        bf16 pass its precision (seen: new-style shifts drifted to 11 gave stripes at 512 px)."""
        with torch.no_grad():
            for block in self.residuals:
                block.dead_shift.zero_()
        return self

    def forward(self, image: torch.Tensor, style: torch.Tensor | None = None) -> torch.Tensor:
        height, width = image.shape[-2:]
        # Two stride-2 steps: pad to a multiple of 4 so the output has exactly the input's size.
        pad_h, pad_w = (-height) % 4, (-width) % 4
        if pad_h or pad_w:
            image = F.pad(image, (0, pad_w, 0, pad_h), mode="reflect")
        return self.transform(image, style)[..., :height, :width]
