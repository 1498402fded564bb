"""Training photos: a folder of images, its fixed held-out split, and the random crops of each step.

Every choice is a pure function of (seed, step), so a resumed run sees exactly the batches it would
have seen, and the held-out photos are the same on every machine.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Sequence

import torch
from PIL import Image

from ..core.errors import ImpastoError
from ..core.images import load_image, to_tensor


def held_out(paths: Sequence[Path], root: Path, count: int) -> list[Path]:
    """The `count` photos whose SHA-256 of their path under `root` (POSIX form) is smallest: a rule
    that needs no list kept anywhere, spreads over every source folder, and ignores file order."""
    def key(path: Path) -> str:
        return hashlib.sha256(path.relative_to(root).as_posix().encode()).hexdigest()
    return sorted(sorted(paths, key=key)[:count])


class PhotoFolder:
    """Every image under a folder (recursively), less the first `hold_out` photos of the held-out
    rule. Files that do not decode in full (truncated, corrupt, not images, decompression bombs) or
    have a side under MIN_SIDE are skipped and counted: each is decoded once here, because a header
    check passes truncated files."""

    def __init__(self, root: str | os.PathLike, hold_out: int = 0):
        root = Path(root)
        if not root.is_dir():
            raise ImpastoError(f"training folder '{root}' does not exist")
        candidates = sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))
        readable, self.skipped = [], 0
        for path in candidates:
            try:
                load_image(path, "training image")
                readable.append(path)
            except ImpastoError:
                self.skipped += 1
        self.held_out = held_out(readable, root, hold_out) if hold_out else []
        excluded = set(self.held_out)
        self.paths = [p for p in readable if p not in excluded]
        if not self.paths:
            raise ImpastoError(f"no readable images under '{root}' to train on ({self.skipped} files skipped, "
                               f"{len(self.held_out)} held out)")

    def __len__(self) -> int:
        return len(self.paths)

    def crop(self, index: int, size: int, generator: torch.Generator) -> torch.Tensor:
        """A random size x size crop after scaling the short side to `size`; (3, size, size) in 0..1."""
        image = load_image(self.paths[index], "training image")  # decoded once already: a change is an error
        scale = size / min(image.size)
        image = image.resize((max(size, round(image.width * scale)), max(size, round(image.height * scale))),
                             Image.Resampling.BILINEAR)
        left = int(torch.randint(0, image.width - size + 1, (1,), generator=generator))
        top = int(torch.randint(0, image.height - size + 1, (1,), generator=generator))
        return to_tensor(image.crop((left, top, left + size, top + size)))[0]


def batch_indices(step: int, batch_size: int, count: int, seed: int) -> list[tuple[int, int]]:
    """(epoch, image index) of each sample in global batch `step`: a fresh permutation each epoch."""
    out = []
    for position in range(step * batch_size, (step + 1) * batch_size):
        epoch, offset = divmod(position, count)
        order = torch.randperm(count, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))
        out.append((epoch, int(order[offset])))
    return out


def batch_styles(step: int, batch_size: int, styles: int) -> list[int]:
    """The painting each sample of global batch `step` is stylized as: the styles in turn, so every
    batch trains the shared convolutions on several paintings and each gets the same share."""
    return [position % styles for position in range(step * batch_size, (step + 1) * batch_size)]


def load_batch(data: PhotoFolder, samples: Sequence[tuple[int, int]], size: int, seed: int) -> torch.Tensor:
    crops = []
    for epoch, index in samples:
        generator = torch.Generator().manual_seed(((seed * 1_000_003 + epoch) * 1_000_033 + index) % 2**63)
        crops.append(data.crop(index, size, generator))
    return torch.stack(crops)
