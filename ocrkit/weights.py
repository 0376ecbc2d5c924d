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
