"""What the AWS, GCP and deploy CLI tests share: the console entry point run in-process, and a free port."""

from __future__ import annotations

import socket

from tests.cli import run  # noqa: F401 - re-exported for the provider and deploy tests


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def failing_once(step):
    """`step` whose first run raises (a dropped network), for resume tests; later runs go through."""
    from ocrkit.deploy.plan import Step

    calls = {"n": 0}

    def flaky(ctx):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("injected fault: the network dropped")
        return step.run(ctx)

    return Step(step.call, flaky)
