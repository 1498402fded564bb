"""A folder stylized across a local Ray cluster's two workers, one of them killed mid-run: every
output complete and identical to the single-process result, the exit code 0; a re-run skips what
is done; a bad input fails alone."""

import os
import signal
import subprocess
import threading
import time

import numpy as np
import pytest
from PIL import Image

import impasto
from impasto.cli import main

OPTIONS = dict(precision="fp32", runtime="torch", device="cpu")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("collection")
    rng = np.random.default_rng(0)
    for i in range(48):
        where = root / ("nested" if i % 4 == 0 else ".")
        where.mkdir(exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (36, 48, 3), dtype=np.uint8)).save(where / f"p{i:02d}.png")
    return root


def worker_pids() -> list[int]:
    out = subprocess.run(["pgrep", "-f", "ray::Stylist"], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


@pytest.mark.slow
def test_a_killed_worker_loses_nothing(tmp_path, folder, ray_cluster, capsys):

    single = tmp_path / "single"
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each Ray worker runs (one CPU each): the same arithmetic, bit for bit
    try:
        reference = impasto.stylize_files([str(folder)], "mosaic", single, **OPTIONS)
    finally:
        torch.set_num_threads(threads)
    assert not reference.failures
    out = tmp_path / "out"
    killed = []

    def kill_one_when_started():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            done = list(out.rglob("*.png")) if out.exists() else []
            pids = worker_pids()
            if len(done) >= 4 and pids:
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])
                return
            time.sleep(0.05)
    killer = threading.Thread(target=kill_one_when_started)
    killer.start()
    code = main(["stylize", "--model", "mosaic", str(folder), "-o", str(out), "--cluster", ray_cluster, "--json",
                 "--quiet", "--precision", "fp32", "--runtime", "torch", "--device", "cpu"])
    killer.join()
    assert code == 0
    assert killed, "no worker was killed: the run ended first"
    written = sorted(p.relative_to(out) for p in out.rglob("*.png"))
    assert len(written) == 48 and not list(out.rglob("*.tmp"))
    for relative in written:
        mine = np.asarray(Image.open(out / relative))
        theirs = np.asarray(Image.open(single / relative.name))
        assert np.array_equal(mine, theirs), relative
    # a re-run skips every output already complete
    again = impasto.cluster.stylize([str(folder)], "mosaic", out, address=ray_cluster, **OPTIONS)
    assert again.skipped == 48 and again.outputs == []


@pytest.mark.slow
def test_a_bad_input_fails_alone(tmp_path, ray_cluster):
    from impasto.cluster import stylize

    folder = tmp_path / "in"
    folder.mkdir()
    Image.new("RGB", (40, 30), (90, 120, 30)).save(folder / "good.png")
    (folder / "bad.jpg").write_bytes(b"not an image")
    result = stylize([str(folder)], "mosaic", tmp_path / "out", address=ray_cluster, **OPTIONS)
    assert [Path(p).name for p in result.outputs] == ["good.png"] and result.workers == 2
    assert [f["input"] for f in result.failures] == [str(folder / "bad.jpg")]
    assert result.summary()["images_per_second"] > 0


from pathlib import Path  # noqa: E402
