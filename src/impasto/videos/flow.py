"""Optical flow between video frames and what is built on it (Ruder, Dosovitskiy & Brox 2016;
Lai et al. 2018): warping, the forward-backward consistency check, and the warping error.

Flows are (H, W, 2) float32 displacements in pixels with a(x) ~ b(x + w(x)) for flow(a, b), from
OpenCV's DIS (Kroeger et al. 2016). Images are (H, W, 3) float32 in 0..1.
"""

from __future__ import annotations

import cv2
import numpy as np


class FlowEstimator:
    """Dense optical flow with DIS at a preset speed (one estimator, reused frame after frame)."""

    PRESETS = {"ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST, "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
               "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}

    def __init__(self, preset: str = "fast"):
        self.dis = cv2.DISOpticalFlow_create(self.PRESETS[preset])

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Flow from grey frame a to grey frame b (uint8, (H, W))."""
        return self.dis.calc(a, b, None)


def grey(frame: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (H, W) uint8 luminance, what the flow is computed on."""
    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)


_GRIDS: dict[tuple[int, int], np.ndarray] = {}


def _grid(height: int, width: int) -> np.ndarray:
    """(H, W, 2) pixel coordinates, made once per frame size."""
    if (height, width) not in _GRIDS:
        xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
        _GRIDS[(height, width)] = np.stack([xs, ys], axis=2)
    return _GRIDS[(height, width)]


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """image sampled at x + flow(x) (bilinear; borders repeat): brings frame b into frame a's place
    for flow(a, b)."""
    return cv2.remap(image, _grid(*flow.shape[:2]) + flow, None, cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def reliable(forward: np.ndarray, backward: np.ndarray) -> np.ndarray:
    """Pixels of frame a whose flow to b can be trusted, for forward = flow(a, b) and backward =
    flow(b, a) (Ruder et al., Sec. 3.2; Sundaram et al. 2010): not disoccluded, where
        |w_f + w_b(x + w_f)|^2 <= 0.01 (|w_f|^2 + |w_b(x + w_f)|^2) + 0.5,
    and not on a motion boundary, where |grad u|^2 + |grad v|^2 > 0.01 |w_f|^2 + 0.002."""
    back = warp(backward, forward)
    total = forward + back
    disagreement = cv2.magnitude(total[..., 0], total[..., 1]) ** 2
    motion = cv2.magnitude(forward[..., 0], forward[..., 1]) ** 2
    occluded = disagreement > 0.01 * (motion + cv2.magnitude(back[..., 0], back[..., 1]) ** 2) + 0.5
    # central differences (Sobel with a 1-tap kernel is x[i+1] - x[i-1], so halve it)
    gradient = sum(cv2.Sobel(forward[..., k], cv2.CV_32F, dx, 1 - dx, ksize=1) ** 2 for k in (0, 1) for dx in (0, 1)) / 4
    boundary = gradient > 0.01 * motion + 0.002
    return ~(occluded | boundary)


def warping_error(a: np.ndarray, b: np.ndarray, forward: np.ndarray, mask: np.ndarray) -> float:
    """Lai et al. (ECCV 2018), one frame pair: sum_i M_i ||a_i - warp(b)_i||^2 / sum_i M_i, the
    squared RGB distance in 0..1 between a frame and the next one brought back by the input's flow,
    over the pixels the consistency check trusts."""
    count = mask.sum()
    if count == 0:
        return 0.0
    difference = np.square(a - warp(b, forward)).sum(axis=2)
    return float(difference[mask].sum() / count)
