"""Training at tiny size: files it writes, exact resume (also after SIGKILL), and DDP on CPU."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from impasto.feedforward.model_files import list_models, load_model, read_metadata
from impasto.feedforward.train import train

ROOT = Path(__file__).resolve().parents[2]
TINY = dict(image_size=32, batch_size=2, width=0.25, precision="fp32", device="cpu", progress=False)




def _weights(path):
    return load_model(path)[0].state_dict()


def test_train_writes_model_with_metadata_and_curve(tmp_path, photos_with_junk, style_path):
    result = train(style_path, photos_with_junk, tmp_path / "m.safetensors", iterations=4, **TINY)
    assert result.skipped_files == 2 and result.iterations == 4
    meta = read_metadata(tmp_path / "m.safetensors")
    assert meta["style_name"] == "style" and len(meta["style_sha256"]) == 64
    assert meta["width"] == "0.25" and meta["norm"] == "instance"
    assert json.loads(meta["train_args"])["image_size"] == 32
    assert set(json.loads(meta["final_losses"])) == {"content", "style", "tv", "total"}
    assert Image.open(tmp_path / "m.loss.png").format == "PNG"


def test_training_runs_where_the_caller_turned_gradients_off(tmp_path, photos_with_junk, style_path):
    with torch.no_grad():
        result = train(style_path, photos_with_junk, tmp_path / "m.safetensors", iterations=2, **TINY)
    assert result.iterations == 2 and (tmp_path / "m.safetensors").is_file()


@pytest.mark.slow
@pytest.mark.usefixtures("one_thread")
def test_resume_reaches_the_same_weights(tmp_path, photos_with_junk, style_path):
    straight = train(style_path, photos_with_junk, tmp_path / "a.safetensors", iterations=6, checkpoint_every=3, **TINY)
    train(style_path, photos_with_junk, tmp_path / "b.safetensors", iterations=3, checkpoint_every=3, **TINY)
    resumed = train(style_path, photos_with_junk, tmp_path / "b.safetensors", iterations=6, checkpoint_every=3,
                    resume=True, **TINY)
    a, b = _weights(tmp_path / "a.safetensors"), _weights(tmp_path / "b.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [h["total"] for h in straight.history] == [h["total"] for h in resumed.history]


@pytest.mark.slow
@pytest.mark.usefixtures("one_thread")
def test_ema_writes_the_averaged_weights_and_resumes_exactly(tmp_path, photos_with_junk, style_path):
    ema = dict(TINY, ema=0.9, checkpoint_every=3)
    straight = train(style_path, photos_with_junk, tmp_path / "a.safetensors", iterations=6, **ema)
    train(style_path, photos_with_junk, tmp_path / "b.safetensors", iterations=3, **ema)
    train(style_path, photos_with_junk, tmp_path / "b.safetensors", iterations=6, resume=True, **ema)
    a, b = _weights(tmp_path / "a.safetensors"), _weights(tmp_path / "b.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)  # the average is checkpointed and resumed too
    last = torch.load(tmp_path / "a.ckpt", weights_only=True)["model"]  # the weights the run ended at
    assert any(not torch.allclose(a[k], last[k]) for k in a)
    assert all(torch.equal(a[k], straight.net.state_dict()[k]) for k in a)
    plain = train(style_path, photos_with_junk, tmp_path / "c.safetensors", iterations=6, **TINY)
    c = _weights(tmp_path / "c.safetensors")
    assert all(torch.equal(c[k], plain.net.state_dict()[k]) for k in c)
    assert all(torch.equal(c[k], last[k]) for k in c)  # without ema: the last weights, same run


def test_resume_refuses_an_average_that_does_not_fit(tmp_path, photos_with_junk, style_path):
    from impasto.core.errors import ImpastoError
    ema = dict(TINY, ema=0.9)
    train(style_path, photos_with_junk, tmp_path / "e.safetensors", iterations=2, **ema)
    ckpt = tmp_path / "e.ckpt"
    state = torch.load(ckpt, weights_only=True)
    state["ema"] = {"module.encoder.0.1.weight": torch.zeros(1)}
    torch.save(state, ckpt)
    with pytest.raises(ImpastoError, match="does not fit this network"):
        train(style_path, photos_with_junk, tmp_path / "e.safetensors", iterations=4, resume=True, **ema)


@pytest.mark.slow
@pytest.mark.usefixtures("one_thread")
def test_resume_after_sigkill(tmp_path, photos_with_junk, style_path, train_killed):
    """Kill -9 mid-run; resuming loses at most the work since the last checkpoint and ends where an
    uninterrupted run ends (the killed process on one thread too, as the one_thread fixture runs
    the rest)."""
    args = ["train", "--style", str(style_path), "--data", str(photos_with_junk), "--image-size", "32",
            "--batch-size", "2", "--width", "0.25", "--precision", "fp32", "--device", "cpu",
            "--checkpoint-every", "2", "--quiet"]
    killed = tmp_path / "killed.safetensors"
    done = train_killed(args, killed)
    target = done + 3
    from impasto.cli import main
    assert main([*args, "--iterations", str(target), "-o", str(killed), "--resume"]) == 0
    reference = train(style_path, photos_with_junk, tmp_path / "ref.safetensors", iterations=target, **TINY)
    a, b = _weights(killed), reference.net.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resume_refuses_other_options(tmp_path, photos_with_junk, style_path):
    train(style_path, photos_with_junk, tmp_path / "c.safetensors", iterations=2, **TINY)
    from impasto.core.errors import ImpastoError
    with pytest.raises(ImpastoError, match="other training options"):
        train(style_path, photos_with_junk, tmp_path / "c.safetensors", iterations=4, resume=True,
              **{**TINY, "style_weight": 0.5})


def test_a_checkpoint_made_before_an_option_existed_resumes(tmp_path, photos_with_junk, style_path):
    """An option missing from a checkpoint counts as its default (what the older run used)."""
    from impasto.core.errors import ImpastoError

    out = tmp_path / "old.safetensors"
    train(style_path, photos_with_junk, out, iterations=2, **TINY)
    older = torch.load(out.with_suffix(".ckpt"), weights_only=False)
    del older["config"]["tv_weight"]
    torch.save(older, out.with_suffix(".ckpt"))
    with pytest.raises(ImpastoError, match="other training options"):
        train(style_path, photos_with_junk, out, iterations=4, resume=True, **{**TINY, "tv_weight": 1e-3})
    assert train(style_path, photos_with_junk, out, iterations=4, resume=True, **TINY).iterations == 4


def test_resume_takes_the_learning_rate_asked_for(tmp_path, photos_with_junk, style_path):
    """A run resumed at another learning rate (a decay) goes on at that rate: at a vanishing one its
    weights stay where they were, at a large one they move."""
    import shutil

    out = tmp_path / "lr.safetensors"
    train(style_path, photos_with_junk, out, iterations=2, **TINY)
    shutil.copyfile(out.with_suffix(".ckpt"), tmp_path / "at2.ckpt")
    before = _weights(out)
    train(style_path, photos_with_junk, out, iterations=4, resume=True, **{**TINY, "lr": 1e-12})
    still = _weights(out)
    assert max((before[k] - still[k]).abs().max().item() for k in before) < 1e-8
    older = torch.load(tmp_path / "at2.ckpt", weights_only=False)
    older["config"]["lr"] = 1e-3  # checkpoints written before the rate could change held it
    torch.save(older, tmp_path / "at2.ckpt")
    train(style_path, photos_with_junk, tmp_path / "moved.safetensors", iterations=4, resume=tmp_path / "at2.ckpt",
          **{**TINY, "lr": 1e-2})
    moved = _weights(tmp_path / "moved.safetensors")
    assert max((before[k] - moved[k]).abs().max().item() for k in before) > 1e-4


def test_the_rate_is_constant_then_falls_linearly_to_zero_over_lr_decay():
    from impasto.core.config import TrainConfig
    from impasto.feedforward.train import learning_rate

    config = TrainConfig(lr=0.02, lr_decay=0.2)
    rates = [learning_rate(config, step, 100) for step in range(100)]
    assert rates[:80] == [0.02] * 80  # constant until the last fifth
    assert all(a > b > 0 for a, b in zip(rates[80:], rates[81:]))  # then falls every step, never to zero
    assert rates[90] == pytest.approx(0.01) and rates[99] == pytest.approx(0.001)
    assert {learning_rate(TrainConfig(lr=0.02), step, 100) for step in range(100)} == {0.02}


@pytest.mark.slow
@pytest.mark.usefixtures("one_thread")
def test_a_decaying_rate_resumes_exactly_and_changes_the_run(tmp_path, photos_with_junk, style_path):
    """The rate is a function of the step and the run's length, so a run stopped halfway and resumed
    with lr_decay ends where a straight one does; and the decay is used (the run ends elsewhere than
    at a constant rate)."""
    from impasto import Cancelled

    def stop_at_3(event):
        if event.iteration == 3:
            raise Cancelled()

    decaying = dict(TINY, lr_decay=0.5, checkpoint_every=5)
    train(style_path, photos_with_junk, tmp_path / "a.safetensors", iterations=6, **decaying)
    with pytest.raises(Cancelled):
        train(style_path, photos_with_junk, tmp_path / "b.safetensors", iterations=6,
              **{**decaying, "progress": stop_at_3})
    train(style_path, photos_with_junk, tmp_path / "b.safetensors", iterations=6, resume=True, **decaying)
    train(style_path, photos_with_junk, tmp_path / "c.safetensors", iterations=6, **TINY)
    a, b, c = (_weights(tmp_path / f"{n}.safetensors") for n in "abc")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a)


def test_resume_goes_on_with_smaller_crops(tmp_path, photos_with_junk, style_path):
    """Smaller crops later in a run are a schedule: the run resumes, trains on, and says so."""
    out = tmp_path / "crops.safetensors"
    train(style_path, photos_with_junk, out, iterations=2, **TINY)
    before = _weights(out)
    result = train(style_path, photos_with_junk, out, iterations=4, resume=True, **{**TINY, "image_size": 24})
    assert result.iterations == 4
    assert json.loads(read_metadata(out)["train_args"])["image_size"] == 24
    after = _weights(out)
    assert max((before[k] - after[k]).abs().max().item() for k in before) > 1e-6


def test_resume_refuses_fewer_iterations(tmp_path, photos_with_junk, style_path):
    from impasto.core.errors import ImpastoError
    train(style_path, photos_with_junk, tmp_path / "d.safetensors", iterations=3, **TINY)
    with pytest.raises(ImpastoError, match="already at iteration 3"):
        train(style_path, photos_with_junk, tmp_path / "d.safetensors", iterations=2, resume=True, **TINY)


@pytest.mark.slow
def test_ddp_two_processes_match_single_process(tmp_path, photos_with_junk, style_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                           str(ROOT / "tests" / "feedforward" / "ddp_worker.py"), str(photos_with_junk), str(style_path), str(tmp_path)],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rank0 = torch.load(tmp_path / "rank0.pt")
    rank1 = torch.load(tmp_path / "rank1.pt")
    single = train(style_path, photos_with_junk, tmp_path / "single.safetensors", iterations=3, batch_size=4,
                   image_size=32, width=0.25, precision="fp32", device="cpu", progress=False).net.state_dict()
    for key in rank0:
        assert torch.equal(rank0[key], rank1[key]), key
        assert torch.allclose(rank0[key], single[key], atol=1e-5, rtol=1e-4), key


def test_models_lists_user_models(tmp_path, photos_with_junk, style_path, monkeypatch):
    monkeypatch.setenv("IMPASTO_MODELS", str(tmp_path))
    train(style_path, photos_with_junk, tmp_path / "mine.safetensors", iterations=1, **TINY)
    names = {(m["name"], m["source"]) for m in list_models()}
    assert ("mine", "user") in names
    assert load_model("mine")[1]["style_name"] == "style"
