"""The arbitrary-style network as two ONNX graphs, made once into the cache for OpenVINO:

    prediction: painting (1, 3, H, W) in 0..1 -> S (1, EMBEDDING)   VGG16 to relu4_3, statistics, P
    transformer: image (N, 3, H, W), style (1, EMBEDDING + 1) -> stylized    f_W, as feedforward exports it

so that `impasto stylize --style` runs without torch once they exist."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from ..core.errors import ImpastoError
from ..core.files import atomic_path, cache_dir, file_sha256
from ..feedforward.export import EXPORT_FORM, RUNTIME_UPSAMPLING, write_onnx

FORM = 1  # raised when the prediction graph changes


def export_paths(model: str | os.PathLike, runtime: str = "openvino") -> tuple[Path, Path]:
    digest = file_sha256(model)[:16]
    folder = cache_dir() / "onnx"
    return (folder / f"arbitrary-{digest}-prediction-{FORM}.onnx",
            folder / f"arbitrary-{digest}-transformer-{EXPORT_FORM}-{RUNTIME_UPSAMPLING[runtime]}.onnx")


def cached_exports(model: str | os.PathLike, runtime: str = "openvino") -> tuple[Path, Path]:
    prediction, transformer = export_paths(model, runtime)
    if prediction.is_file() and transformer.is_file():
        return prediction, transformer
    try:
        prediction.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ImpastoError(f"cannot make the ONNX cache folder '{prediction.parent}': {exc.strerror}") from None
    import torch

    from ..nets import load_vgg
    from .network import load_arbitrary
    from .prediction import STYLE_LAYERS, statistics

    net, _ = load_arbitrary(model)
    if not transformer.is_file():
        write_onnx(net.transformer, transformer, upsampling=RUNTIME_UPSAMPLING[runtime])
    if not prediction.is_file():
        vgg = load_vgg(list(STYLE_LAYERS))

        class Prediction(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.vgg, self.prediction = vgg, net.prediction

            def forward(self, painting: torch.Tensor) -> torch.Tensor:
                return self.prediction(statistics(self.vgg(painting, list(STYLE_LAYERS))))

        with atomic_path(prediction) as tmp, torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(Prediction().eval(), (torch.rand(1, 3, 64, 64),), str(tmp), input_names=["painting"],
                              output_names=["embedding"], dynamic_axes={"painting": {2: "height", 3: "width"}},
                              opset_version=17, dynamo=False)
    return prediction, transformer
