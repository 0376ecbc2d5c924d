"""Model speed profiles: how fast the model runs on one kind of hardware, with where the figure came from.

A profile is data (YAML or JSON): ``ocrkit bench --save-profile PATH`` writes one from what it measured;
ocrkit ships profiles measured on this project's machine (``configs/profiles/``), and an estimate is
allowed where no measurement exists (a T4, an L4) as long as it says so and names its source. The
serving-cost comparison derives capacity (instances at peak, billed duration per request) from these
figures, never from a constant in code.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ocrkit.config import config_error, read_yaml
from ocrkit.errors import ConfigError

PROFILE_KIND = "ocrkit-speed-profile"
PROFILE_VERSION = 1


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelInfo(_Strict):
    """Which model was timed: speed depends on the architecture, not on the training."""

    architecture: str  # e.g. "resnet18 / hidden 256 / 1+1 layers / 4 heads"
    weights: str | None = None  # file name, or "random-init"
    sha256: str | None = None
    parameters: int | None = Field(None, ge=1)
    # Optional: which model family a shipped profile times ("demo", "report"), so the serving comparison
    # can pick the profile for the scenario's model and hardware from data, not from a file name.
    key: str | None = None


class Hardware(_Strict):
    kind: Literal["cpu", "gpu"]
    name: str  # CPU model name, or GPU name ("NVIDIA T4")
    cores: float = Field(gt=0)  # vCPUs the measurement used (threads allowed to run the model)
    memory_gb: float | None = Field(None, gt=0)


class Provenance(_Strict):
    """Measured (by which command, when) or an estimate (from what source, by what reasoning)."""

    measured: bool
    date: dt.date
    method: str  # the command that measured it, or how the estimate was made
    source: str | None = None  # required for estimates: a published figure with its address

    @model_validator(mode="after")
    def _estimates_name_a_source(self) -> Provenance:
        if not self.measured and not (self.source and self.source.strip()):
            raise ValueError("an estimate must name its source")
        return self


class Latency(_Strict):
    p50_ms: float = Field(gt=0)
    p95_ms: float = Field(gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> Latency:
        if self.p95_ms < self.p50_ms:
            raise ValueError("p95_ms must be at least p50_ms")
        return self


class Throughput(_Strict):
    """Images per second by batch size; ``best`` is the highest of them."""

    by_batch: dict[int, float] = Field(min_length=1)

    @model_validator(mode="after")
    def _positive(self) -> Throughput:
        for batch, rate in self.by_batch.items():
            if batch < 1 or not rate > 0:
                raise ValueError(f"batch {batch}: images/s must be positive and the batch size >= 1")
        return self

    @property
    def best_batch(self) -> int:
        return max(self.by_batch, key=lambda b: self.by_batch[b])

    @property
    def best_images_per_s(self) -> float:
        return self.by_batch[self.best_batch]


class SpeedProfile(_Strict):
    kind: Literal["ocrkit-speed-profile"] = PROFILE_KIND
    version: Literal[1] = PROFILE_VERSION
    name: str
    engine: Literal["torch", "onnx"]
    model: ModelInfo
    hardware: Hardware
    provenance: Provenance
    latency_batch1: Latency  # one image per request, the model's time alone (no HTTP)
    throughput: Throughput
    cold_start_s: float | None = Field(None, gt=0)  # fresh process: start to first answer
    peak_rss_mb: float | None = Field(None, gt=0)  # of that fresh process
    notes: str | None = None

    @property
    def per_core_ms(self) -> float:
        """Batch-1 p50 scaled to one core's worth of CPU (for functions whose CPU share follows memory)."""
        return self.latency_batch1.p50_ms * self.hardware.cores


def load_profile(path: Path) -> SpeedProfile:
    """A profile file (YAML or JSON); anything else is one ConfigError naming the file and field."""
    data = read_yaml(path)  # JSON is YAML
    if data.get("kind") != PROFILE_KIND:
        raise ConfigError(path, "kind", f"not an ocrkit speed profile (expected kind: {PROFILE_KIND})")
    try:
        return SpeedProfile.model_validate(data)
    except ValidationError as exc:
        raise config_error(path, exc, SpeedProfile) from None


def dump_profile(profile: SpeedProfile, path: Path) -> None:
    """Write a profile as YAML (``.yaml``/``.yml``) or JSON (anything else), atomically."""
    data = profile.model_dump(mode="json", exclude_none=True)
    if path.suffix.lower() in (".yaml", ".yml"):
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    else:
        text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
