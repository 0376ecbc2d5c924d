"""Reading and writing checkpoints in the report's format.

The report saved ``torch.save({'model': state_dict, 'epoch': ..., ...}, 'model.pt')`` and loaded
``torch.load(path)['model']``. ocrkit reads the same files with ``weights_only=True`` (no pickled
code runs); the only non-tensor objects it lets through are numpy scalars, which training loops
often leave in metric lists. The architecture is inferred from the state dict itself, so a
resnet18 or a smaller ``hidden`` trained with the same code loads too; ``nhead`` is not
recoverable from weights and comes from an optional ``config`` entry (ocrkit writes one), else
the report's 4. Loading is strict: any missing, unexpected or mis-shaped key is reported by name.
"""

from __future__ import annotations

import logging
import pickle
import re
import zipfile
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ocrkit.core_model.network import ModelConfig, TransformerModel
from ocrkit.errors import OcrkitError

log = logging.getLogger("ocrkit.model")

#: What numpy scalars (``np.float64(0.25)`` in a saved metrics list) unpickle through: the scalar
#: reconstructor (named under both numpy 1.x ``numpy.core`` and 2.x ``numpy._core`` paths), ``dtype``
#: and the dtype classes of the bool / integer / float / complex scalar types. Arrays stay refused.
NUMPY_SCALAR_GLOBALS: list[Any] = [
    (np._core.multiarray.scalar, "numpy.core.multiarray.scalar"),
    (np._core.multiarray.scalar, "numpy._core.multiarray.scalar"),
    (np.dtype, "numpy.dtype"),
    *sorted({type(np.dtype(code)) for code in "?bhilqBHILQefdgFDG"}, key=lambda t: t.__name__),
]

# ResNet layer-block counts -> torchvision constructor name ("bottleneck" = conv3 in each block).
_RESNETS = {
    ((2, 2, 2, 2), False): "resnet18",
    ((3, 4, 6, 3), False): "resnet34",
    ((3, 4, 6, 3), True): "resnet50",
    ((3, 4, 23, 3), True): "resnet101",
    ((3, 8, 36, 3), True): "resnet152",
}

_REPORT_MODEL_HINT = (
    "use the report's trained model.pt (the file its SageMaker model_fn loaded from model/model.pt), "
    "or weights saved by ocrkit"
)


#: Buffers the network computes at construction and never trains (the sinusoidal position tables,
#: 5000 x hidden each: 5 MB of a hidden-256 fp16 file). A compact checkpoint may leave them out if it
#: lists them under ``omitted_buffers``; loading then takes them from the freshly built model.
DERIVED_BUFFERS = ("pos_encoder.pe", "pos_decoder.pe")


class CheckpointError(OcrkitError):
    """A checkpoint file that cannot be used as the OCR model's weights."""


@dataclass
class LoadedCheckpoint:
    """A ready model (eval mode, float32, on CPU) plus what else the file held."""

    model: TransformerModel
    config: ModelConfig
    metadata: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None


# --------------------------------------------------------------------------------------------
# reading


def read_checkpoint(path: str | Path) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """The state dict and the other top-level entries of a checkpoint file (weights-only load)."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint not found: {path}", hint=_REPORT_MODEL_HINT)
    if not path.is_file():
        raise CheckpointError(f"checkpoint path is not a file: {path}")
    try:
        with torch.serialization.safe_globals(NUMPY_SCALAR_GLOBALS):
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        refused = _refused_global(str(exc))
        if refused is None:
            raise CheckpointError(f"{path} is not a PyTorch checkpoint (unreadable pickle data)") from None
        raise CheckpointError(
            f"{path} holds a Python object ({refused}) that safe loading refuses to unpickle",
            hint="only tensors, plain containers and numpy scalars are accepted; re-save just the "
            "weights from a trusted copy: torch.save({'model': model.state_dict()}, 'model.pt')",
        ) from None
    except EOFError:
        raise CheckpointError(f"{path} is not a PyTorch checkpoint (empty or truncated file)") from None
    except (RuntimeError, zipfile.BadZipFile, ValueError, OSError) as exc:
        raise CheckpointError(f"{path} is not a PyTorch checkpoint ({_first_line(exc)})") from None
    return split_checkpoint(obj, source=str(path))


def split_checkpoint(obj: Any, *, source: str = "checkpoint") -> tuple[dict[str, Tensor], dict[str, Any]]:
    """``{'model': sd, ...}`` or a bare state dict -> (state dict, metadata)."""
    if not isinstance(obj, dict):
        raise CheckpointError(f"{source}: expected a dict of weights, found {type(obj).__name__}")
    if _is_state_dict(obj):
        return _clean_state_dict(obj), {}
    for key in ("model", "state_dict", "model_state_dict"):
        if key in obj and isinstance(obj[key], dict) and _is_state_dict(obj[key]):
            meta = {k: v for k, v in obj.items() if k != key}
            return _clean_state_dict(obj[key]), meta
    keys = ", ".join(repr(k) for k in list(obj)[:10]) or "none"
    raise CheckpointError(
        f"{source}: no model weights found (top-level keys: {keys})",
        hint="expected the report's format {'model': state_dict, ...} or a bare state dict",
    )


def _is_state_dict(d: dict) -> bool:
    return bool(d) and all(isinstance(k, str) for k in d) and all(isinstance(v, Tensor) for v in d.values())


def _clean_state_dict(sd: dict[str, Tensor]) -> dict[str, Tensor]:
    """Strip a DataParallel ``module.`` prefix; cast half-precision floats back to float32."""
    if all(k.startswith("module.") for k in sd):
        sd = {k[len("module.") :]: v for k, v in sd.items()}
    out = {}
    for k, v in sd.items():
        if v.is_floating_point() and v.dtype != torch.float32:
            v = v.float()
        out[k] = v
    return out


def _refused_global(message: str) -> str | None:
    """What safe loading refused, from torch's message (None when the file is not a torch pickle)."""
    for pattern in (r"Unsupported global: GLOBAL ([\w.]+)", r"but got <class '([\w.]+)'>"):
        m = re.search(pattern, message)
        if m:
            return m.group(1)
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


# --------------------------------------------------------------------------------------------
# architecture from weights


def infer_config(state_dict: dict[str, Tensor], stored: dict[str, Any] | None = None) -> ModelConfig:
    """Hyper-parameters from the weights; ``stored`` (a checkpoint's ``config``) supplies ``nhead``.

    Anything the weights do not show falls back to the report's value, so that a damaged state dict
    still yields a model to compare against (and a readable list of missing keys).
    """
    default = ModelConfig()
    stored = stored or {}
    values: dict[str, Any] = {}

    emb = state_dict.get("decoder.weight")
    if emb is not None and emb.dim() == 2:
        values["outtoken"], values["hidden"] = int(emb.shape[0]), int(emb.shape[1])

    counts = []
    for i in range(1, 5):
        blocks = {int(m.group(1)) for k in state_dict if (m := re.match(rf"backbone\.layer{i}\.(\d+)\.", k))}
        counts.append(max(blocks) + 1 if blocks else 0)
    bottleneck = any(re.match(r"backbone\.layer1\.\d+\.conv3\.", k) for k in state_dict)
    fc = state_dict.get("backbone.fc.weight")
    if fc is not None and fc.dim() == 4 and fc.shape[1] == 2048:
        bottleneck = True
    name = _RESNETS.get((tuple(counts), bottleneck))
    if name is not None:
        values["bb_name"] = name
    elif any(counts):
        raise CheckpointError(
            f"unsupported backbone: ResNet layer blocks {counts} ({'bottleneck' if bottleneck else 'basic'})"
        )

    for part, attr in (("encoder", "enc_layers"), ("decoder", "dec_layers")):
        idx = {
            int(m.group(1))
            for k in state_dict
            if (m := re.match(rf"transformer\.{part}\.layers\.(\d+)\.", k))
        }
        if idx:
            values[attr] = max(idx) + 1

    for attr in ("nhead", "dropout"):
        if attr in stored:
            values[attr] = type(getattr(default, attr))(stored[attr])
    if "bb_name" not in values and isinstance(stored.get("bb_name"), str):
        values["bb_name"] = stored["bb_name"]

    config = ModelConfig(
        **{f.name: values.get(f.name, getattr(default, f.name)) for f in fields(ModelConfig)}
    )
    if config.hidden % config.nhead:
        raise CheckpointError(
            f"hidden size {config.hidden} is not divisible by nhead {config.nhead}",
            hint="store the right nhead in the checkpoint's 'config' entry",
        )
    return config


# --------------------------------------------------------------------------------------------
# loading and saving


def build_model(
    state_dict: dict[str, Tensor],
    config: ModelConfig,
    *,
    source: str = "checkpoint",
    omitted: tuple[str, ...] | list[str] = (),
) -> TransformerModel:
    """A model of ``config`` with ``state_dict`` loaded strictly; mismatches raise ``CheckpointError``.

    ``omitted`` (a compact file's ``omitted_buffers``) may name :data:`DERIVED_BUFFERS` only; those
    come from the model as built. Anything else missing is still an error.
    """
    model = TransformerModel.from_config(config)
    expected = model.state_dict()
    derived = [k for k in omitted if k in DERIVED_BUFFERS and k not in state_dict]
    if derived:
        state_dict = {**state_dict, **{k: expected[k] for k in derived}}
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    mis_shaped = [
        f"{k} {tuple(state_dict[k].shape)} (model: {tuple(v.shape)})"
        for k, v in expected.items()
        if k in state_dict and state_dict[k].shape != v.shape
    ]
    if missing or unexpected or mis_shaped:
        parts = []
        for label, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape", mis_shaped)):
            if items:
                shown = ", ".join(items[:8]) + (f", ... ({len(items) - 8} more)" if len(items) > 8 else "")
                parts.append(f"{label} keys ({len(items)}): {shown}")
        raise CheckpointError(
            f"{source} does not match the OCR model ({config.bb_name}, hidden {config.hidden}, "
            f"{config.enc_layers}+{config.dec_layers} layers): " + "; ".join(parts),
            hint=_REPORT_MODEL_HINT,
        )
    model.load_state_dict(state_dict, strict=True)
    return model.eval()


def load_checkpoint(path: str | Path) -> LoadedCheckpoint:
    """Read a checkpoint, infer its architecture and return the loaded model (eval mode, CPU)."""
    path = Path(path)
    state_dict, metadata = read_checkpoint(path)
    stored = metadata.get("config")
    config = infer_config(state_dict, stored if isinstance(stored, dict) else None)
    omitted = metadata.get("omitted_buffers")
    omitted = [str(k) for k in omitted] if isinstance(omitted, list | tuple) else []
    model = build_model(state_dict, config, source=str(path), omitted=omitted)
    log.info(
        "loaded %s: %s, hidden %d, %d encoder + %d decoder layers, %d heads",
        path,
        config.bb_name,
        config.hidden,
        config.enc_layers,
        config.dec_layers,
        config.nhead,
    )
    return LoadedCheckpoint(model=model, config=config, metadata=metadata, path=path)


def save_checkpoint(model: TransformerModel, path: str | Path, **extra: Any) -> Path:
    """Write ``{'model': state_dict, 'config': {...}, **extra}`` -- the report's format plus a config."""
    if "model" in extra or "config" in extra:
        raise ValueError("'model' and 'config' are written by save_checkpoint itself")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    torch.save({"model": state, "config": model.config.to_dict(), **extra}, path)
    return path
