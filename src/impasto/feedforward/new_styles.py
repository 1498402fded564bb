"""New paintings on a trained several-style network (Dumoulin, Shlens & Kudlur, ICLR 2017, §4.3):
only the new styles' conditional instance norm parameters, gamma_s and beta_s, are learned; the
convolutions, and every style the network already holds, stay as they are.

    min_{gamma_s, beta_s}  E_x [ L_Johnson(f_{W, gamma_s, beta_s}(x), x, y_s) ]     W frozen

The run is Johnson et al.'s training (train.py) on far fewer numbers, so it takes minutes where a
whole network takes a day. The file it writes holds only those numbers and the base network's
SHA-256 (model_files.py joins them when it is loaded).
"""

from __future__ import annotations

import json
import os

import torch

from ..core.errors import ImpastoError
from ..core.files import file_sha256
from ..nets.transformer import ConditionalInstanceNorm, TransformerNet
from .model_files import find_model, load_model, read_metadata, style_names

# The recipe's defaults for a new style on the shipped network (bench/RESULTS.md: how they were
# chosen); any of them may be given. The loss weights and layers are the base network's own.
RECIPE = {"iterations": 300, "lr": 0.02, "image_size": 192, "batch_size": 4, "ema": 0.0,
          "checkpoint_every": 100, "compile": "off"}
FROM_BASE = ("content_weight", "style_weight", "tv_weight", "content_layers", "style_layers", "style_size",
             "network")


def base_options(base: str | os.PathLike) -> dict:
    """The options a new style takes from its base network: its architecture, and the loss terms
    and weights its convolutions were trained for."""
    meta = read_metadata(find_model(base))
    if int(meta.get("styles", "1")) < 2 or meta.get("norm") != "conditional":
        raise ImpastoError(f"base network '{base}' holds one style: new styles are learned on a several-style "
                           "network (conditional instance norm), such as the shipped 'styles'")
    if "base_sha256" in meta:
        raise ImpastoError(f"'{base}' holds only new styles of another network: learn on that network itself")
    trained = json.loads(meta.get("train_args", "{}"))
    options = {key: trained[key] for key in FROM_BASE if key in trained}
    for key in ("content_layers", "style_layers"):
        if key in options:
            options[key] = tuple(options[key])
    return {**options, "width": float(meta["width"]), "upsample": meta["upsample"], "norm": "conditional"}


def extended(base: str | os.PathLike, new: int) -> tuple[TransformerNet, int, str]:
    """(the base network with `new` more styles, in training mode with only their norm parameters
    trainable; how many styles the base holds; the base file's SHA-256). New styles start at the
    mean of the base's: a painting the network has not seen, drawn as an average of those it has."""
    path = find_model(base)
    net, meta = load_model(path)
    held = len(style_names(meta))
    grown = TransformerNet(net.config["width"], "conditional", net.config["upsample"], held + new)
    state = net.state_dict()
    for name, module in grown.named_modules():
        if isinstance(module, ConditionalInstanceNorm):
            for part in ("weight", "bias"):
                table = state[f"{name}.{part}"]
                state[f"{name}.{part}"] = torch.cat([table, table.mean(0, keepdim=True).expand(new, -1)])
    grown.load_state_dict(state)
    for parameter in grown.parameters():
        parameter.requires_grad_(False)
    for parameter in trainable(grown):
        parameter.requires_grad_(True)
    return grown, held, file_sha256(path)


def trainable(net: TransformerNet) -> list[torch.nn.Parameter]:
    """The conditional norms' gamma and beta tables (only the new styles' rows receive gradients)."""
    return [p for m in net.modules() if isinstance(m, ConditionalInstanceNorm) for p in (m.weight, m.bias)]


def new_rows(net: TransformerNet, held: int) -> dict[str, torch.Tensor]:
    """The tensors a new-style file stores: each conditional norm's rows after the base's."""
    return {f"{name}.{part}": getattr(module, part).detach()[held:].float().cpu().contiguous()
            for name, module in net.named_modules() if isinstance(module, ConditionalInstanceNorm)
            for part in ("weight", "bias")}
