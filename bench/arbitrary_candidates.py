"""The short-budget comparison behind impasto's arbitrary-style method (issue 42): AdaIN (Huang &
Belongie, ICCV 2017) against Ghiasi et al.'s style prediction (what impasto ships), the same number
of steps on the same photos and paintings, then bench/arbitrary.py's quick measure.

    .venv/bin/python bench/arbitrary_candidates.py adain --steps 300     # trains, then measures

AdaIN as in the paper, on impasto's VGG16: t = sigma(f(s)) (f(c) - mu(f(c))) / sigma(f(c)) + mu(f(s))
at relu4_1, a decoder g mirroring the encoder (nearest upsampling), trained on
L = ||f(g(t)) - t||^2 + lambda sum_i ||mu(phi_i(g(t))) - mu(phi_i(s))||^2 + ||sigma(...) - sigma(...)||^2
over relu1_1..relu4_1, lambda 10, Adam 1e-4, batch 4. This candidate lives here, not in the package:
it was measured and not chosen (bench/RESULTS.md has the figures).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from arbitrary import DATA, OUT, paintings, photos, scaled  # noqa: E402
from arbitrary_metric import Measure  # noqa: E402

from impasto.arbitrary.train import paintings_split, sample_painting  # noqa: E402
from impasto.core.images import load_image, resize_long_side, to_tensor  # noqa: E402
from impasto.feedforward.data import PhotoFolder, batch_indices, load_batch  # noqa: E402
from impasto.nets import load_vgg  # noqa: E402

LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")


def block(cin: int, cout: int, relu: bool = True) -> list[nn.Module]:
    return [nn.ReflectionPad2d(1), nn.Conv2d(cin, cout, 3)] + ([nn.ReLU(inplace=True)] if relu else [])


def decoder() -> nn.Sequential:
    up = nn.Upsample(scale_factor=2, mode="nearest")
    return nn.Sequential(*block(512, 256), up, *block(256, 256), *block(256, 256), *block(256, 128), up,
                         *block(128, 128), *block(128, 64), up, *block(64, 64), *block(64, 3, relu=False))


def mean_std(f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    flat = f.flatten(2)
    return flat.mean(2)[..., None, None], (flat.var(2) + 1e-5).sqrt()[..., None, None]


def adain(content: torch.Tensor, style: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    mu, sigma = mean_std(content)
    return style[1] * (content - mu) / sigma + style[0]


def train(steps: int, out: Path) -> None:
    torch.manual_seed(0)
    vgg = load_vgg(list(LAYERS))
    g = decoder()
    optimizer = torch.optim.Adam(g.parameters(), lr=1e-4)
    photo_set = PhotoFolder(DATA / "train", 48)
    painting_set = paintings_split(DATA / "paintings", 120)
    start = time.perf_counter()
    for step in range(steps):
        batch = load_batch(photo_set, batch_indices(step, 4, len(photo_set), 0), 192, 0)
        rng = random.Random(step)
        styles = [sample_painting(painting_set, i, (160, 256), rng)
                  for _, i in batch_indices(step, 4, len(painting_set), 1)]
        with torch.no_grad():
            fc = vgg(batch, ["relu4_1"])["relu4_1"]
            fs = [vgg(s, list(LAYERS)) for s in styles]
            stats = {l: [mean_std(f[l]) for f in fs] for l in LAYERS}
            t = torch.cat([adain(fc[i:i + 1], stats["relu4_1"][i]) for i in range(4)])
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = g(t)
        features = vgg(y.float(), list(LAYERS))
        content = F.mse_loss(features["relu4_1"], t)
        style = 0
        for l in LAYERS:
            mu, sigma = mean_std(features[l])
            target_mu = torch.cat([m for m, _ in stats[l]])
            target_sigma = torch.cat([s for _, s in stats[l]])
            style = style + F.mse_loss(mu, target_mu) + F.mse_loss(sigma, target_sigma)
        loss = content + 10 * style
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if (step + 1) % 25 == 0:
            print(f"step {step + 1} {time.perf_counter() - start:.0f} s content {float(content):.4g} "
                  f"style {float(style):.4g}", flush=True)
    torch.save(g.state_dict(), out)


def evaluate(decoder_file: Path, size: int = 256, count: int = 10) -> dict:
    torch.set_grad_enabled(False)
    vgg = load_vgg(list(LAYERS))
    g = decoder()
    g.load_state_dict(torch.load(decoder_file, weights_only=True))
    g.eval()
    measure = Measure()
    anchor = OUT / f"anchor-{size}"
    folder = OUT / f"adain-{size}"
    folder.mkdir(exist_ok=True)
    rows = []
    for p in [scaled(p, size, OUT / f"photos-{size}") for p in photos(count)]:
        photo = Image.open(p).convert("RGB")
        fc = vgg(to_tensor(photo), ["relu4_1"])["relu4_1"]
        for s in paintings(count):
            painting = load_image(s)
            fs = vgg(to_tensor(resize_long_side(painting, 256)), ["relu4_1"])["relu4_1"]
            y = g(adain(fc, mean_std(fs)))
            y = F.interpolate(y, size=photo.size[::-1], mode="bilinear").clamp(0, 1)
            out = Image.fromarray((y[0].permute(1, 2, 0).numpy() * 255 + 0.5).astype("uint8"))
            out.save(folder / f"{p.stem}__{s.stem}.png")
            ours = measure(out, p.stem, photo, s.stem, painting)
            theirs = measure(Image.open(anchor / f"{p.stem}__{s.stem}.png"), p.stem, photo, s.stem, painting)
            rows.append((ours, theirs))
    return {"pairs": len(rows), "content_median": statistics.median(o[0] for o, _ in rows),
            "style_median": statistics.median(o[1] for o, _ in rows),
            "anchor_content_median": statistics.median(t[0] for _, t in rows),
            "anchor_style_median": statistics.median(t[1] for _, t in rows),
            "share_better_on_both": sum(o[0] < t[0] and o[1] < t[1] for o, t in rows) / len(rows)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("candidate", choices=("adain",))
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()
    out = OUT / f"adain-{args.steps}.pt"
    if not out.exists():
        train(args.steps, out)
    print(json.dumps(evaluate(out), indent=1))


if __name__ == "__main__":
    main()
