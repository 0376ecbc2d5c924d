"""Checks `ocrkit serve` makes before any server process starts, so a mistake is one line and exit 2.

- `check_port_free`: the address is bound once here; gunicorn would retry a busy port five times,
  logging each try, for about 5 s before giving up.
- `verify_weights`: the checkpoint is loaded (and matched to the architecture) in a short child process,
  because the workers load it only after the fork and a file they cannot load left a server answering
  503 forever. The child keeps torch out of this process (gunicorn forks its workers from it).
"""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys
from pathlib import Path

from ocrkit.errors import OcrkitError

_TORCH_MISSING = 3


def check_port_free(host: str, port: int) -> None:
    """Raise OcrkitError when nothing could listen on host:port (in use, or not an address here)."""
    if port == 0:
        return
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise OcrkitError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn does
        try:
            sock.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise OcrkitError(
                    f"port {port} on {host} is already in use", hint="stop what listens there, or pass --port"
                ) from None
            raise OcrkitError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def verify_weights(path: str | Path, *, timeout_s: float = 600.0) -> None:
    """Load the checkpoint in a child process; raise OcrkitError with its reason when it cannot be served.

    Without torch installed the check is skipped (the workers then say that torch is missing)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    try:
        done = subprocess.run(
            [sys.executable, "-m", "ocrkit.server.preflight", str(path)],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            env=env,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise OcrkitError(f"loading {path} took over {timeout_s:g} s; is it on a slow disk?") from None
    if done.returncode in (0, _TORCH_MISSING):
        return
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    raise OcrkitError(lines[-1] if lines else f"the model weights {path} could not be loaded")


def _load(path: str) -> int:
    """The child: load the checkpoint as a worker would; print one line and exit 2 when it cannot."""
    import logging

    logging.disable(logging.CRITICAL)
    if Path(path).is_dir():  # an ONNX export directory: its manifest and graphs are checked, no torch
        from ocrkit.engine.manifest import read_manifest

        try:
            read_manifest(Path(path))
        except OcrkitError as exc:
            print(f"cannot serve {path}: {exc}")
            return 2
        return 0
    try:
        from ocrkit.core_model.checkpoint import load_checkpoint
    except ImportError:
        return _TORCH_MISSING
    try:
        load_checkpoint(path)
    except OcrkitError as exc:
        print(f"cannot serve {path}: {exc}")
        return 2
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        print(f"cannot serve {path}: it does not load as the OCR model ({first})")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(_load(sys.argv[1]))
