"""VGG's layers by the papers' names (conv1_1, relu1_1, ..., pool1, ...), without torch: options
naming layers are checked when they are given, before anything is loaded."""

from __future__ import annotations

from .errors import ImpastoError

# Output channels per block; "M" closes a block with pooling.
CONFIGS = {
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
              512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}


def layer_plan(network: str) -> list[tuple[str, int, int]]:
    """(name, in_channels, out_channels) for every layer of `network`, in order."""
    plan, block, conv, channels = [], 1, 1, 3
    for item in CONFIGS[network]:
        if item == "M":
            plan.append((f"pool{block}", channels, channels))
            block, conv = block + 1, 1
        else:
            plan += [(f"conv{block}_{conv}", channels, item), (f"relu{block}_{conv}", item, item)]
            channels, conv = item, conv + 1
    return plan


def layer_names(network: str) -> list[str]:
    """All layer names of `network`, in order."""
    return [name for name, _, _ in layer_plan(network)]


def conv_names(network: str) -> list[str]:
    return [name for name in layer_names(network) if name.startswith("conv")]


def check_layers(network: str, layers: list[str]) -> None:
    known = layer_names(network)
    unknown = [name for name in layers if name not in known]
    if unknown:
        raise ImpastoError(
            f"unknown layer {', '.join(map(repr, unknown))} for {network}; "
            f"choose from {known[0]} ... {known[-1]} (e.g. relu4_2)"
        )


def deepest(network: str, layers: list[str]) -> str:
    """The deepest of `layers`: where the network can be cut."""
    order = layer_names(network)
    return max(layers, key=order.index)
