"""Training a feed-forward style network (Johnson, Alahi & Fei-Fei, ECCV 2016).

min_W  E_x [ lambda_c l_feat^relu2_2(f_W(x), x) + lambda_s sum_j l_style^j(f_W(x), y_s) + lambda_TV l_TV(f_W(x)) ]

over random crops x of a photo collection, with the fixed VGG16 loss network. Runs on one device or
under `torchrun` (DistributedDataParallel: each process takes its shard of every global batch).
Checkpoints hold the model, optimizer, RNG state and position in the data, so --resume continues
exactly where the last checkpoint left off.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import torch
import torch.distributed as dist
from PIL import Image
from torch.optim.swa_utils import AveragedModel

from ..core.config import COMPILE_FROM, TrainConfig
from ..core.errors import Cancelled, ImpastoError, OutputError, first_line
from ..core.files import atomic_path, check_writable, refuse_overwriting_inputs
from ..core.images import check_side, load_image, resize_long_side, to_tensor
from ..core.options import configure
from ..core.progress import Progress, ProgressCallback, Reporter, chain
from ..core.results import Result, hidden
from ..losses.objective import johnson_objective, pick_styles
from ..nets import cached_vgg
from ..nets.transformer import TransformerNet
from .data import PhotoFolder, batch_indices, batch_styles, load_batch
from .model_files import save_model

if TYPE_CHECKING:
    from ..core.cache import NetworkCache
    from ..core.placement import Placement

log = logging.getLogger("impasto")

__all__ = ["TrainConfig", "TrainResult", "train"]


# --- checkpoints --------------------------------------------------------------------------------

def model_path(output: str | os.PathLike) -> Path:
    """The model file: OUTPUT, with .safetensors added where it has another suffix or none."""
    output = Path(output)
    if output.suffix == ".safetensors":
        return output
    return output.with_suffix(output.suffix + ".safetensors") if output.suffix else output.with_suffix(".safetensors")


def checkpoint_path(output: Path) -> Path:
    return output.with_suffix(".ckpt")


LOSS_TERMS = ("content", "style", "tv", "total")  # what each step of the history records
CHECKPOINT_KEYS = {"model": dict, "optimizer": dict, "rng": torch.Tensor, "iteration": int,
                   "history": list, "seconds": float, "config": dict}


def load_checkpoint(path: Path) -> dict:
    """A checkpoint's state. Read with weights_only=True: tensors and plain data only, so a crafted
    file cannot run code; anything else is refused in one line."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - unpickling errors come in many types
        reason = first_line(exc)
        raise ImpastoError(f"'{path}' is not a usable impasto checkpoint ({reason[:120]})") from None
    if not isinstance(state, dict):
        raise ImpastoError(f"'{path}' is not an impasto checkpoint (it holds no state dictionary)")
    for key, kind in CHECKPOINT_KEYS.items():
        if not isinstance(state.get(key), kind):
            raise ImpastoError(f"'{path}' is not an impasto checkpoint ({key!r} is missing or malformed)")
    if not isinstance(state.get("ema", {}), dict):  # optional: the moving average of the weights
        raise ImpastoError(f"'{path}' is not an impasto checkpoint ('ema' is malformed)")
    if state["iteration"] < 0 or not all(
            isinstance(h, dict) and set(LOSS_TERMS) <= set(h) and all(isinstance(h[k], (int, float)) for k in LOSS_TERMS)
            for h in state["history"]):
        raise ImpastoError(f"'{path}' is not an impasto checkpoint (its iteration or loss history is malformed)")
    if not all(isinstance(v, torch.Tensor) for v in state["model"].values()):
        raise ImpastoError(f"'{path}' is not an impasto checkpoint (its model holds more than tensors)")
    if not all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point()):
        raise ImpastoError(f"checkpoint '{path}' holds weights that are not finite (a run that diverged); "
                           "resume from an earlier checkpoint or start afresh with --overwrite")
    return state


def save_checkpoint(path: Path, state: dict) -> None:
    with atomic_path(path) as tmp:  # a kill mid-write leaves the previous checkpoint intact
        torch.save(state, tmp)


# --- training -----------------------------------------------------------------------------------

@dataclass
class TrainResult(Result):
    output: Path
    iterations: int
    seconds: float
    final_losses: dict[str, float]
    skipped_files: int
    history: list[dict[str, float]] = hidden(default_factory=list)
    net: TransformerNet | None = hidden(None)   # the network written (the averaged one with `ema`)

    def line(self) -> str:
        return (f"wrote {self.output} ({self.iterations} iterations in {self.seconds:.0f} s; "
                f"loss curve {self.output.with_suffix('.loss.png')})")


def _distributed() -> tuple[int, int]:
    """(rank, world size); initialises torch.distributed when launched by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
    return (dist.get_rank(), dist.get_world_size()) if world > 1 else (0, 1)


StyleInput = "str | os.PathLike | Image.Image"


def train(style: "StyleInput | Sequence[StyleInput]", data: str | os.PathLike, output: str | os.PathLike,
          config: TrainConfig | None = None, resume: bool | str | os.PathLike = False,
          progress: ProgressCallback | bool | None = None,
          callback: Callable[[int, dict[str, float]], None] | None = None,
          cache: "NetworkCache | None" = None, **options) -> TrainResult:
    """Train a TransformerNet for `style` on the photos under `data`; write the model to `output`.
    Several paintings give one network for all of them with conditional instance normalization
    (Dumoulin et al. 2017): each batch holds samples of several styles, each matched to its own.

    `progress` receives a Progress event after every step (losses of that batch) and one at the
    end. Raising impasto.Cancelled from it stops training: a checkpoint is kept at the step reached
    (so `resume=True` continues exactly) and no model is written. (`callback(iteration, losses)`
    is the older form of the same.)"""
    from ..core.cache import default_cache

    cache = cache or default_cache()
    base = options.get("base", config.base if config is not None else None)
    weigh_paintings = False
    if base is not None and config is None:  # a new style: the recipe's defaults, the base's loss terms
        from .new_styles import RECIPE, base_options

        weigh_paintings = "style_weight" not in options  # then each painting's own (new_styles.style_weight)
        options = {**RECIPE, **base_options(base), **options}
    config = configure(TrainConfig, config, **options)
    output = model_path(output)
    if output.is_dir():
        raise OutputError(f"output '{output}' is a folder")
    check_writable(output.parent)  # now, not at the first checkpoint 500 steps in
    styles_given = list(style) if isinstance(style, (list, tuple)) else [style]
    refuse_overwriting_inputs([output, output.with_suffix(".loss.png"), checkpoint_path(output)], styles_given)
    rank, world = _distributed()
    if config.batch_size % world:
        raise ImpastoError(f"batch size {config.batch_size} does not split over {world} processes")
    placement = _process_placement(cache.placement(config.device, config.precision), world)
    report = Reporter(chain(progress, _old_callback(callback)) if rank == 0 else None, "train")

    # data: the paintings and the photos
    names, style_images, config = _styles(style, config)
    if config.base is not None and len(names) == 1:  # one new style: named as its file, so --model names it
        names = [output.stem]
    photos = PhotoFolder(data, config.hold_out)
    if photos.skipped and rank == 0:
        log.warning("note: skipped %d unreadable files under '%s'", photos.skipped, data)
    iterations = config.iterations
    if config.epochs is not None:
        iterations = math.ceil(config.epochs * len(photos) / config.batch_size)
    if weigh_paintings:
        config = dataclasses.replace(config, style_weight=_painting_weight(cache, config, style_images, photos))
    objective = _objective(cache, config, style_images, placement)

    # the network, its optimizer and its running average, from a checkpoint if resuming
    state = _State.new(config, placement, len(names))
    ckpt = Path(resume) if isinstance(resume, (str, os.PathLike)) else checkpoint_path(output)
    if resume:
        state.resume(ckpt, config, iterations, log_it=rank == 0)
    elif ckpt.exists() and not config.overwrite:
        raise ImpastoError(f"a checkpoint of an earlier run is at '{ckpt}': continue it with --resume, or "
                           "start afresh with --overwrite (which replaces it)")

    history = state.run(objective, photos, config, placement, iterations, len(names), ckpt, report, rank, world)
    seconds = time.perf_counter() - state.began
    net = state.averaged.module if state.averaged is not None else state.net
    final = _final_losses(history)
    if rank == 0:
        _write_model(net, output, config, names, style_images, iterations, seconds, final, history, len(photos),
                     state.held)
        report(phase="done", iteration=iterations, iterations=iterations, losses=final)
    if world > 1:
        dist.barrier()
    return TrainResult(output, iterations, seconds, final, photos.skipped, history, net)


def _process_placement(placement: "Placement", world: int) -> "Placement":
    """Under torchrun on GPUs, each process on its own GPU."""
    if placement.device.type == "cuda" and world > 1:
        placement = dataclasses.replace(placement, device=torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0"))))
        torch.cuda.set_device(placement.device)
    return placement


def _styles(style, config: TrainConfig) -> tuple[list[str], list[Image.Image], TrainConfig]:
    """The paintings, their names (which name the styles) and the normalization they need."""
    styles = list(style) if isinstance(style, (list, tuple)) else [style]
    if not styles:
        raise ImpastoError("give at least one style image")
    names = [Path(s).stem if not isinstance(s, Image.Image) else f"image{i}" for i, s in enumerate(styles)]
    if len(set(names)) < len(names):
        raise ImpastoError(f"style images need distinct names ({', '.join(names)}): they name the styles")
    if config.base is not None:
        return names, [load_image(s, "style image") for s in styles], config
    if len(styles) > 1 and config.norm != "conditional":
        if config.norm == "batch":
            raise ImpastoError("several styles need conditional normalization, not batch normalization")
        config = dataclasses.replace(config, norm="conditional")
    if len(styles) == 1 and config.norm == "conditional":
        raise ImpastoError("conditional normalization is for several styles; give more than one")
    return names, [load_image(s, "style image") for s in styles], config


def _objective(cache: "NetworkCache", config: TrainConfig, style_images: list[Image.Image], placement):
    """Johnson et al.'s objective on the loss network, each painting at its style size."""
    vgg = cached_vgg(cache, list(config.content_layers) + list(config.style_layers), config.network, "max",
                     config.weights, placement)
    paintings = [resize_long_side(image, config.style_size) for image in style_images]
    for painting in paintings:
        check_side(painting.size, "the style image at its style size", "use a larger style size")
    return johnson_objective(
        vgg, [to_tensor(p).to(placement.device) for p in paintings],
        config.content_layers, config.style_layers, config.content_weight, config.style_weight,
        config.tv_weight)


def _painting_weight(cache: "NetworkCache", config: TrainConfig, style_images: list[Image.Image],
                     photos: PhotoFolder) -> float:
    """The style weight new paintings are learned with where none is given (new_styles.style_weight),
    in fp32 on the CPU so that every machine computes the same."""
    from .new_styles import painting_pulls, style_weight

    vgg = cached_vgg(cache, list(config.style_layers), config.network, "max", config.weights,
                     cache.placement("cpu", "fp32"))
    return style_weight(painting_pulls(vgg, style_images, photos, config.image_size, config.style_size,
                                       config.style_layers))


@dataclass
class _State:
    """What a checkpoint holds: the network, Adam's state, the running average and the history."""

    net: TransformerNet
    optimizer: torch.optim.Optimizer
    averaged: AveragedModel | None
    start: int = 0
    history: list[dict[str, float]] = dataclasses.field(default_factory=list)
    elapsed: float = 0.0
    began: float = 0.0
    held: int = 0                 # styles of a base network before the ones being learned
    base_sha256: str | None = None

    @classmethod
    def new(cls, config: TrainConfig, placement, styles: int) -> "_State":
        torch.manual_seed(config.seed)
        if config.base is not None:  # new styles on a base network: their norm parameters alone
            from .new_styles import extended, trainable

            net, held, sha = extended(config.base, styles)
            net = placement.module(net.train(), cast=False)
            # The average of the frozen weights is not theirs to the last bit, but only the new
            # styles' rows of the averaged network are written (new_styles.new_rows).
            averaged = AveragedModel(net, multi_avg_fn=_ema_update(config.ema)) if config.ema else None
            return cls(net, torch.optim.Adam(trainable(net), lr=config.lr), averaged, held=held, base_sha256=sha)
        net = placement.module(TransformerNet(config.width, config.norm, config.upsample, styles), cast=False)
        # Polyak averaging: Adam at a constant rate leaves the weights jittering around their
        # trend, so with `ema` the model written is an exponential moving average of the weights
        # (buffers: the latest), kept in the checkpoint.
        averaged = AveragedModel(net, multi_avg_fn=_ema_update(config.ema)) if config.ema else None
        return cls(net, torch.optim.Adam(net.parameters(), lr=config.lr), averaged)

    def resume(self, ckpt: Path, config: TrainConfig, iterations: int, log_it: bool) -> None:
        if not ckpt.is_file():
            raise ImpastoError(f"no checkpoint to resume from at '{ckpt}'")
        state = load_checkpoint(ckpt)
        if state.get("base_sha256") != self.base_sha256:
            raise ImpastoError(f"checkpoint '{ckpt}' was made on another base network (--from) than this one")
        mine = _comparable(config)
        # only what must match now: checkpoints from before the learning rate could change hold it;
        # an option added since the checkpoint was made counts as its default, which that run used
        saved = {**_comparable(TrainConfig()), **state["config"]}
        if {k: v for k, v in saved.items() if k in mine} != mine:
            raise ImpastoError(f"checkpoint '{ckpt}' was made with other training options; "
                               "resume with the same options")
        try:
            self.net.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            torch.set_rng_state(state["rng"])
            if self.averaged is not None and state.get("ema"):
                self.averaged.load_state_dict(state["ema"])
            elif self.averaged is not None:  # from the weights reached so far, at the decay their step count gives
                self.averaged.module.load_state_dict(state["model"])
                self.averaged.n_averaged.fill_(state["iteration"])
        except (RuntimeError, ValueError, TypeError, KeyError) as exc:
            raise ImpastoError(f"checkpoint '{ckpt}' does not fit this network "
                               f"({first_line(exc)})") from None
        self.start, self.history, self.elapsed = state["iteration"], state["history"], state["seconds"]
        if self.start > iterations:  # the model would claim fewer iterations than it had
            raise ImpastoError(f"checkpoint '{ckpt}' is already at iteration {self.start}; "
                               f"ask for at least that many iterations")
        if log_it:
            log.info("resuming from '%s' at iteration %d", ckpt, self.start)

    def save(self, ckpt: Path, done: int, config: TrainConfig) -> None:
        save_checkpoint(ckpt, {
            "model": self.net.state_dict(), "optimizer": self.optimizer.state_dict(),
            "rng": torch.get_rng_state(), "iteration": done, "history": self.history,
            "seconds": time.perf_counter() - self.began, "config": _comparable(config),
            **({"base_sha256": self.base_sha256} if self.base_sha256 else {}),
            **({"ema": self.averaged.state_dict()} if self.averaged is not None else {})})

    def run(self, objective, photos: PhotoFolder, config: TrainConfig, placement, iterations: int, styles: int,
            ckpt: Path, report: Reporter, rank: int, world: int) -> list[dict[str, float]]:
        """The steps from `start` to `iterations`: a checkpoint every `checkpoint_every` steps and
        at the end (and at a cancel, so --resume continues from that very step)."""
        self.net.train()
        model = torch.nn.parallel.DistributedDataParallel(self.net) if world > 1 else self.net
        if config.compile == "on" or (config.compile == "auto" and iterations - self.start >= COMPILE_FROM):
            # Fuses the instance norms, pads and activations around the convolutions; the weights,
            # optimizer and checkpoints stay those of `net`.
            model = torch.compile(model)
        self.began = time.perf_counter() - self.elapsed
        saved = self.start
        for step in range(self.start, iterations):
            for group in self.optimizer.param_groups:
                group["lr"] = learning_rate(config, step, iterations)
            self.history.append(self.step(model, objective, photos, config, placement, step, styles, rank, world,
                                          saved))
            done = step + 1
            if rank == 0 and (done % config.checkpoint_every == 0 or done == iterations):
                if not all(torch.isfinite(p).all() for p in self.net.parameters()):
                    raise ImpastoError(f"training diverged at step {done} (the weights are not finite); "
                                       f"no model was written" + _kept(saved)
                                       + ". Lower the learning rate or the loss weights")
                self.save(ckpt, done, config)
                saved = done
            try:
                report(iteration=done, iterations=iterations, losses=self.history[-1])
            except Cancelled:
                if done != saved:  # keep the work: --resume continues from this very step
                    self.save(ckpt, done, config)
                raise
        return self.history

    @torch.enable_grad()  # a caller may have turned gradients off (torch.set_grad_enabled(False))
    def step(self, model, objective, photos: PhotoFolder, config: TrainConfig, placement, step: int, styles: int,
             rank: int, world: int, saved: int) -> dict[str, float]:
        """One Adam step on this process's shard of the global batch `step`; its losses."""
        samples = batch_indices(step, config.batch_size, len(photos), config.seed)[rank::world]
        batch = placement.tensor(load_batch(photos, samples, config.image_size, config.seed))
        rows = batch_styles(step, config.batch_size, styles)[rank::world]
        with placement.autocast():
            if self.net.styles > 1:  # the learned styles come after a base network's own
                every = torch.eye(self.net.styles, device=batch.device)
                stylized = model(batch, every[[self.held + row for row in rows]])
            else:
                stylized = model(batch)
        terms = (pick_styles(objective, rows) if styles > 1 else objective)(stylized.float(), batch)
        if not torch.isfinite(terms.total):
            raise ImpastoError(f"training diverged at step {step + 1} (the loss is not finite); no model "
                               f"was written{_kept(saved)}. Lower the learning rate or the loss weights")
        self.optimizer.zero_grad(set_to_none=True)
        terms.total.backward()
        if self.held:  # the base's own styles stay exactly as they are
            for parameter in self.optimizer.param_groups[0]["params"]:
                parameter.grad[:self.held] = 0
        self.optimizer.step()
        if self.averaged is not None:
            self.averaged.update_parameters(self.net)
        return terms.values()


def learning_rate(config: TrainConfig, step: int, iterations: int) -> float:
    """Adam's rate at `step`: config.lr, falling linearly to zero over the last `lr_decay` of the
    run. Adam at a constant rate leaves the weights jittering around their optimum by about the
    rate; annealing it at the end lets them settle (a resumed run takes the rate asked for now)."""
    decay_steps = config.lr_decay * iterations
    if decay_steps <= 0:
        return config.lr
    return config.lr * min(1.0, (iterations - step) / decay_steps)


def _kept(saved: int) -> str:
    return f"; the checkpoint at step {saved} is kept" if saved else ""


def _final_losses(history: list[dict[str, float]]) -> dict[str, float]:
    """The mean of the last 100 steps' losses (one batch's are noisy)."""
    tail = history[-100:] or [{"content": 0.0, "style": 0.0, "tv": 0.0, "total": 0.0}]
    return {key: sum(h[key] for h in tail) / len(tail) for key in tail[0]}


def _write_model(net: TransformerNet, output: Path, config: TrainConfig, names: list[str],
                 style_images: list[Image.Image], iterations: int, seconds: float, final: dict[str, float],
                 history: list[dict[str, float]], photos: int, held: int = 0) -> None:
    """The model file with what made it, and its loss curve beside it; never a model that is not
    finite. New styles on a base network (held: its styles) are written as their rows alone."""
    if not all(torch.isfinite(p).all() for p in net.state_dict().values() if p.is_floating_point()):
        raise ImpastoError("training ended with weights that are not finite; no model was written. Lower the "
                           "learning rate or the loss weights")
    metadata = {
        ("style_name" if len(names) == 1 else "style_names"): names[0] if len(names) == 1 else json.dumps(names),
        "style_sha256": ",".join(_image_sha256(image) for image in style_images),
        "train_args": json.dumps(dataclasses.asdict(config)),
        "iterations": str(iterations), "seconds": f"{seconds:.1f}",
        "final_losses": json.dumps(final), "data_images": str(photos),
    }
    if config.base is not None:
        from .model_files import find_model, save_new_styles
        from .new_styles import new_rows

        metadata["style_names"] = json.dumps(names)
        metadata.pop("style_name", None)
        save_new_styles(new_rows(net, held), output, find_model(config.base), metadata)
    else:
        save_model(net, output, metadata)
    plot_losses(history, output.with_suffix(".loss.png"), config, title=f"{output.stem}: training loss")


def seed_checkpoint(model: str | os.PathLike, checkpoint: str | os.PathLike, config: TrainConfig | None = None,
                    **options) -> int:
    """Write a checkpoint that continues training from a model file's weights (with a fresh Adam
    state), for when the run's own checkpoint is gone: `train(..., resume=True)` then goes on from
    the model's iteration count. The options must be the model's own. Returns that iteration."""
    from .model_files import load_model

    config = configure(TrainConfig, config, **options)
    net, meta = load_model(model)
    stored = json.loads(meta.get("train_args", "{}"))
    mine = _comparable(config)
    if {k: stored.get(k) for k in mine} != json.loads(json.dumps(mine)):
        raise ImpastoError(f"model '{model}' was trained with other options than these")
    optimizer = torch.optim.Adam(net.parameters(), lr=config.lr)
    iteration = int(meta.get("iterations", "0"))
    save_checkpoint(Path(checkpoint), {
        "model": net.state_dict(), "optimizer": optimizer.state_dict(), "rng": torch.get_rng_state(),
        "iteration": iteration, "history": [], "seconds": float(meta.get("seconds", "0")),
        "config": mine})
    return iteration


def _ema_update(decay: float):
    """AveragedModel's update for an exponential moving average whose memory grows with the step
    count, min(decay, (1 + n) / (10 + n)), so that a young run is not averaged with its random start."""
    def update(averaged: list[torch.Tensor], current: list[torch.Tensor], steps: torch.Tensor) -> None:
        n = int(steps)
        weight = 1.0 - min(decay, (1 + n) / (10 + n))
        for a, c in zip(averaged, current):
            a.lerp_(c, weight)
    return update


def _old_callback(callback: Callable[[int, dict[str, float]], None] | None) -> ProgressCallback | None:
    if callback is None:
        return None

    def consume(event: Progress) -> None:
        if event.phase == "iteration":
            callback(event.iteration, event.losses)
    return consume


def _comparable(config: TrainConfig) -> dict:
    """Options that must match for a resumed run to be the same run (the length may change, the
    learning rate and the crop size: lowering the rate once a run plateaus, or going on with smaller
    crops, is a schedule, not another run)."""
    data = dataclasses.asdict(config)
    for key in ("device", "progress", "checkpoint_every", "iterations", "epochs", "compile", "ema", "lr",
                "lr_decay", "image_size", "overwrite"):
        data.pop(key)
    return data


def _image_sha256(image: Image.Image) -> str:
    return hashlib.sha256(image.tobytes()).hexdigest()


def plot_losses(history: list[dict[str, float]], path: Path, config: TrainConfig, title: str = "") -> None:
    """The loss curve (log scale, with a moving average) beside the model."""
    if not history:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    steps = range(1, len(history) + 1)
    window = max(1, len(history) // 50)
    weights = {"total": 1.0, "content": config.content_weight, "style": config.style_weight}
    for key, colour in (("total", "black"), ("content", "tab:blue"), ("style", "tab:red")):
        values = [weights[key] * h[key] for h in history]
        smooth = [sum(values[max(0, i - window + 1): i + 1]) / len(values[max(0, i - window + 1): i + 1])
                  for i in range(len(values))]
        ax.plot(steps, values, color=colour, alpha=0.2, linewidth=0.8)
        ax.plot(steps, smooth, color=colour, label=key)
    ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel("weighted loss")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
