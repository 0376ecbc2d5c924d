"""Which checkpoint a command uses: ``--weights``, else ``$OCRKIT_WEIGHTS``, else the demo checkpoint.

Torch-free on purpose: the deploy code and the server's option checks resolve weights without
importing the model. The demo checkpoint (``ocrkit/assets/demo-ocr.pt``, a small resnet18 model
trained on ``ocrkit synth`` data, see the README) ships inside the package so that ``predict``,
``eval``, ``bench``, ``serve`` and ``deploy`` read real Russian words out of the box; the report's
original ``model.pt`` is one ``--weights`` away. ``OCRKIT_DEMO_WEIGHTS=0`` turns the fallback off
for anyone who must never serve the demo model by accident.
"""

from __future__ import annotations

import os
from pathlib import Path

from ocrkit.errors import OcrkitError

#: Environment variable naming the checkpoint to load when no path is given.
WEIGHTS_ENV = "OCRKIT_WEIGHTS"
#: ``0`` / ``false`` / ``no`` / ``off``: never fall back to the shipped demo checkpoint.
DEMO_SWITCH_ENV = "OCRKIT_DEMO_WEIGHTS"
DEMO_WEIGHTS_FILE = "demo-ocr.pt"

NO_WEIGHTS_HINT = (
    "pass --weights PATH (a checkpoint saved by `ocrkit train`, or the report's model.pt: about "
    "176 MB, not downloadable), or set "
    f"{WEIGHTS_ENV}=/path/to/model.pt"
)


def shipped_weights_path() -> Path:
    """Where the demo checkpoint lives inside the installed package (whether or not it is there)."""
    return Path(__file__).resolve().parent / "assets" / DEMO_WEIGHTS_FILE


def demo_fallback_enabled() -> bool:
    return os.environ.get(DEMO_SWITCH_ENV, "").strip().lower() not in ("0", "false", "no", "off")


def default_weights_path() -> Path | None:
    """The shipped demo checkpoint, or None when it is missing or switched off."""
    path = shipped_weights_path()
    return path if demo_fallback_enabled() and path.is_file() else None


def configured_weights(path: str | Path | None) -> Path | None:
    """An explicit path, else ``$OCRKIT_WEIGHTS``; None when neither is given."""
    if path is not None and str(path).strip():
        return Path(path).expanduser()
    env = os.environ.get(WEIGHTS_ENV, "").strip()
    return Path(env).expanduser() if env else None


def resolve_weights(path: str | Path | None, *, what: str = "no model weights") -> Path:
    """An explicit path, else ``$OCRKIT_WEIGHTS``, else the shipped demo checkpoint; else a clear error."""
    chosen = configured_weights(path) or default_weights_path()
    if chosen is None:
        switched_off = not demo_fallback_enabled() and shipped_weights_path().is_file()
        raise OcrkitError(
            what + (f" ({DEMO_SWITCH_ENV}=0 turned the demo checkpoint off)" if switched_off else ""),
            hint=NO_WEIGHTS_HINT,
        )
    return chosen


def is_demo_weights(path: str | Path) -> bool:
    try:
        return Path(path).resolve() == shipped_weights_path()
    except OSError:
        return False


def demo_weights_notes(path: str | Path) -> list[str]:
    """A plan warning when a deployment would serve the demo checkpoint (nothing otherwise)."""
    if not is_demo_weights(path):
        return []
    return [
        "serving ocrkit's demo checkpoint (a small model trained on synthetic words, see the README); "
        "pass --weights PATH to deploy your own or the report's model.pt"
    ]


# -- a torch-free check of a checkpoint's structure (deploy validates before it plans) -----------------

#: What every checkpoint of ocrkit's model (ResNet backbone + Transformer) holds, as key prefixes.
REQUIRED_PREFIXES = ("backbone.layer1.", "transformer.encoder.layers.", "transformer.decoder.layers.")
REQUIRED_KEYS = ("decoder.weight",)


class _TensorStub:
    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = tuple(shape)


class _Opaque:
    """Stands in for any other object in the pickle; never imports or runs its code."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        pass

    def __setstate__(self, state: object) -> None:
        pass


def _rebuild_tensor(storage: object, offset: object, size: object, *rest: object) -> _TensorStub:
    return _TensorStub(tuple(size) if isinstance(size, tuple | list) else ())


def _rebuild_parameter(data: object, *rest: object) -> object:
    return data


class _StructureUnpickler:
    """Reads torch's data.pkl for its structure only: tensors become shapes, other globals opaque stubs."""

    @staticmethod
    def load(data: bytes) -> object:
        import io
        import pickle
        from collections import OrderedDict

        class Unpickler(pickle.Unpickler):
            def find_class(self, module: str, name: str) -> object:
                if module == "collections" and name == "OrderedDict":
                    return OrderedDict
                if module == "torch._utils" and name.startswith("_rebuild_tensor"):
                    return _rebuild_tensor
                if module == "torch._utils" and name == "_rebuild_parameter":
                    return _rebuild_parameter
                return _Opaque

            def persistent_load(self, pid: object) -> object:
                return _Opaque()

        return Unpickler(io.BytesIO(data)).load()


def check_checkpoint(path: str | Path) -> None:
    """One sentence (OcrkitError) when `path` is not a checkpoint of ocrkit's model: unreadable, not a
    PyTorch zip checkpoint, or weights of another architecture. Torch-free: reads the zip's pickle for
    its keys and shapes only, never the tensors' data and never any code the pickle names."""
    import pickle
    import zipfile

    p = Path(path)
    if not p.is_file():
        raise OcrkitError(f"{p}: no such checkpoint file", hint=NO_WEIGHTS_HINT)
    try:
        with zipfile.ZipFile(p) as zf:
            member = next((n for n in zf.namelist() if n.endswith("/data.pkl") or n == "data.pkl"), None)
            if member is None:
                raise OcrkitError(f"{p} is not a PyTorch checkpoint (a zip without data.pkl)")
            obj = _StructureUnpickler.load(zf.read(member))
    except (zipfile.BadZipFile, OSError) as exc:
        raise OcrkitError(
            f"{p} is not a PyTorch checkpoint (not a readable torch.save zip: {exc})",
            hint="pass a checkpoint saved by `ocrkit train` or torch.save (PyTorch 1.6 or later)",
        ) from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as exc:
        raise OcrkitError(f"{p} is not a PyTorch checkpoint (corrupt pickle data: {exc})") from None
    sd = _state_dict_of(obj)
    if sd is None:
        keys = ", ".join(repr(k) for k in list(obj)[:8]) if isinstance(obj, dict) else type(obj).__name__
        raise OcrkitError(
            f"{p}: no model weights found (top level: {keys or 'empty'})",
            hint="expected {'model': state_dict, ...} or a bare state dict",
        )
    if all(k.startswith("module.") for k in sd):
        sd = {k[len("module.") :]: v for k, v in sd.items()}
    missing = [k for k in REQUIRED_KEYS if k not in sd]
    missing += [f"{pre}*" for pre in REQUIRED_PREFIXES if not any(k.startswith(pre) for k in sd)]
    emb = sd.get("decoder.weight")
    if missing or len(emb.shape) != 2:
        shown = ", ".join(missing) or "decoder.weight is not 2-D"
        raise OcrkitError(
            f"{p}: not ocrkit's OCR model (ResNet + Transformer); missing {shown}",
            hint="pass a checkpoint saved by `ocrkit train`, or the report's model.pt",
        )


def _state_dict_of(obj: object) -> dict[str, _TensorStub] | None:
    def is_sd(d: object) -> bool:
        return (
            isinstance(d, dict)
            and bool(d)
            and all(isinstance(k, str) for k in d)
            and all(isinstance(v, _TensorStub) for v in d.values())
        )

    if is_sd(obj):
        return dict(obj)  # type: ignore[call-overload]
    if isinstance(obj, dict):
        for key in ("model", "state_dict", "model_state_dict"):
            if is_sd(obj.get(key)):
                return dict(obj[key])
    return None
