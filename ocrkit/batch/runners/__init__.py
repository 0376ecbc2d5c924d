"""Runners turn pending images into rows. ``local``: threads + one model here; ``ray``: Ray Data actors.

A runner gets the engine settings, is ``prepare``d before anything is written (so a bad address or
bad weights leave no output behind), then ``run`` hands rows to ``emit`` one completed chunk at a
time; the job appends each chunk to the sink. A managed cloud job is one more runner.
"""

from __future__ import annotations

from ocrkit.batch.runners.base import Emit, EngineSettings, Runner
from ocrkit.errors import OcrkitError

RUNNERS = ("local", "ray")


def make_runner(name: str, settings: EngineSettings, *, workers: int, address: str | None = None) -> Runner:
    if name == "local":
        if address:
            raise OcrkitError("--address is for --runner ray")
        from ocrkit.batch.runners.local import LocalRunner

        return LocalRunner(settings, workers=workers)
    if name == "ray":
        from ocrkit.batch.runners.ray import RayRunner

        return RayRunner(settings, workers=workers, address=address)
    raise OcrkitError(f"unknown runner {name!r}: choose one of {', '.join(RUNNERS)}")


__all__ = ["RUNNERS", "Emit", "EngineSettings", "Runner", "make_runner"]
