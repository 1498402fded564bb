"""The objective, one type for both papers: a weighted sum of named terms over VGG features.

    L(x) = sum_k w_k L_k(x),   k in content, style, tv, range, temporal (Ruder et al., for video)

Gatys et al. (`form="gatys"`): L_content per position (Eq. 1 / N_l M_l), L_style = sum_l w_l E_l
(Eq. 5) against the painting's Gram per position (optionally per masked region, Gatys et al. 2017),
a mean-squared TV prior and a soft pixel-range bound. Johnson et al. (`form="johnson"`): l_feat,
sum_j l_style^j and l_TV as in their released code, against a batch of photos. The formulas are in
`losses`; this module only decides which apply and with what targets.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch

from . import terms as losses
from .tiled_gram import tiled_gram


@dataclass
class Region:
    """One styled region of a mask: its guide (1, 1, H, W) at the image's size, its style Grams."""

    guide: torch.Tensor
    style: dict[str, torch.Tensor]

    def crop(self, top: int, left: int, height: int, width: int) -> "Region":
        return Region(self.guide[..., top:top + height, left:left + width], self.style)


@dataclass
class Targets:
    """What the generated image should match: P^l per content layer (or, with `content=None`, the
    layers whose targets come with each call as a batch of photos), the painting's Grams per style
    layer (or, with a mask, per region)."""

    content: dict[str, torch.Tensor] | None
    style: dict[str, torch.Tensor]
    style_layer_weights: dict[str, float]
    regions: list[Region] = field(default_factory=list)
    content_layers: tuple[str, ...] = ()
    temporal: tuple[torch.Tensor, torch.Tensor] | None = None  # (previous result warped here, reliable mask)

    def __post_init__(self) -> None:
        if self.content is not None:
            self.content_layers = tuple(self.content)


@dataclass
class Losses:
    """Each term unweighted, its weight, and the weighted total that is minimised. `shown` holds the
    value to report per term where it differs from the one minimised (Gatys' content: Eq. 1 as
    written, not per position)."""

    terms: dict[str, torch.Tensor]
    weights: dict[str, float]
    shown: dict[str, torch.Tensor] = field(default_factory=dict)

    @property
    def total(self) -> torch.Tensor:
        return sum(self.weights[k] * v for k, v in self.terms.items())

    def values(self) -> dict[str, float]:
        """Plain floats for reports and progress events: every term, then "total"."""
        out = {k: float(self.shown.get(k, v).detach()) for k, v in self.terms.items()}
        out["total"] = float(self.total.detach())
        return out


def as_rgb(image: torch.Tensor) -> torch.Tensor:
    """The loss network takes RGB; a luminance-only image (B, 1, H, W) is fed as grey."""
    return image.expand(-1, 3, -1, -1) if image.shape[1] == 1 else image


@dataclass
class Objective:
    """The weighted objective for one loss network and one set of targets.

    weights: {"content": alpha, "style": beta, "tv": lambda_TV, "range": ...}; a term with weight 0
    is not computed. form: "gatys" or "johnson", whose normalisations differ (see module doc)."""

    vgg: torch.nn.Module
    targets: Targets
    weights: dict[str, float]
    form: str = "gatys"
    _split: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def with_weights(self, **weights: float) -> "Objective":
        return dataclasses.replace(self, weights={**self.weights, **weights})

    def content_targets(self, photo: torch.Tensor) -> dict[str, torch.Tensor]:
        """P^l of a photo batch (no gradient)."""
        return content_targets(self.vgg, photo, self.targets.content_layers)

    def __call__(self, image: torch.Tensor, photo: torch.Tensor | None = None) -> Losses:
        """The losses of `image` (B, C, H, W in 0..1); `photo` gives the content targets where they
        come per call (Johnson's training batches, evaluation). Content and style are computed
        wherever they have targets (reported even at weight 0), range only where weighted."""
        content = self.targets.content if photo is None else self.content_targets(photo)
        layers = list(dict.fromkeys([*content, *self.targets.style_layer_weights]))
        zero = image.new_zeros((), dtype=torch.float32)
        terms, shown = {}, {}
        if self.form == "gatys":
            # Gatys' content and (unguided) style terms are taken on the loss network's chain, so
            # that their gradients join the chain's where it passes (losses.gram_tap).
            chain = _Chain(content, self._chain_style() if not self.targets.regions else {})
            features = self.vgg(as_rgb(image), layers, chain.taps()) if layers else {}
            shown["content"] = sum(chain.content.values(), zero)
            terms["content"] = sum((loss / features[l][0].numel() for l, loss in chain.content.items()), zero)
            terms["tv"] = losses.tv_loss(image) if self.weights.get("tv") else zero
        else:
            features = self.vgg(as_rgb(image), layers) if layers else {}
            terms["content"] = sum((losses.feature_reconstruction_loss(features[l], p)
                                     for l, p in content.items()), zero)
            terms["tv"] = losses.total_variation(image)
        if not self.targets.style_layer_weights:
            terms["style"] = zero
        elif self.form == "gatys" and not self.targets.regions:
            terms["style"] = sum((self.targets.style_layer_weights[l] * loss for l, loss in chain.style.items()), zero)
        else:
            terms["style"] = self._style(features, zero)
        if self.weights.get("range"):
            terms["range"] = losses.out_of_range(image)
        if self.weights.get("temporal") and self.targets.temporal is not None:
            terms["temporal"] = losses.temporal_loss(image, *self.targets.temporal)
        terms = {k: terms[k] for k in ("content", "style", "tv", "range", "temporal") if k in terms}
        return Losses(terms, {k: self.weights.get(k, 0.0) for k in terms}, shown)

    def _chain_style(self) -> dict[str, Callable[[torch.Tensor], tuple]]:
        """E_l (Eq. 4) per style layer as a function of F^l: the painting's Gram per position,
        scaled to the features' M_l and split for their dtype once per size (losses.split_target)."""
        def layer_term(layer: str) -> Callable[[torch.Tensor], tuple]:
            per_position = self.targets.style[layer]

            def term(f: torch.Tensor) -> tuple:
                channels, positions = f.shape[1], f.shape[2] * f.shape[3]
                key = (layer, positions, f.dtype, f.device)
                cached = self._split.get(key)
                if cached is None or cached[0] is not per_position:
                    cached = self._split[key] = (per_position, losses.split_target(per_position * positions, f.dtype))
                return losses.gram_tap(f, cached[1], 1.0, losses.eq4_scale(channels, positions))
            return term
        return {layer: layer_term(layer) for layer in self.targets.style_layer_weights}

    def _style(self, features: dict[str, torch.Tensor], zero: torch.Tensor) -> torch.Tensor:
        t = self.targets
        if self.form == "johnson":
            return sum((losses.style_reconstruction_loss(features[l], g) for l, g in t.style.items()), zero)
        if not t.regions:
            return losses.style_loss(features, t.style, t.style_layer_weights)
        # Each region weighted by its share of the image, so style and content keep the balance of
        # an unmasked transfer pixel for pixel; a region with no style has content loss only.
        total = zero
        for region in t.regions:
            share = region.guide.mean()
            if share > 1e-4:
                total = total + share * losses.style_loss(features, region.style,
                                                          t.style_layer_weights, region.guide)
        return total


class _Chain:
    """The losses taken on the loss network's chain in one call: `content` {layer: P^l} and `style`
    {layer: F -> (F, E_l)}; after the network has run, `.content` and `.style` hold each layer's loss."""

    def __init__(self, content: dict[str, torch.Tensor], style: dict[str, Callable]):
        self._targets, self._terms = content, style
        self.content: dict[str, torch.Tensor] = {}
        self.style: dict[str, torch.Tensor] = {}

    def taps(self) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
        def tap(layer: str) -> Callable[[torch.Tensor], torch.Tensor]:
            def apply(f: torch.Tensor) -> torch.Tensor:
                if layer in self._targets:
                    f, self.content[layer] = losses.content_tap(f, self._targets[layer])
                if layer in self._terms:
                    f, self.style[layer] = self._terms[layer](f)
                return f
            return apply
        return {layer: tap(layer) for layer in dict.fromkeys([*self._targets, *self._terms])}


# --- targets ------------------------------------------------------------------------------------

def style_targets(vgg: torch.nn.Module, styles: list[torch.Tensor], blend: list[float],
                  layers: Sequence[str], tile: int = 0) -> dict[str, torch.Tensor]:
    """A^l / M_l = sum_s b_s G^l(style_s) / M_l(style_s): matching the blended Gram has the same
    gradient as weighting each style's loss by b_s, at the cost of one loss instead of one per
    style. With `tile`, each painting's Gram is summed over crops (tiling.tiled_gram)."""
    targets: dict[str, torch.Tensor] = {}
    for style, weight in zip(styles, blend):
        if tile:
            grams = tiled_gram(vgg, as_rgb(style), layers, tile)
        else:
            with torch.no_grad():
                features = vgg(as_rgb(style), list(layers))
            grams = {layer: losses.gram_per_position(features[layer]) for layer in layers}
        for layer in layers:
            targets[layer] = targets.get(layer, 0) + weight * grams[layer]
    return targets


def content_targets(vgg: torch.nn.Module, content: torch.Tensor, layers: Sequence[str]
                    ) -> dict[str, torch.Tensor]:
    """P^l: the photo's feature maps at the content layers."""
    with torch.no_grad():
        features = vgg(as_rgb(content), list(layers))
    return {layer: features[layer].float() for layer in layers}


def johnson_objective(vgg: torch.nn.Module, styles: torch.Tensor | Sequence[torch.Tensor],
                      content_layers: Sequence[str], style_layers: Sequence[str], content_weight: float,
                      style_weight: float, tv_weight: float) -> Objective:
    """Johnson et al.'s joint objective for one painting or several (each (1, 3, H, W) on vgg's
    device); content targets come with each call. The Grams are stacked one row per painting, (S, C,
    C): with several paintings, `pick_styles` gives each sample of a batch its own."""
    grams: dict[str, list[torch.Tensor]] = {layer: [] for layer in style_layers}
    for style in [styles] if isinstance(styles, torch.Tensor) else styles:
        with torch.no_grad():
            features = vgg(style, list(style_layers))
        for layer in style_layers:
            grams[layer].append(losses.normalised_gram(features[layer]))
    targets = Targets(None, {layer: torch.cat(g) for layer, g in grams.items()},
                      {layer: 1.0 for layer in style_layers}, content_layers=tuple(content_layers))
    return Objective(vgg, targets, {"content": content_weight, "style": style_weight, "tv": tv_weight},
                     form="johnson")


def pick_styles(objective: Objective, rows: Sequence[int]) -> Objective:
    """The objective whose style target for sample i is painting rows[i] (Dumoulin et al.'s
    several-style training: each sample matches the painting its style weights select)."""
    index = torch.as_tensor(list(rows))
    style = {layer: g[index.to(g.device)] for layer, g in objective.targets.style.items()}
    return dataclasses.replace(objective, targets=dataclasses.replace(objective.targets, style=style))
