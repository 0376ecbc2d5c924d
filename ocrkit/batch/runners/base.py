"""What every runner shares: the engine settings it loads the model with, and its interface."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from ocrkit.batch.records import ResultRow
from ocrkit.batch.sources import Source

#: called with each completed chunk of rows, in the order the runner finishes them
Emit = Callable[[list[ResultRow]], None]


@dataclass(frozen=True)
class EngineSettings:
    """Everything ``ocrkit.engine.load_predictor`` needs; picklable, so it can travel to a Ray actor."""

    engine: str
    weights: Path
    device: str | None = None
    batch_size: int = 32
    #: CPU threads per model, torch or ONNX Runtime (None: the engine's default; Ray picks per actor)
    threads: int | None = None
    options: dict = field(default_factory=dict)

    def load(self, threads: int | None = None):
        """The predictor, in this process; ``threads`` (else ``self.threads``): its CPU threads."""
        from ocrkit.engine import load_predictor

        chosen = threads or self.threads
        options = dict(self.options)
        if chosen and self.engine == "torch":
            import torch

            torch.set_num_threads(chosen)
        elif chosen:  # ONNX Runtime: its sessions' intra-op threads
            options.setdefault("threads", chosen)
        return load_predictor(
            self.engine, self.weights, device=self.device, batch_size=self.batch_size, **options
        )


class Runner(Protocol):
    name: str

    def prepare(self) -> None:
        """Connect and load what the run needs; raise ``OcrkitError`` before anything is written."""

    def run(self, source: Source, pending: list[str], emit: Emit) -> None: ...

    def close(self) -> None: ...
