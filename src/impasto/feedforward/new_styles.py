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
import statistics

import torch

from ..core.errors import ImpastoError
from ..core.files import file_sha256
from ..core.images import resize_long_side, to_tensor
from ..losses.terms import normalised_gram, style_reconstruction_loss
from ..nets.transformer import ConditionalInstanceNorm, TransformerNet
from .model_files import find_model, load_model, read_metadata, style_names

# The recipe's defaults for a new style on the shipped network (bench/RESULTS.md: how they were
# chosen); any of them may be given. The loss weights and layers are the base network's own.
RECIPE = {"iterations": 900, "lr": 0.02, "lr_decay": 0.2, "image_size": 192, "batch_size": 4, "ema": 0.0,
          "checkpoint_every": 100, "compile": "off"}
# lambda_s = STYLE_PULL / d(y_s) where the style weight is not given (style_weight below):
# 2 (the shipped styles' lambda_s) times the median of d over the shipped network's eight paintings
# (`scripts/new_styles.py --pull` computes it).
STYLE_PULL = 3.0e6
PULL_PHOTOS = 16
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
    """The conditional norms' gamma and beta tables (only the new styles' rows receive gradients),
    less each residual block's last beta: it has no effect (ResidualBlock), so Adam would only walk
    it on noise (seen: to 11 in 900 steps, which cost bf16 passes their precision)."""
    dead = {id(block.dead_shift) for block in net.residuals}
    return [p for m in net.modules() if isinstance(m, ConditionalInstanceNorm) for p in (m.weight, m.bias)
            if id(p) not in dead]


def new_rows(net: TransformerNet, held: int) -> dict[str, torch.Tensor]:
    """The tensors a new-style file stores: each conditional norm's rows after the base's."""
    return {f"{name}.{part}": getattr(module, part).detach()[held:].float().cpu().contiguous()
            for name, module in net.named_modules() if isinstance(module, ConditionalInstanceNorm)
            for part in ("weight", "bias")}


def style_pull(vgg: torch.nn.Module, painting: torch.Tensor, photos: torch.Tensor, layers) -> float:
    """d(y_s) = median over photos x of sum_j l_style^j(x, y_s): how far the style term pulls a photo
    before any training (the photos themselves scored as the output)."""
    with torch.no_grad():
        target = vgg(painting, list(layers))
        grams = {layer: normalised_gram(target[layer]) for layer in layers}
        pulls = []
        for photo in photos:
            features = vgg(photo[None], list(layers))
            pulls.append(sum(float(style_reconstruction_loss(features[layer], grams[layer])) for layer in layers))
    return statistics.median(pulls)


def style_weight(pulls: list[float]) -> float:
    """The style weight of new paintings whose d(y_s) are `pulls`: STYLE_PULL / d, two significant
    figures (so a resumed run computes the same on any machine), for several paintings at once
    their median's (the objective has one style weight).

    Why: the shipped styles share lambda_s = 2 though their pulls differ severalfold, and at that
    weight a painting with a weak pull (a dull palette, a fine texture) is learned faint, its style
    outweighed by the content term; scaled so, each new painting pulls a photo as hard as the
    median shipped painting does."""
    weight = STYLE_PULL / statistics.median(pulls)
    return float(f"{weight:.2g}")


def painting_pulls(vgg: torch.nn.Module, paintings, photos, size: int, style_size: int, layers) -> list[float]:
    """d(y_s) of each painting (PIL images, read at `style_size` as training reads them) over
    pull_photos(photos, size)."""
    sample = pull_photos(photos, size)
    return [style_pull(vgg, to_tensor(resize_long_side(painting, style_size)), sample, layers)
            for painting in paintings]


def pull_photos(photos, size: int) -> torch.Tensor:
    """The photos d(y_s) is taken over: PULL_PHOTOS of the training photos spread over the folder,
    each a crop as training takes them, from a fixed seed."""
    count = min(PULL_PHOTOS, len(photos))
    indices = [round(i * (len(photos) - 1) / max(1, count - 1)) for i in range(count)]
    return torch.stack([photos.crop(i, size, torch.Generator().manual_seed(i)) for i in indices])
