"""Networks: the VGG loss network and its pretrained weights."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Sequence

from ..core.cache import NetworkCache, file_key
from ..core.errors import ImpastoError
from ..core.layer_names import check_layers, deepest, layer_names
from .vgg import VGG
from .vgg_weights import load_state_dict

if TYPE_CHECKING:
    from ..core.placement import Placement

__all__ = ["VGG", "cached_vgg", "check_layers", "deepest", "layer_names", "load_vgg"]


def load_vgg(layers: list[str], network: str = "vgg16", pooling: str = "max",
             weights: str | os.PathLike | None = None) -> VGG:
    """A pretrained VGG cut after the deepest of `layers`, frozen, in eval mode, on the CPU."""
    if network not in ("vgg16", "vgg19"):
        raise ImpastoError(f"unknown network {network!r}; choose vgg16 or vgg19")
    check_layers(network, layers)
    state, convention = load_state_dict(network, weights)
    model = VGG(network, last=deepest(network, layers), pooling=pooling, convention=convention)
    wanted = model.state_dict()
    missing = [key for key in wanted if key not in state]
    if missing:
        raise ImpastoError(f"weights for {network} lack {missing[0].split('.')[0]} (is this a {network} file?)")
    for key, value in wanted.items():
        if state[key].shape != value.shape:
            raise ImpastoError(
                f"weights for {key} have shape {tuple(state[key].shape)}, {network} needs {tuple(value.shape)}"
            )
    model.load_state_dict({key: state[key] for key in wanted})
    return model


def cached_vgg(cache: NetworkCache, layers: Sequence[str], network: str = "vgg16", pooling: str = "max",
               weights: str | os.PathLike | None = None, placement: Placement | None = None) -> VGG:
    """The frozen VGG cut after the deepest of `layers` on `placement`, loaded and verified once
    per cache."""
    placement = placement or cache.default_placement
    cut = deepest(network, list(layers))
    key = ("vgg", network, cut, pooling, file_key(weights), placement)
    return cache.get(key, lambda: placement.module(load_vgg([cut], network, pooling, weights)))
