"""What the AWS, GCP and deploy CLI tests share: the console entry point run in-process, and a free port."""

from __future__ import annotations

import socket

from tests.cli import run  # noqa: F401 - re-exported for the provider and deploy tests


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
