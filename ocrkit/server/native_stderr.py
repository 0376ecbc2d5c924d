"""Route what native libraries write to stderr (libpng's "libpng warning: ...", OpenCV's own messages)
into the JSON log, so that the worker's stderr stays one JSON object per line.

C code writes to file descriptor 2 directly, past Python's logging. In each worker, `route()` points
fd 2 at a pipe; a thread reads it and logs every line as a warning of the `ocrkit.native` logger, while
Python's log handlers keep writing to the real stderr (a duplicate of the old fd 2). Standard library.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading

NATIVE_LOGGER = "ocrkit.native"
_MAX_LINE = 2000
_routed = False


def route() -> bool:
    """Route fd 2 through the log in this process (once); False when already done or not possible."""
    global _routed
    if _routed:
        return False
    try:
        sys.stderr.flush()
        real = os.dup(2)
        read_end, write_end = os.pipe()
    except OSError:
        return False
    real_stream = open(real, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115
    old = sys.stderr
    for handler in _stream_handlers():
        if handler.stream is old or getattr(handler.stream, "fileno", lambda: -1)() == 2:
            handler.setStream(real_stream)
    sys.stderr = real_stream
    os.dup2(write_end, 2)
    os.close(write_end)
    _routed = True
    thread = threading.Thread(target=_pump, args=(read_end,), name="ocrkit-native-stderr", daemon=True)
    thread.start()

    def restore() -> None:
        try:
            os.dup2(real, 2)  # closes the pipe's last write end: the pump sees EOF and ends
        except OSError:
            return
        thread.join(1.0)

    atexit.register(restore)
    return True


def _stream_handlers() -> list[logging.StreamHandler]:
    loggers = [logging.getLogger()] + [
        logger for logger in logging.Logger.manager.loggerDict.values() if isinstance(logger, logging.Logger)
    ]
    return [
        h
        for logger in loggers
        for h in logger.handlers
        if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)
    ]


def _pump(read_end: int) -> None:
    log = logging.getLogger(NATIVE_LOGGER)
    pending = b""
    with open(read_end, "rb", buffering=0) as pipe:
        while chunk := pipe.read(65536):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                _emit(log, line)
            if len(pending) > _MAX_LINE:
                _emit(log, pending)
                pending = b""
    if pending:
        _emit(log, pending)


def _emit(log: logging.Logger, line: bytes) -> None:
    text = line.decode("utf-8", "replace").rstrip("\r")
    if text.strip():
        log.warning(text[:_MAX_LINE], extra={"source": "native"})
