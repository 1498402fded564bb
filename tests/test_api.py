"""The Engine: progress as data, cancel, networks kept loaded, two threads at once."""

import threading

import numpy as np
import pytest
import torch

import impasto
from impasto import Cancelled, Engine, Progress
from impasto.nets import vgg_weights as weights

FP32 = dict(precision="fp32", device="cpu")


class Recorder:
    def __init__(self, cancel_at=None):
        self.events: list[Progress] = []
        self.cancel_at = cancel_at

    def __call__(self, event: Progress) -> None:
        self.events.append(event)
        if self.cancel_at is not None and len(self.events) == self.cancel_at:
            raise Cancelled()


def test_progress_at_every_scale_and_tile_in_order(content_path, style_path):
    record = Recorder()
    result = impasto.run_optimization(content_path, style_path, size=64, iterations=2, scales=2,
                                      tile=32, tile_overlap=8, tile_passes=1, init="content",
                                      progress=record, **FP32)
    steps = [e for e in record.events if e.phase == "iteration"]
    assert all(e.task == "optimize" and e.scales == 2 for e in record.events)
    # scale 1 (32 px) is one piece: 1 iteration (a third of 2); scale 2 (64x48) in 32 px tiles, 2 per tile
    coarse = [e for e in steps if e.scale == 1]
    assert [(e.iteration, e.iterations, e.tiles) for e in coarse] == [(1, 1, 0)]
    fine = [e for e in steps if e.scale == 2]
    tiles = fine[0].tiles
    assert tiles == 6  # starts 0, 16 down x 0, 24, 32 across... at 64x48 with overlap 8
    assert [(e.tile, e.iteration) for e in fine] == [(t, i) for t in range(1, tiles + 1) for i in (1, 2)]
    assert steps == coarse + fine  # scale 1 entirely before scale 2
    for e in steps:
        assert {"content", "style", "total"} <= set(e.losses) and e.losses["total"] > 0
        assert e.image is not None
    assert all(later.elapsed >= earlier.elapsed for earlier, later in zip(record.events, record.events[1:]))
    done = record.events[-1]
    assert done.phase == "done" and done.losses["total"] == pytest.approx(result.total_loss)
    assert done.picture().size == result.image.size


def test_cancel_stops_within_one_iteration_and_writes_nothing(tmp_path, content_path, style_path):
    out = tmp_path / "out.png"
    record = Recorder(cancel_at=3)
    with pytest.raises(Cancelled):
        impasto.run_optimization(content_path, style_path, size=48, iterations=50, output=out,
                                 progress=record, **FP32)
    assert len(record.events) == 3 and record.events[-1].iteration == 3
    assert list(tmp_path.iterdir()) == []


def test_cli_cancel_is_one_line(tmp_path, content_path, style_path, capsys, monkeypatch):
    from impasto.cli import commands as cli

    class Cancelling:
        def __call__(self, event):
            raise Cancelled()

        def close(self):
            pass
    monkeypatch.setattr(cli, "_progress", lambda args: Cancelling())
    code = cli.main(["optimize", str(content_path), str(style_path), "-o", str(tmp_path / "o.png"),
                     "--size", "32", "--iterations", "5"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 130 and len(err) == 1 and "cancelled" in err[0]
    assert not (tmp_path / "o.png").exists()




@pytest.mark.slow
@pytest.mark.usefixtures("one_thread")
def test_cancelled_train_resumes_exactly(tmp_path, photos, style_path):
    tiny = dict(image_size=32, batch_size=2, width=0.25, checkpoint_every=4, **FP32)
    straight = impasto.train(style_path, photos, tmp_path / "a.safetensors", iterations=7, **tiny)
    record = Recorder(cancel_at=5)  # after step 5, past the checkpoint at 4
    with pytest.raises(Cancelled):
        impasto.train(style_path, photos, tmp_path / "b.safetensors", iterations=7, progress=record, **tiny)
    assert not (tmp_path / "b.safetensors").exists()  # no model from a cancelled run
    assert [e.iteration for e in record.events] == [1, 2, 3, 4, 5]
    assert torch.load(tmp_path / "b.ckpt", weights_only=False)["iteration"] == 5
    resumed = impasto.train(style_path, photos, tmp_path / "b.safetensors", iterations=7, resume=True, **tiny)
    a = impasto.feedforward.model_files.load_model(tmp_path / "a.safetensors")[0].state_dict()
    b = impasto.feedforward.model_files.load_model(tmp_path / "b.safetensors")[0].state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [h["total"] for h in straight.history] == [h["total"] for h in resumed.history]




def test_second_call_loads_and_hashes_nothing(monkeypatch, content_path, style_path, model_path):
    counts = {"hash": 0, "state": 0, "model": 0}

    def counting(name, function):
        def wrapped(*args, **kwargs):
            counts[name] += 1
            return function(*args, **kwargs)
        return wrapped
    monkeypatch.setattr(weights, "tensors_sha256", counting("hash", weights.tensors_sha256))
    import impasto.feedforward.model_files as models
    import impasto.nets as networks
    monkeypatch.setattr(networks, "load_state_dict", counting("state", networks.load_state_dict))
    monkeypatch.setattr(models, "load_model", counting("model", models.load_model))

    engine = Engine(**FP32)
    first = engine.optimize(content_path, style_path, size=32, iterations=2)
    assert counts["hash"] >= 1 and counts["state"] == 1
    before = dict(counts)
    second = engine.optimize(content_path, style_path, size=32, iterations=2)
    assert counts == before and engine.loads == 1
    assert np.array_equal(np.asarray(first), np.asarray(second))  # same run, same result

    engine.stylize(content_path, model_path)
    assert counts["model"] == 1
    engine.stylize(content_path, model_path)
    assert counts["model"] == 1 and counts["hash"] == before["hash"] and engine.loads == 2


def test_two_threads_stylize_at_once(content_path, style_path, model_path):
    engine = Engine(**FP32)
    expected = {p: np.asarray(impasto.stylize(p, model_path, **FP32)) for p in (content_path, style_path)}
    results, errors = {}, []
    start = threading.Barrier(2)

    def work(path):
        try:
            start.wait()
            for _ in range(3):
                results[path] = np.asarray(engine.stylize(path, model_path))
                assert np.array_equal(results[path], expected[path])
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
    threads = [threading.Thread(target=work, args=(p,)) for p in (content_path, style_path)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert set(results) == {content_path, style_path} and engine.loads == 1


def test_stylize_reports_each_image(tmp_path, content_path, style_path, model_path):
    record = Recorder()
    summary = impasto.stylize_files([str(content_path), str(style_path)], model_path, tmp_path / "out",
                                    progress=record, **FP32)
    assert len(summary.outputs) == 2
    assert [(e.phase, e.iteration, e.iterations) for e in record.events] == [("image", 1, 2), ("image", 2, 2)]
    assert record.events[0].item == str(content_path)


def test_option_errors_name_the_option_without_the_cli(content_path, style_path):
    with pytest.raises(impasto.OptionError) as info:
        impasto.optimize(content_path, style_path, size=8)
    assert info.value.option == "size" and str(info.value).startswith("size must be")
    with pytest.raises(impasto.ImpastoError, match="unknown option"):
        impasto.optimize(content_path, style_path, sise=64)
