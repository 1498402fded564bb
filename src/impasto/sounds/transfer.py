"""Audio style transfer and texture synthesis (Ulyanov & Lebedev, "Audio texture synthesis and
style transfer", 2016): Gatys et al.'s losses on a spectrogram instead of a photo.

    S = log(1 + |STFT(x)|),  an "image" with one channel per frequency and one column per frame
    phi(S) = ReLU(W * S),    one layer of random 1-D convolutions over time (no training)
    L(S) = alpha L_content(phi(S), phi(S_c)) + beta L_style(G(phi(S)), G(phi(S_s)))

minimised by L-BFGS over S with impasto's own Objective (the same content and Gram losses as
images), then a waveform from |S| by Griffin-Lim phase recovery. Arrays in, arrays out: files are
read and written by the caller (see sound.py).
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from ..core.config import AudioConfig, loss_weights
from ..core.errors import ImpastoError
from ..core.options import configure
from ..core.progress import ProgressCallback, Reporter
from ..core.results import Result, hidden
from ..losses.objective import Objective, Targets, content_targets, style_targets
from ..optimization.pixels import optimize_stage
from .audio_files import mono_at, peak_normalise, read_audio

if TYPE_CHECKING:
    from ..core.cache import NetworkCache

__all__ = ["AudioConfig", "AudioResult", "audio"]

LAYER = "relu"           # the filter bank's one feature layer
HEADROOM = 1.25          # the optimized spectrogram spans 0 .. HEADROOM x the inputs' peak
SILENCE = 1e-5           # a clip whose peak stays below this is treated as silent
RANGE_WEIGHT = 10.0      # as optimize: a soft bound relative to the starting loss
# Torch's L-BFGS drops every curvature pair with y.s <= 1e-10. A spectrogram's loss, normalised to 1,
# has tiny gradients per bin, so every pair was dropped and each step stayed a plain -gradient
# step that barely moved; scaled by 1e3 the curvature pairs are kept. Without a line
# search, an occasional step overshoots (and is undone by the next): the best evaluated one is kept.
LOSS_SCALE = 1e3
Clip = "str | os.PathLike | tuple[np.ndarray, int]"


@dataclass
class AudioResult(Result):
    """The output waveform (float32 mono, peak -1 dBFS) at `sample_rate`, and its losses."""

    samples: np.ndarray = hidden()
    sample_rate: int = 0
    losses: dict[str, float] = hidden(default_factory=dict)
    initial_losses: dict[str, float] = hidden(default_factory=dict)
    seconds: float = 0.0
    spectrogram: np.ndarray = hidden(None)   # log(1 + |S|) of the result, (freq, frames)
    output: str | None = None                # set once the samples are written

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate

    def summary(self) -> dict:
        return {"output": self.output, "seconds": round(self.seconds, 2), "sample_rate": self.sample_rate,
                "duration": round(self.duration, 3),
                "content_loss": self.losses["content"], "style_loss": self.losses["style"],
                "initial_content_loss": self.initial_losses["content"],
                "initial_style_loss": self.initial_losses["style"]}

    def line(self) -> str:
        return (f"wrote {self.output} ({self.duration:.2f} s at {self.sample_rate} Hz; style loss "
                f"{self.initial_losses['style']:.3g} -> {self.losses['style']:.3g})")


class RandomFilters(nn.Module):
    """One convolution layer with random weights, frequencies as input channels (Ulyanov & Lebedev):
    its ReLU features are what the losses compare. Called like the VGG: (spectrogram, layers) ->
    {layer: features}, on input shaped (1, freq, 1, frames), so impasto's Objective runs on it."""

    def __init__(self, frequencies: int, filters: int, width: int, seed: int, scale: float):
        super().__init__()
        self.conv = nn.Conv1d(frequencies, filters, width, bias=False)
        generator = torch.Generator().manual_seed(seed)
        # Their initialisation: He-like scale over fan-in plus fan-out.
        std = math.sqrt(2.0) * math.sqrt(2.0 / ((frequencies + filters) * width))
        with torch.no_grad():
            self.conv.weight.copy_(torch.randn(self.conv.weight.shape, generator=generator) * std)
        self.requires_grad_(False)
        self.scale = scale  # inputs come in 0..1: the optimizer's range; features see log(1 + |S|)

    def forward(self, spectrogram: torch.Tensor, layers, taps=None) -> dict[str, torch.Tensor]:
        """{LAYER: features}; `taps` as for VGG.forward."""
        x = (spectrogram.float() * self.scale).to(self.conv.weight.dtype)[:, :, 0, :]
        features = torch.relu(self.conv(x))[:, :, None, :]
        tap = (taps or {}).get(LAYER)
        return {LAYER: tap(features) if tap else features}


def stft(samples: torch.Tensor, n_fft: int) -> torch.Tensor:
    window = torch.hann_window(n_fft, device=samples.device)
    return torch.stft(samples, n_fft, n_fft // 4, window=window, return_complex=True)


def istft(spectrum: torch.Tensor, n_fft: int, length: int) -> torch.Tensor:
    window = torch.hann_window(n_fft, device=spectrum.device)
    return torch.istft(spectrum, n_fft, n_fft // 4, window=window, length=length)


def griffin_lim(magnitude: torch.Tensor, n_fft: int, length: int, iterations: int,
                phase: torch.Tensor | None = None, momentum: float = 0.99, seed: int = 0) -> torch.Tensor:
    """A waveform whose STFT magnitude approaches `magnitude` (Griffin & Lim 1984), with the
    momentum of the fast variant (Perraudin, Balazs & Sondergaard 2013):
        X_n = P_C(|S| e^{i angle(c_n)}),  c_n = X_n - momentum/(1 + momentum) X_{n-1}
    starting from `phase` (unit complex) or a random one."""
    if phase is None:
        generator = torch.Generator().manual_seed(seed)
        phase = torch.exp(2j * math.pi * torch.rand(magnitude.shape, generator=generator)).to(magnitude.device)
    previous = torch.zeros_like(phase)
    for _ in range(iterations):
        rebuilt = stft(istft(magnitude * phase, n_fft, length), n_fft)
        change = rebuilt - (momentum / (1 + momentum)) * previous
        phase = change / change.abs().clamp_min(1e-16)
        previous = rebuilt
    return istft(magnitude * phase, n_fft, length)


def _clip(clip: Clip, config: AudioConfig, what: str, duration: float | None) -> np.ndarray:
    if isinstance(clip, tuple):
        if len(clip) != 2 or not isinstance(clip[1], (int, np.integer)) or clip[1] <= 0 or clip[0] is None:
            raise ImpastoError(f"the {what} as samples must be (array, sample rate in Hz)")
        samples, rate = clip
        first = int(round(config.start * rate))
        samples = np.asarray(samples)[first:first + (len(samples) if duration is None else int(round(duration * rate)))]
        samples = mono_at(samples, rate, config.sample_rate)
    elif isinstance(clip, (str, os.PathLike)):
        samples = read_audio(clip, config.sample_rate, config.start, duration, what)
    else:
        raise ImpastoError(f"the {what} must be a file path or (samples, sample rate), not {type(clip).__name__}")
    if samples.size < config.n_fft:
        raise ImpastoError(f"the {what} is {samples.size / config.sample_rate * 1000:.0f} ms long, shorter "
                           f"than one STFT window ({config.n_fft} samples = "
                           f"{config.n_fft / config.sample_rate * 1000:.0f} ms at {config.sample_rate} Hz)")
    if not np.isfinite(samples).all():
        raise ImpastoError(f"the {what} holds samples that are not finite numbers")
    if np.abs(samples).max() < SILENCE:
        hint = "; for a texture without content use --texture" if what == "content clip" else ""
        raise ImpastoError(f"the {what} is silent (all samples are zero){hint}")
    return samples


def audio(content: "Clip | None", style: Clip, config: AudioConfig | None = None,
          progress: ProgressCallback | bool | None = None, cache: "NetworkCache | None" = None,
          **options) -> AudioResult:
    """Style transfer from `style` onto `content` (files, or (samples, sample_rate) pairs), or with
    content=None, a texture of `duration` seconds (default: the style's length). Progress: one event
    per L-BFGS iteration (the spectrogram as a (1, 1, freq, frames) image), then "done"."""
    from ..core.cache import default_cache

    config = configure(AudioConfig, config, **options)
    began = time.perf_counter()
    cache = cache or default_cache()
    placement = cache.placement(config.device, config.precision)
    report = Reporter(progress, "audio")
    texture = content is None
    style_samples = _clip(style, config, "style clip", None if texture else config.duration)
    content_samples = None if texture else _clip(content, config, "content clip", config.duration)
    if texture:
        length = int(round((config.duration or len(style_samples) / config.sample_rate) * config.sample_rate))
        if length < config.n_fft:
            raise ImpastoError(f"a texture of {length / config.sample_rate * 1000:.0f} ms is shorter than one "
                               f"STFT window ({config.n_fft} samples)")
    else:
        length = len(content_samples)
    frames = length // (config.n_fft // 4) + 1
    if frames < config.filter_width:
        raise ImpastoError(f"the output spans {frames} STFT frames, fewer than the filters' width "
                           f"({config.filter_width}); use a longer clip or a smaller --n-fft")

    device = placement.device
    style_spectrum = stft(torch.from_numpy(style_samples).to(device), config.n_fft)
    style_log = torch.log1p(style_spectrum.abs())
    content_spectrum = None if texture else stft(torch.from_numpy(content_samples).to(device), config.n_fft)
    peak = max(float(style_log.max()), 0.0 if texture else float(torch.log1p(content_spectrum.abs()).max()))
    scale = HEADROOM * peak

    def as_image(log_magnitude: torch.Tensor) -> torch.Tensor:  # (freq, frames) -> (1, freq, 1, frames)
        return (log_magnitude / scale)[None, :, None, :].float().contiguous()

    filters = placement.module(RandomFilters(style_log.shape[0], config.filters, config.filter_width,
                                             config.seed, scale).eval())
    style_gram = style_targets(filters, [as_image(style_log)], [1.0], [LAYER])
    content_features = {} if texture else content_targets(
        filters, as_image(torch.log1p(content_spectrum.abs())), [LAYER])
    objective = Objective(filters, Targets(content_features, style_gram, {LAYER: 1.0}),
                          {**loss_weights(config), **({"content": 0.0} if texture else {})},
                          form="gatys")
    generator = torch.Generator().manual_seed(config.seed)
    if texture or config.init == "noise":
        # Noise at the style's mean level: a neutral start the optimizer can shape either way.
        start = (torch.rand((1, style_log.shape[0], 1, frames), generator=generator) * 2
                 * float(style_log.mean()) / scale).to(device)
    else:
        start = as_image(torch.log1p(content_spectrum.abs()))

    def on_iteration(i: int, x: torch.Tensor, losses: dict[str, float]) -> None:
        report(iteration=i, iterations=config.iterations, losses=losses, image=x.permute(0, 2, 1, 3))

    # The range penalty keeps L-BFGS inside 0..HEADROOM x peak, as optimize keeps pixels in 0..1.
    stage = optimize_stage(objective, start, config.iterations, "lbfgs", range_weight=RANGE_WEIGHT,
                           on_iteration=on_iteration, loss_scale=LOSS_SCALE, keep_best=True,
                           first_step=None)
    log_magnitude = stage.image[0, :, 0, :] * scale
    magnitude = torch.expm1(log_magnitude).float()
    phase = None if texture else content_spectrum / content_spectrum.abs().clamp_min(1e-16)
    samples = griffin_lim(magnitude, config.n_fft, length, config.griffin_lim_iterations, phase, seed=config.seed)
    samples = peak_normalise(samples.cpu().numpy().astype(np.float32))
    report(phase="done", iteration=config.iterations, iterations=config.iterations, losses=stage.final)
    return AudioResult(samples, config.sample_rate, stage.final, stage.initial, time.perf_counter() - began,
                       log_magnitude.cpu().numpy())

