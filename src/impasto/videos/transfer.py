"""Stylizing video with a feed-forward network, frame after frame, without flicker.

Each frame goes through the network; with `temporal`, the previous stylized frame is warped into
the current one by the optical flow between the *input* frames and blended in wherever the flow is
reliable (Ruder, Dosovitskiy & Brox 2016's warped previous frame and consistency check, applied to
the network's output):

    O_t = N_t + lambda M_t (warp(O_{t-1}) - N_t)

with N_t the network's output, M_t the reliable pixels and lambda the temporal weight. Flicker is
measured as Lai et al. (ECCV 2018) measure it: the warping error of the output, of the network's own
frame-by-frame output, and of the input clip. Frames stream through memory one at a time.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ..core.config import VideoConfig, loss_weights
from ..core.errors import ImpastoError
from ..core.files import atomic_path, refuse_overwriting_inputs
from ..core.images import load_image, long_side_size, resize_long_side, to_tensor
from ..core.options import configure
from ..core.progress import ProgressCallback, Reporter
from ..core.results import Result, when_any
from ..feedforward.stylize import make_runner, preserve_colour
from ..nets import cached_vgg
from .codec import Writer, check_frame_size, check_video_output, decode, open_clip, packets, to_rgb
from .flow import FlowEstimator, grey, reliable, warp, warping_error

if TYPE_CHECKING:
    from ..core.cache import NetworkCache

log = logging.getLogger("impasto")

__all__ = ["VideoConfig", "video"]


@dataclass
class Motion:
    """How the previous frame maps onto this one, from the input's optical flow."""

    forward: np.ndarray    # flow(previous, current)
    backward: np.ndarray   # flow(current, previous)
    trusted: np.ndarray    # (H, W, 1) 1 where the current frame's flow is reliable, else 0
    warped: np.ndarray     # the previous result warped into the current frame


class Temporal:
    """The state carried from frame to frame (the previous input, the network's previous output,
    the previous result) and the warping errors measured so far."""

    def __init__(self, config: VideoConfig):
        self.config = config
        self.flows = (FlowEstimator(config.flow), FlowEstimator(config.flow))  # forward, backward
        self.previous: tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray] | None = None
        self.errors: dict[str, list[float]] = {"output": [], "frame_by_frame": [], "input": []}
        self.seconds = {"temporal": 0.0, "measure": 0.0}

    def motion(self, g: np.ndarray) -> Motion | None:
        """The flows from the previous frame to this one (grey `g`), where there is a previous frame
        and something needs them."""
        if self.previous is None or not (self.config.temporal or self.config.measure):
            return None
        began = time.perf_counter()
        # The two flows are independent: one on a second thread (OpenCV releases the GIL); each
        # direction keeps its own DIS state.
        with ThreadPoolExecutor(1) as pool:
            backward_job = pool.submit(self.flows[1], g, self.previous[0])
            forward = self.flows[0](self.previous[0], g)
            backward = backward_job.result()
        trusted = reliable(backward, forward)[..., None].astype(np.float32) if self.config.temporal else None
        warped = warp(self.previous[3], backward) if self.config.temporal else None
        self.seconds["temporal"] += time.perf_counter() - began
        return Motion(forward, backward, trusted, warped)

    def blend(self, network: np.ndarray, motion: Motion | None) -> np.ndarray:
        """O_t = N_t + lambda M_t (warp(O_{t-1}) - N_t)."""
        if motion is None or not self.config.temporal:
            return network
        began = time.perf_counter()
        result = network + self.config.temporal_weight * motion.trusted * (motion.warped - network)
        self.seconds["temporal"] += time.perf_counter() - began
        return result

    def advance(self, g: np.ndarray, image: np.ndarray, network: np.ndarray | None, result: np.ndarray,
                motion: Motion | None) -> None:
        """Measure this frame against the previous one (Lai et al.), then make it the previous."""
        if motion is not None and self.config.measure:
            began = time.perf_counter()
            _, previous_image, previous_network, previous_result = self.previous
            mask = reliable(motion.forward, motion.backward)
            self.errors["output"].append(warping_error(previous_result, result, motion.forward, mask))
            if network is not None:
                self.errors["frame_by_frame"].append(
                    warping_error(previous_network, network, motion.forward, mask))
            self.errors["input"].append(warping_error(previous_image, image, motion.forward, mask))
            self.seconds["measure"] += time.perf_counter() - began
        self.previous = (g, image, network, result)

    def summary(self) -> dict[str, float | None]:
        def mean(values: list[float]) -> float | None:
            return float(np.mean(values)) if values else None
        # Frame by frame: the network's own outputs; with --method optimize, known only when the
        # output is itself frame by frame (a second, independent optimization would double the cost).
        by_frame = self.errors["frame_by_frame"] or ([] if self.config.temporal else self.errors["output"])
        return {"warping_error": mean(self.errors["output"]),
                "warping_error_frame_by_frame": mean(by_frame),
                "warping_error_input": mean(self.errors["input"])}


class FrameOptimizer:
    """--method optimize: Gatys et al. on every frame, each starting from the previous result warped
    into it (the frame itself where the flow is unreliable) with Ruder et al.'s temporal loss on the
    reliable pixels, as one more term of the shared objective."""

    def __init__(self, config: VideoConfig, cache: "NetworkCache"):
        if config.style is None:
            raise ImpastoError("--method optimize needs the painting: --style IMAGE")
        from ..core.config import OptimizeConfig

        self.config, self.recipe = config, OptimizeConfig()
        self.placement = cache.placement(config.device, config.precision)
        r = self.recipe
        self.vgg = cached_vgg(cache, list(r.content_layers) + list(r.style_layers), r.network, r.pooling, r.weights,
                              self.placement)
        self.painting = load_image(config.style, "style image")
        self.targets = None  # objective.Targets, made at the first frame's size

    def __call__(self, image: np.ndarray, motion: Motion | None) -> np.ndarray:
        import torch

        # here, not at the top: the fast method on OpenVINO never imports torch (half the memory)
        from ..losses.objective import Objective, Targets, content_targets, style_targets
        from ..optimization.pixels import optimize_stage

        r, device = self.recipe, self.placement.device
        frame = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None].to(device)
        if self.targets is None:  # the painting's Grams, at the frames' size, once
            painting = resize_long_side(self.painting, max(frame.shape[-2:]))
            layers = {layer: 1.0 / len(r.style_layers) for layer in r.style_layers}
            self.targets = Targets({}, style_targets(self.vgg, [to_tensor(painting).to(device)], [1.0],
                                                     r.style_layers), layers)
        targets = dataclasses.replace(self.targets, content=content_targets(self.vgg, frame, r.content_layers))
        weights = loss_weights(r)
        start, iterations = frame, self.config.iterations
        if motion is not None and self.config.temporal:
            trusted = torch.from_numpy(np.ascontiguousarray(motion.trusted.transpose(2, 0, 1)))[None].to(device)
            warped = torch.from_numpy(np.ascontiguousarray(motion.warped.transpose(2, 0, 1)))[None].to(device)
            start = trusted * warped + (1 - trusted) * frame
            targets.temporal = (warped, trusted.expand_as(warped))
            weights["temporal"] = self.config.temporal_loss_weight
            iterations = max(1, iterations // 2)
        stage = optimize_stage(Objective(self.vgg, targets, weights), start, iterations, "lbfgs",
                               range_weight=r.range_weight)
        return stage.image[0].permute(1, 2, 0).cpu().numpy()


def _check_complete(clip, last: float, end: float | None) -> None:
    """A file that stops well short of the length its header declares is truncated: refuse it
    rather than write a clip silently cut short."""
    declared = clip.declared_end()
    if declared is None:
        return
    wanted = declared if end is None else min(end, declared)
    slack = max(0.5, 3 / float(clip.fps))
    if last + slack < wanted:
        raise ImpastoError(f"'{clip.path}' stops at {last:.2f} s of the {declared:.2f} s it declares "
                           "(truncated or damaged); nothing was written")


def video(input: str | os.PathLike, output: str | os.PathLike, model: str | os.PathLike | None = None,
          config: VideoConfig | None = None, progress: ProgressCallback | bool | None = None,
          cache: "NetworkCache | None" = None, **options) -> "VideoResult":
    """Stylize a clip with a style network and write it to `output` (atomically: nothing is left
    behind on failure, and an existing file is only replaced by a complete one). The VideoResult's
    runtime is what ran the style network (None for the optimize method); its timings, the seconds
    spent decoding, in the network, in the temporal step, measuring and encoding. A Progress event
    per frame (`iterations` is the estimated frame count)."""
    config = configure(VideoConfig, config, **options)
    began = time.perf_counter()
    output = check_video_output(output)
    refuse_overwriting_inputs([output], [input, config.style])
    clip = open_clip(input)
    try:
        size = long_side_size(clip.size, config.size) if config.size else clip.size
        if config.method == "fast" and (config.style is not None or config.mask):  # any painting, one pass a frame
            from ..arbitrary.stylize import check_options
            from ..arbitrary.stylize import make_runner as painting_runner
            from ..core.cache import default_cache

            check_options(config, model)
            runner, optimizer = painting_runner(config.style, config, cache or default_cache(), inputs=1_000_000,
                                                few_sizes=True, steady=True), None
        elif config.method == "fast":
            # many frames of one size: OpenVINO on a CPU (compiled once)
            runner, optimizer = make_runner(model, config, cache, inputs=1_000_000, few_sizes=True), None
        else:
            from ..core.cache import default_cache

            runner, optimizer = None, FrameOptimizer(config, cache or default_cache())
        end = None if config.duration is None else config.start + config.duration
        check_frame_size(size)
        total = clip.estimated_frames(config.start, config.duration)
        report = Reporter(progress, "video")
        temporal = Temporal(config)
        frames, last = 0, 0.0
        timings = {"decode": 0.0, "network": 0.0, "encode": 0.0}
        with atomic_path(output) as tmp:
            writer = Writer(tmp, output.suffix.lower(), clip, size, config.start, end)
            try:
                for packet in packets(clip, config.start):
                    if packet.stream is clip.audio:
                        writer.write_audio(packet)
                        continue
                    if frames and end is not None and packet.pts is not None and \
                            float(packet.pts * packet.time_base) >= end + 1.0:
                        break  # past the part asked for, and past its audio
                    tick = time.perf_counter()
                    for frame in decode(packet, clip):
                        moment = frame.time if frame.time is not None else 0.0
                        if moment < config.start - 1e-6 or (end is not None and moment >= end - 1e-6):
                            continue
                        rgb = to_rgb(frame, size)
                        tock = time.perf_counter()
                        timings["decode"] += tock - tick
                        image = rgb.astype(np.float32) / 255.0
                        g = grey(rgb)
                        flows_before = temporal.seconds["temporal"]
                        motion = temporal.motion(g)
                        if optimizer is None:
                            planes = np.ascontiguousarray(image.transpose(2, 0, 1)[None])
                            network = preserve_colour(runner(planes), planes, config.preserve_color)[0].transpose(1, 2, 0)
                            result = temporal.blend(network, motion)
                        else:
                            network, result = None, optimizer(image, motion)
                        tick = time.perf_counter()
                        timings["network"] += tick - tock - (temporal.seconds["temporal"] - flows_before)
                        temporal.advance(g, image, network, result, motion)
                        tock = time.perf_counter()
                        writer.write_frame((np.clip(result, 0, 1) * 255.0 + 0.5).astype(np.uint8), frame)
                        tick = time.perf_counter()
                        timings["encode"] += tick - tock
                        frames += 1
                        last = moment
                        report(iteration=frames, iterations=max(total, frames))
                if frames == 0:
                    raise ImpastoError(f"'{input}' has no video frames"
                                       + (f" from {config.start:g} s" if config.start else ""))
                _check_complete(clip, last, end)
                writer.close()
            except BaseException:
                writer.abort()
                raise
        has_audio, notes = writer.has_audio, writer.notes
        for note in notes:
            log.warning("note: %s", note)
    finally:
        clip.close()
    seconds = time.perf_counter() - began
    result = VideoResult(str(output), frames, size[0], size[1], float(clip.fps), round(seconds, 3),
                         round(frames / seconds, 3), has_audio, **temporal.summary(),
                         runtime=None if runner is None else runner.runtime,
                         timings={k: round(v, 3) for k, v in {**timings, **temporal.seconds}.items()}, notes=notes)
    report(phase="done", iteration=frames, iterations=frames)
    return result


@dataclass
class VideoResult(Result):
    output: str
    frames: int
    width: int
    height: int
    fps: float
    seconds: float
    frames_per_second: float
    audio: bool
    warping_error: float | None = None                 # the output's (Ruder et al.'s flicker measure)
    warping_error_frame_by_frame: float | None = None  # the network's own, frame by frame
    warping_error_input: float | None = None           # the input clip's, for scale
    runtime: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    notes: list[str] = when_any()                      # what was made up for the input (its timing)

    def line(self) -> str:
        flicker = (f"; warping error {self.warping_error:.4g} (frame by frame "
                   f"{self.warping_error_frame_by_frame:.4g}, input {self.warping_error_input:.4g})"
                   if self.warping_error is not None else "")
        return (f"wrote {self.output} ({self.frames} frames, {self.width}x{self.height}, "
                f"{self.frames_per_second:.1f} frames/s{flicker})")
