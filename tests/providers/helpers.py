"""What the AWS, GCP and deploy CLI tests share: the console entry point run in-process, and a free port."""

from __future__ import annotations

import socket

from ocrkit.cli import main


def run(capsys, *argv: str) -> tuple[int, str, str]:
    """`ocrkit ARGV...` in-process: (exit code, stdout, stderr)."""
    try:
        main(list(argv))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
