"""impasto video --style: any painting, frame by frame, with temporal consistency (tiny network)."""

import json
from pathlib import Path

import av
from PIL import Image

from impasto.cli import main
from impasto.testing import pan_zoom, write_clip

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_video_with_a_painting_keeps_size_and_steadies_the_frames(network, paintings, tmp_path, capsys):
    clip = tmp_path / "pan.mp4"
    write_clip(clip, pan_zoom(Image.open(EXAMPLES / "tubingen.jpg").convert("RGB"), 8, (90, 50)))
    out = tmp_path / "out.mp4"
    assert main(["video", str(clip), "-o", str(out), "--style", str(paintings[0]), "--style-network", str(network),
                 "--strength", "0.8", "--json", "--quiet"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    with av.open(str(out)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == 8 and frames[0].shape == (50, 90, 3)
    assert summary["warping_error"] < summary["warping_error_frame_by_frame"]


def test_video_refuses_a_painting_and_a_model_together(network, paintings, tmp_path, capsys):
    clip = tmp_path / "pan.mp4"
    write_clip(clip, pan_zoom(Image.open(EXAMPLES / "tubingen.jpg").convert("RGB"), 3, (64, 48)))
    code = main(["video", str(clip), "-o", str(tmp_path / "out.mp4"), "--style", str(paintings[0]),
                 "--model", "mosaic", "--style-network", str(network)])
    err = capsys.readouterr().err.strip()
    assert code == 1 and "not both" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "out.mp4").exists()
