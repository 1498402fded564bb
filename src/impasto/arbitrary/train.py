"""Training the arbitrary-style network (Ghiasi et al. 2017, section 3.2), on a CPU in chunks.

    min_{P, T, W}  E_{x, s} [ lambda_c l_feat^relu2_2(f_W(x, P(s)), x)
                              + lambda_s sum_j l_style^j(f_W(x, P(s)), s) + lambda_TV l_TV ]

over random crops x of the photos and paintings s of the painting collection, each sample with its
own painting (and, for a share of them, the photo itself: the identity its own style should give).
The transformation network starts from the shipped one (network.from_base) rather than from
scratch: a CPU affords thousands of steps where the paper took millions. Checkpoints hold every
weight, Adam's state and the history; the batches are pure functions of (seed, step), so a resumed
run is the run it continues.
"""

from __future__ import annotations

import dataclasses
import json
import random
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image
from torch.optim.swa_utils import AveragedModel

from ..core.config import ArbitraryTrainConfig
from ..core.errors import Cancelled, ImpastoError, first_line
from ..core.files import check_writable
from ..core.images import load_image, resize_long_side, to_tensor
from ..core.options import configure
from ..core.progress import ProgressCallback, Reporter
from ..core.results import Result, hidden
from ..losses import terms
from ..nets import cached_vgg
from ..feedforward.data import PhotoFolder, batch_indices, load_batch
from ..feedforward.model_files import load_model
from ..feedforward.train import _ema_update, save_checkpoint
from .network import ArbitraryNet, from_base, save_arbitrary
from .prediction import STYLE_LAYERS, statistics, style_weights



@dataclass
class ArbitraryTrainResult(Result):
    output: Path
    iterations: int
    seconds: float
    final_losses: dict[str, float]
    history: list[dict[str, float]] = hidden(default_factory=list)


def paintings_split(folder: str | Path, count: int) -> PhotoFolder:
    """The painting collection less its held-out `count` (feedforward.data.held_out's rule: the
    paintings whose path hash is smallest)."""
    return PhotoFolder(folder, count)


def encode(vgg, painting: torch.Tensor, layers) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """A painting's statistics (P's input) and its Grams at the style `layers`, from one VGG pass."""
    with torch.no_grad():
        features = vgg(painting, list(dict.fromkeys([*STYLE_LAYERS, *layers])))
    return statistics(features), {l: terms.normalised_gram(features[l].float()) for l in layers}


def sample_painting(paintings: PhotoFolder, index: int, sizes: tuple[int, int], rng: random.Random) -> torch.Tensor:
    image = load_image(paintings.paths[index], "painting")
    if rng.random() < 0.5:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return to_tensor(resize_long_side(image, rng.randint(*sizes)))


def train_arbitrary(paintings: str | Path, photos: str | Path, output: str | Path,
                    config: ArbitraryTrainConfig | None = None, resume: bool = False,
                    progress: ProgressCallback | None = None, **options) -> ArbitraryTrainResult:
    """Train (or, with `resume`, continue) the arbitrary-style network; write it to `output`
    (and its checkpoint beside it, output.ckpt, every `checkpoint_every` steps)."""
    from ..core.cache import default_cache

    config = configure(ArbitraryTrainConfig, config, **options)
    output = Path(output)
    check_writable(output.parent)
    ckpt = output.with_suffix(".ckpt")
    cache = default_cache()
    placement = cache.placement(config.device, config.precision)
    report = Reporter(progress, "train")
    photo_set = PhotoFolder(photos, config.hold_out)
    painting_set = paintings_split(paintings, config.hold_out_paintings)
    vgg = cached_vgg(cache, [*config.content_layers, *config.style_layers, *STYLE_LAYERS], placement=placement)

    base, _ = load_model(config.base)
    net = placement.module(from_base(base, seed=config.seed).train(), cast=False)
    convolutions = [p for n, p in net.transformer.named_parameters() if p.ndim == 4]
    rest = [p for n, p in net.named_parameters() if p.ndim != 4]
    groups = [{"params": rest, "lr": config.lr}]
    if config.conv_lr:
        groups.append({"params": convolutions, "lr": config.conv_lr})
    else:
        for p in convolutions:
            p.requires_grad_(False)
    optimizer = torch.optim.Adam(groups)
    start, history, elapsed, averaged_state = 0, [], 0.0, None
    if resume:
        start, history, elapsed, averaged_state = _resume(ckpt, net, optimizer, config)
    elif ckpt.exists():
        raise ImpastoError(f"a checkpoint of an earlier run is at '{ckpt}': continue it with resume")
    else:
        _standardise(net, vgg, painting_set, config, placement)
    # Polyak averaging, as feedforward.train's `ema`: Adam at a constant rate leaves the weights
    # jittering from snapshot to snapshot (the held-out measure with them), so the network written
    # is a moving average of the weights. A checkpoint without one starts it at its weights.
    averaged = AveragedModel(net, multi_avg_fn=_ema_update(config.ema)) if config.ema else None
    if averaged is not None:
        if averaged_state is not None:
            averaged.load_state_dict(averaged_state)
        else:
            averaged.n_averaged.fill_(start)

    def save(done: int) -> None:
        _save(ckpt, net, optimizer, done, history, time.perf_counter() - began, config, averaged)

    began = time.perf_counter() - elapsed
    for step in range(start, config.iterations):
        losses = _step(net, optimizer, vgg, photo_set, painting_set, config, placement, step)
        if averaged is not None:
            averaged.update_parameters(net)
        history.append(losses)
        done = step + 1
        if done % config.checkpoint_every == 0 or done == config.iterations:
            save(done)
        try:
            report(iteration=done, iterations=config.iterations, losses=losses)
        except Cancelled:
            save(done)
            raise
    seconds = time.perf_counter() - began
    tail = history[-100:]
    final = {k: sum(h[k] for h in tail) / len(tail) for k in tail[0]} if tail else {}
    save_arbitrary(averaged.module if averaged is not None else net, output, {
        "train_args": json.dumps(dataclasses.asdict(config)), "iterations": str(config.iterations),
        "seconds": f"{seconds:.1f}", "final_losses": json.dumps(final), "data_images": str(len(photo_set)),
        "paintings": str(len(painting_set))})
    report(phase="done", iteration=config.iterations, iterations=config.iterations, losses=final)
    return ArbitraryTrainResult(output, config.iterations, seconds, final, history)


STANDARDISE_FROM = 256  # paintings whose statistics set P's input standardisation


def _standardise(net: ArbitraryNet, vgg, paintings: PhotoFolder, config: ArbitraryTrainConfig, placement) -> None:
    """P's input shift and scale from the statistics of the collection's first paintings, each at
    the middle of the sizes training draws."""
    side = sum(config.style_sizes) // 2
    stats = [encode(vgg, placement.tensor(to_tensor(resize_long_side(load_image(path, "painting"), side))), [])[0]
             for path in paintings.paths[:STANDARDISE_FROM]]
    if len(stats) > 1:
        net.prediction.standardise(torch.cat(stats).float())


@torch.enable_grad()  # a caller may have turned gradients off (torch.set_grad_enabled(False))
def _step(net: ArbitraryNet, optimizer, vgg, photos: PhotoFolder, paintings: PhotoFolder,
          config: ArbitraryTrainConfig, placement, step: int) -> dict[str, float]:
    """One Adam step: each photo of the batch with its own painting (or itself)."""
    batch = placement.tensor(load_batch(photos, batch_indices(step, config.batch_size, len(photos), config.seed),
                                        config.image_size, config.seed))
    chosen = batch_indices(step, config.batch_size, len(paintings), config.seed + 1)
    rng = random.Random(config.seed * 1_000_003 + step)
    style_layers, content_layers = list(config.style_layers), list(config.content_layers)
    stats, grams, own = [], {l: [] for l in style_layers}, []
    for i, (_, index) in enumerate(chosen):
        own.append(rng.random() < config.self_style)
        if own[-1]:
            painting = batch[i:i + 1].float()
        else:
            painting = placement.tensor(sample_painting(paintings, index, tuple(config.style_sizes), rng))
        s, g = encode(vgg, painting, style_layers)
        stats.append(s)
        for l in style_layers:
            grams[l].append(g[l])
    with torch.no_grad():
        targets = vgg(batch, list(dict.fromkeys(content_layers + (style_layers if config.pull_exponent else []))))
    with placement.autocast():
        embedding = net.prediction(torch.cat(stats))
        stylized = net.transformer(batch, style_weights(embedding.float()))
    features = vgg(stylized.float(), list(dict.fromkeys(content_layers + style_layers)))
    content = sum(terms.feature_reconstruction_loss(features[l], targets[l]) for l in content_layers)
    grams = {l: torch.cat(grams[l]) for l in style_layers}
    if config.pull_exponent:
        weights = _pull_weights(targets, grams, own, config)
        style = sum(w * sum(terms.style_reconstruction_loss(features[l][i:i + 1], grams[l][i:i + 1])
                            for l in style_layers) for i, w in enumerate(weights)) / len(weights)
    else:
        style = sum(terms.style_reconstruction_loss(features[l], grams[l]) for l in style_layers)
    tv = terms.total_variation(stylized.float())
    total = config.content_weight * content + config.style_weight * style + config.tv_weight * tv
    if not torch.isfinite(total):
        raise ImpastoError(f"training diverged at step {step + 1}; lower the learning rates or the weights")
    optimizer.zero_grad(set_to_none=True)
    total.backward()
    optimizer.step()
    return {k: float(v.detach()) for k, v in (("content", content), ("style", style), ("tv", tv), ("total", total))}


def _pull_weights(photo_features, grams, own, config) -> list[float]:
    """Each sample's style weight over lambda_s: (d / pull_reference) ** pull_exponent, d the style
    loss of the photo itself against its painting (how far the painting pulls that photo). A sample
    whose painting is its own photo keeps 1."""
    weights = []
    for i, is_own in enumerate(own):
        if is_own:
            weights.append(1.0)
            continue
        d = sum(float(terms.style_reconstruction_loss(photo_features[l][i:i + 1].float(), grams[l][i:i + 1]))
                for l in grams)
        weights.append((d / config.pull_reference) ** config.pull_exponent)
    return weights


def _save(ckpt: Path, net, optimizer, done: int, history: list, seconds: float, config, averaged=None) -> None:
    save_checkpoint(ckpt, {"model": net.state_dict(), "optimizer": optimizer.state_dict(), "iteration": done,
                           "history": history, "seconds": seconds, "config": _comparable(config),
                           **({"ema": averaged.state_dict()} if averaged is not None else {})})


def written_weights(state: dict) -> dict:
    """The weights a checkpoint's network is written with: the moving average where the run keeps
    one (AveragedModel's state: the network's under "module.", and its step count), else the last."""
    averaged = state.get("ema")
    if not averaged:
        return state["model"]
    return {k.removeprefix("module."): v for k, v in averaged.items() if k.startswith("module.")}


def _comparable(config: ArbitraryTrainConfig) -> dict:
    data = dataclasses.asdict(config)
    for key in ("device", "progress", "checkpoint_every", "iterations", "lr", "conv_lr", "ema"):
        data.pop(key)
    return json.loads(json.dumps(data))


def _resume(ckpt: Path, net, optimizer, config) -> tuple[int, list, float, dict | None]:
    if not ckpt.is_file():
        raise ImpastoError(f"no checkpoint to resume from at '{ckpt}'")
    try:
        state = torch.load(ckpt, map_location="cpu", weights_only=True)
        # an option added since the checkpoint was made counts as its default, which that run used
        saved = {**_comparable(ArbitraryTrainConfig()), **state["config"]}
        if saved != _comparable(config):
            raise ImpastoError(f"checkpoint '{ckpt}' was made with other training options")
        net.load_state_dict(state["model"])
        if state["optimizer"] is not None:  # None: seeded from a model file, a fresh Adam
            optimizer.load_state_dict(state["optimizer"])
        for group, lr in zip(optimizer.param_groups, (config.lr, config.conv_lr)):
            group["lr"] = lr
    except ImpastoError:
        raise
    except Exception as exc:  # noqa: BLE001 - unpickling and shape errors come in many types
        raise ImpastoError(f"'{ckpt}' is not a usable checkpoint ({first_line(exc)[:120]})") from None
    return int(state["iteration"]), list(state["history"]), float(state["seconds"]), state.get("ema")
