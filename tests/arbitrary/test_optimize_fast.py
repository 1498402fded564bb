"""optimize --init fast: Gatys et al.'s optimization from the painting's one-pass result."""

from pathlib import Path

from PIL import Image

import impasto
from impasto.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_init_fast_starts_from_the_one_pass_result(content_path, style_path):
    import numpy as np

    engine = impasto.Engine(precision="fp32")
    start = engine.run_optimization(content_path, style_path, size=64, init="fast", iterations=0)
    one_pass = engine.stylize(content_path, style=style_path, size=64)
    assert start.image.size == one_pass.size
    assert np.abs(np.asarray(start.image, dtype=int) - np.asarray(one_pass, dtype=int)).max() <= 1
    assert start.initial_content_loss > 0  # not the photo


def test_init_fast_takes_the_short_schedule_unless_told(content_path, style_path, tmp_path, capsys):
    out = tmp_path / "out.png"
    assert main(["optimize", str(content_path), str(style_path), "--init", "fast", "--size", "48",
                 "--iterations", "2", "-o", str(out), "--quiet"]) == 0
    assert max(Image.open(out).size) == 48
    result = impasto.default_engine().run_optimization(content_path, style_path, size=32, init="fast")
    from impasto.core.config import FAST_START

    assert result.iterations == FAST_START["iterations"]


def test_init_fast_with_a_mask_is_a_one_line_error(content_path, style_path, tmp_path, capsys):
    code = main(["optimize", str(content_path), "--init", "fast", "--mask", str(EXAMPLES / "tubingen_sky_mask.png"),
                 "--region-style", f"white={style_path}", "--region-style", f"black={style_path}",
                 "-o", str(tmp_path / "o.png")])
    err = capsys.readouterr().err.strip()
    assert code == 1 and "init fast" in err and len(err.splitlines()) == 1
