"""Style model files: safetensors weights plus metadata, one style per file or several styles in
one conditional-normalization network.

Metadata (all strings): format, width, norm, upsample, styles (count), style_name (or, for several,
style_names as JSON), style_sha256, train_args (JSON), iterations, seconds, final_losses (JSON),
data_images, and where measured, evaluation (JSON). A model is named by a path, by the file stem of a
shipped model (impasto/pretrained/) or of one in the user folder ($IMPASTO_MODELS, else
~/.local/share/impasto/models), or by a style's name inside a several-style file there. One style
of a several-style file anywhere is named MODEL:STYLE (e.g. my_styles.safetensors:candy).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from ..core.cache import NetworkCache, file_key
from ..core.errors import ImpastoError
from ..core.files import atomic_path, data_dir, file_sha256

if TYPE_CHECKING:
    from ..core.placement import Placement
    from ..nets.transformer import TransformerNet

FORMAT = "impasto-transformer/1"
SHIPPED = Path(__file__).resolve().parents[1] / "pretrained"


def user_models_dir() -> Path:
    """$IMPASTO_MODELS, else the user data folder's models/."""
    if os.environ.get("IMPASTO_MODELS"):
        return Path(os.environ["IMPASTO_MODELS"])
    return data_dir() / "models"


def save_model(net: "TransformerNet", path: str | os.PathLike, metadata: dict[str, str],
               half: bool = False) -> Path:
    """Write weights (fp16 if `half`) and metadata atomically."""
    import torch
    from safetensors.torch import save_file

    path = Path(path)
    dtype = torch.float16 if half else torch.float32
    tensors = {k: v.detach().to("cpu", dtype if v.is_floating_point() else v.dtype).contiguous()
               for k, v in net.state_dict().items()}
    meta = {key: str(value) for key, value in metadata.items()}
    meta.update(format=FORMAT, **{k: str(v) for k, v in net.config.items()})
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)
    return path


def _model_files() -> list[tuple[str, Path]]:
    return [(source, path) for source, folder in (("shipped", SHIPPED), ("user", user_models_dir()))
            if folder.is_dir() for path in sorted(folder.glob("*.safetensors"))]


def split_style(name: str | os.PathLike) -> tuple[str, str | None]:
    """'MODEL:STYLE' -> (MODEL, STYLE); any other name -> (name, None). A file whose own name holds
    the colon stays whole, and so does a Windows drive ('C:\\models\\x.safetensors')."""
    text = str(name)
    model, colon, style = text.rpartition(":")
    if not colon or not model or not style or "/" in style or "\\" in style or Path(text).is_file():
        return text, None
    return model, style


def find_model(name: str | os.PathLike) -> Path:
    """A path, or the name of a shipped or user model, or of a style in a several-style model, or
    MODEL:STYLE for one style of a several-style model named by either of the first two."""
    name, style = split_style(name)
    if style is not None:
        path = find_model(name)
        names = style_names(read_metadata(path))
        if style not in names:
            raise ImpastoError(f"model '{name}' has no style '{style}' (it has {', '.join(names)})")
        return path
    path = Path(name)
    if path.is_file():
        return path
    for folder in (SHIPPED, user_models_dir(), Path(".")):  # a name, also of a file in the working folder
        candidate = folder / f"{name}.safetensors"
        if candidate.is_file():
            return candidate
    for _, candidate in _model_files():
        try:
            if str(name) in style_names(read_metadata(candidate)):
                return candidate
        except ImpastoError:
            continue
    known = ", ".join(m["name"] for m in list_models()) or "none installed"
    raise ImpastoError(f"no model file or model named '{name}' (known models: {known})")


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """A model file's metadata. A file of new styles (new_styles.py) reads as the network it makes
    with its base: the base's styles, then its own (`own_style_names`)."""
    meta = _own_metadata(path)
    if "base_sha256" not in meta:
        return meta
    base = read_metadata(find_base(path, meta))
    own = style_names(meta)
    return {**base, **meta, "style_names": json.dumps(style_names(base) + own), "own_style_names": json.dumps(own),
            "styles": str(len(style_names(base)) + len(own)), "norm": "conditional"}


def _own_metadata(path: str | os.PathLike) -> dict[str, str]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="numpy") as handle:  # metadata only: no torch needed
            meta = handle.metadata() or {}
    except Exception as exc:  # noqa: BLE001 - unreadable or not safetensors at all
        raise ImpastoError(f"'{path}' is not a readable model file ({str(exc).splitlines()[0]})") from None
    if meta.get("format") != FORMAT:
        raise ImpastoError(f"'{path}' is not an impasto style model")
    return meta


def find_base(path: str | os.PathLike, meta: dict[str, str]) -> Path:
    """The base network a file of new styles was learned on: the file it names, else any model file
    here with the SHA-256 it records; a missing or changed base is an error, never a guess."""
    want, hint = meta["base_sha256"], meta.get("base", "")
    candidates = []
    try:
        candidates.append(find_model(hint))
    except ImpastoError:
        pass
    for candidate in [*candidates, *(p for _, p in _model_files())]:
        try:
            if file_sha256(Path(candidate)) == want:
                return Path(candidate)
        except OSError:
            continue
    raise ImpastoError(f"model '{path}' holds new styles for the base network '{hint}' (SHA-256 {want[:12]}...), "
                       "which is not here or has changed since: put that network back, or learn the styles "
                       "again on this one (impasto train --from)")


def save_new_styles(tensors: dict, path: str | os.PathLike, base: Path, metadata: dict[str, str]) -> Path:
    """A file of new styles: their rows of each conditional norm, and the base network's identity."""
    from safetensors.torch import save_file

    path = Path(path)
    meta = {key: str(value) for key, value in metadata.items()}
    meta.update(format=FORMAT, base=base.stem if base.parent.resolve() in (SHIPPED.resolve(),
                user_models_dir().resolve()) else str(base.resolve()), base_sha256=file_sha256(base))
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)
    return path


def style_names(meta: dict[str, str]) -> list[str]:
    """The paintings a model file holds, in the order of its style weights."""
    if "style_names" in meta:
        try:
            names = json.loads(meta["style_names"])
        except json.JSONDecodeError:
            names = None
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ImpastoError("a model's style_names metadata is malformed")
        return names
    return [meta.get("style_name", "?")]


def parse_mix(text: str) -> dict[str, float]:
    """'starry_night=0.6,the_scream=0.4' -> {name: weight}, the weights scaled so that the largest
    is 1 (so that huge ones, 1e308 each, add up without overflowing; only their ratios matter)."""
    pairs = []
    for part in text.split(","):
        name, _, weight = part.partition("=")
        try:
            value = float(weight) if weight.strip() else float("nan")
        except ValueError:
            value = float("nan")
        if not name.strip() or not value >= 0 or value == float("inf"):
            raise ImpastoError(f"cannot read the mix {text!r}: give NAME=WEIGHT pairs with weights >= 0, "
                               "e.g. starry_night=0.6,the_scream=0.4")
        pairs.append((name.strip(), value))
    largest = max(value for _, value in pairs)
    if largest <= 0:
        raise ImpastoError(f"the mix {text!r} has no positive weight")
    mix: dict[str, float] = {}
    for name, value in pairs:
        mix[name] = mix.get(name, 0.0) + value / largest
    return mix


def style_weights(model: str | os.PathLike, meta: dict[str, str], mix: dict[str, float] | None = None
                  ) -> list[float] | None:
    """The weight vector that selects a style of a several-style model (None for a one-style model):
    one-hot for the style `model` names, or the mix's weights normalised to sum to 1 (Dumoulin et
    al.'s convex combination of the paintings' gamma and beta)."""
    names = style_names(meta)
    if int(meta.get("styles", "1")) == 1:
        if mix and set(mix) - {str(model), names[0]}:
            raise ImpastoError(f"model '{model}' holds one style, so it cannot be mixed with others")
        return None
    if mix:
        unknown = sorted(set(mix) - set(names))
        if unknown:
            raise ImpastoError(f"the mix names {', '.join(unknown)}, which the model holding "
                               f"{next(iter(mix))} lacks (it has {', '.join(names)})")
        total = sum(mix.values())
        return [mix.get(n, 0.0) / total for n in names]
    name = named_style(model, meta)
    if name is None:
        raise ImpastoError(f"model '{model}' holds {len(names)} styles ({', '.join(names)}): name one "
                           f"as MODEL:STYLE ('{split_style(model)[0]}:{names[0]}'), or mix them with "
                           "--mix NAME=WEIGHT,...")
    return [float(n == name) for n in names]


def named_style(model: str | os.PathLike, meta: dict[str, str]) -> str | None:
    """The style of a model file that `model` names (MODEL:STYLE, a style's name, or a file named
    after one of its styles), or the one new style of a new-styles file whatever its file is called
    (a renamed mine.safetensors); None where it names the file only."""
    base, name = split_style(model)
    if name is None:
        name = Path(base).stem if Path(base).suffix == ".safetensors" else str(base)
        own = json.loads(meta.get("own_style_names", "[]")) if name not in style_names(meta) else []
        if len(own) == 1:
            return own[0]
    return name if name in style_names(meta) else None


def load_model(name: str | os.PathLike) -> tuple["TransformerNet", dict[str, str]]:
    """(network in eval mode, fp32, on the CPU; its metadata)."""
    from safetensors.torch import load_file

    from ..nets.transformer import TransformerNet

    path = find_model(name)
    meta = read_metadata(path)
    if "base_sha256" in meta:
        return _with_new_styles(path, meta)
    try:
        width = float(meta["width"])
        if not 0 < width <= 16:
            raise ValueError
        net = TransformerNet(width, meta["norm"], meta["upsample"], int(meta.get("styles", "1")))
    except KeyError as exc:
        raise ImpastoError(f"model '{path}' lacks its {exc.args[0]!r} metadata") from None
    except (ValueError, ImpastoError):
        raise ImpastoError(f"model '{path}' has malformed metadata (width {meta.get('width')!r}, "
                           f"norm {meta.get('norm')!r}, upsample {meta.get('upsample')!r}, "
                           f"styles {meta.get('styles', '1')!r})") from None
    state = {k: v.float() if v.is_floating_point() else v for k, v in load_file(path).items()}
    if not all(v.isfinite().all() for v in state.values() if v.is_floating_point()):
        raise ImpastoError(f"model '{path}' holds weights that are not finite (NaN or infinity): it cannot "
                           "stylize anything")
    try:
        net.load_state_dict(state)
    except RuntimeError as exc:
        raise ImpastoError(f"model '{path}' does not match its own metadata ({str(exc).splitlines()[0]})") from None
    return net.drop_dead_shifts().eval(), meta


def _with_new_styles(path: Path, meta: dict[str, str]) -> tuple["TransformerNet", dict[str, str]]:
    """The base network with a file's new styles appended to its conditional norms' tables."""
    import torch
    from safetensors.torch import load_file

    from ..nets.transformer import TransformerNet

    base, _ = load_model(find_base(path, meta))
    net = TransformerNet(base.config["width"], "conditional", base.config["upsample"], int(meta["styles"]))
    state, rows = base.state_dict(), load_file(path)
    own = len(style_names(_own_metadata(path)))
    try:
        for key, table in rows.items():
            if table.shape != (own, state[key].shape[1]):
                raise KeyError(key)
            state[key] = torch.cat([state[key], table.float()])
        net.load_state_dict(state)
    except (KeyError, RuntimeError):
        raise ImpastoError(f"model '{path}' does not fit its base network (another architecture)") from None
    if not all(v.isfinite().all() for v in rows.values() if v.is_floating_point()):
        raise ImpastoError(f"model '{path}' holds weights that are not finite (NaN or infinity): it cannot "
                           "stylize anything")
    return net.drop_dead_shifts().eval(), meta


def list_models() -> list[dict[str, str]]:
    """Shipped models, then the user's: one entry per style (several for a several-style file), each
    with its name, file and training summary."""
    found = []
    for source, path in _model_files():
        try:
            meta = read_metadata(path)
            names = style_names(meta)
        except ImpastoError:
            continue
        several = int(meta.get("styles", "1")) > 1
        if "own_style_names" in meta:  # new styles on a base network: the base's are listed with it
            names = json.loads(meta["own_style_names"])
        for name in names if several else [path.stem]:
            found.append({"name": name, "source": source, "path": str(path),
                          "style": name if several else meta.get("style_name", "?"),
                          "iterations": meta.get("iterations", "?"), "width": meta.get("width", "?"),
                          "norm": meta.get("norm", "?"), "styles": meta.get("styles", "1")})
    return found


def cached_transformer(cache: NetworkCache, model: str | os.PathLike, placement: "Placement | None" = None):
    """(style network in eval mode on the placement and in its dtype, its metadata) for a model
    name or file, loaded once per cache: for inference only."""
    placement = (placement or cache.default_placement).for_transformer()
    path = find_model(model)

    def load():
        net, meta = load_model(path)
        return placement.module(net.eval()), meta
    return cache.get(("transformer", file_key(path), placement), load)
