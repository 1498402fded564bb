"""ONNX files that are not impasto's style networks: one line each, under both runtimes, checked
when the file is opened (not in the middle of a batch)."""

import onnx
import pytest
from onnx import TensorProto, helper
from PIL import Image

from impasto.cli import main


def graph(path, inputs, outputs, nodes, initializers=()):
    model = helper.make_model(helper.make_graph(nodes, "g", inputs, outputs, list(initializers)),
                              opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, path)
    return path


@pytest.fixture(scope="module")
def bad(tmp_path_factory):
    d = tmp_path_factory.mktemp("onnx")
    (d / "empty.onnx").write_bytes(b"")
    image = helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, "h", "w"])
    flat = helper.make_tensor_value_info("out", TensorProto.FLOAT, ["n"])
    shape = helper.make_tensor("shape", TensorProto.INT64, [1], [-1])
    graph(d / "rank1.onnx", [image], [flat], [helper.make_node("Reshape", ["image", "shape"], ["out"])], [shape])
    text = helper.make_tensor_value_info("text", TensorProto.STRING, [1])
    graph(d / "string.onnx", [text], [helper.make_tensor_value_info("out", TensorProto.STRING, [1])],
          [helper.make_node("Identity", ["text"], ["out"])])
    return d


@pytest.fixture(scope="module")
def bad_metadata(tmp_path_factory, model_path):
    from impasto.feedforward.export import export_onnx

    path = export_onnx(model_path, tmp_path_factory.mktemp("meta") / "m.onnx")
    model = onnx.load(path)
    entry = model.metadata_props.add()
    entry.key, entry.value = "impasto_style_names", "{not json"
    onnx.save(model, path)
    return path


@pytest.mark.parametrize("runtime", ["openvino", "onnx"])
@pytest.mark.parametrize("name", ["empty", "rank1", "string", "metadata"])
def test_a_bad_onnx_file_is_one_line(tmp_path, capsys, bad, bad_metadata, runtime, name):
    path = bad_metadata if name == "metadata" else bad / f"{name}.onnx"
    photos = []
    for i in range(2):  # a batch: refused as a whole, once
        Image.new("RGB", (40, 30), (100, 50 * i, 20)).save(tmp_path / f"p{i}.png")
        photos.append(str(tmp_path / f"p{i}.png"))
    code = main(["stylize", "--model", str(path), "--runtime", runtime, *photos, "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and err[0].startswith("impasto: error:"), err
    assert "Traceback" not in err[0] and "internal error" not in err[0]
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())
