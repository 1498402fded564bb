"""The command line: JSON output, and one-line errors that write nothing."""

import json
import shutil
import subprocess
import sys

import pytest
from PIL import Image

from impasto.cli import main

KEYS = {"output", "width", "height", "iterations", "seconds", "content_loss", "style_loss",
        "total_loss", "initial_content_loss", "initial_style_loss", "initial_total_loss"}


def test_optimize_json(tmp_path, content_path, style_path, capsys):
    out = tmp_path / "out.png"
    code = main(["optimize", str(content_path), str(style_path), "-o", str(out), "--size", "48",
                 "--iterations", "8", "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert set(summary) == KEYS
    assert summary["output"] == str(out) and summary["iterations"] == 8
    assert Image.open(out).size == (summary["width"], summary["height"])
    assert summary["total_loss"] < summary["initial_total_loss"]


def test_reconstruct_cli(tmp_path, content_path, capsys):
    out = tmp_path / "r.jpg"
    assert main(["reconstruct", str(content_path), "--target", "content", "--layers", "relu2_1",
                 "--size", "32", "--iterations", "3", "-o", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out and Image.open(out).format == "JPEG"


def _bad(tmp_path, content_path, style_path, case):
    out, content, style, extra = tmp_path / "out.png", str(content_path), str(style_path), []
    if case == "missing content":
        content = str(tmp_path / "nope.jpg")
    elif case == "corrupt style":
        style = str(tmp_path / "corrupt.jpg")
        (tmp_path / "corrupt.jpg").write_bytes(b"\xff\xd8\xff garbage")
    elif case == "tiny style":
        style = str(tmp_path / "tiny.png")
        Image.new("RGB", (8, 8)).save(style)
    elif case == "negative weight":
        extra = ["--style-weight", "-3"]
    elif case == "non-numeric weight":
        extra = ["--content-weight", "lots"]
    elif case == "unknown layer":
        extra = ["--style-layers", "relu1_1,relu7_1"]
    elif case == "missing folder":
        out = tmp_path / "no" / "such" / "out.png"
    elif case == "bad blend":
        extra = ["--style-blend", "1,x"]
    return ["optimize", content, style, "-o", str(out), "--size", "32", "--iterations", "1", *extra], out


CASES = ["missing content", "corrupt style", "tiny style", "negative weight", "non-numeric weight",
         "unknown layer", "missing folder", "bad blend"]


@pytest.mark.parametrize("case", CASES)
def test_bad_input_one_line_no_output(tmp_path, content_path, style_path, capsys, case):
    argv, out = _bad(tmp_path, content_path, style_path, case)
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0
    assert len(err) == 1 and err[0].startswith("impasto: error:"), err
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("out") or p.name.startswith(".out")] == []


@pytest.mark.slow
def test_console_script_no_traceback(tmp_path, content_path):
    exe = shutil.which("impasto") or [sys.executable, "-m", "impasto.cli"]
    cmd = ([exe] if isinstance(exe, str) else exe) + [
        "optimize", str(content_path), str(tmp_path / "missing.png"), "-o", str(tmp_path / "o.png")]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 1
    assert proc.stderr.strip() == f"impasto: error: style image '{tmp_path / 'missing.png'}' does not exist"
    assert not (tmp_path / "o.png").exists()
