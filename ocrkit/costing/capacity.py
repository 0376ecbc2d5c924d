"""Capacity from the model's measured speed: latency on a given share of CPU, instances at peak.

Pure arithmetic on a SpeedProfile. The rules are stated where they are applied (in the notes a quote
carries), because each is an assumption a planner may want to challenge:
- CPU time scales with the cores given: p50 on N vCPUs = the measured per-core time / N, never faster than
  on the cores that were measured (no extrapolation past the measurement).
- An endpoint answers one request at a time per instance (batch 1, no dynamic batching); instances are
  sized so that the peak runs at the target utilisation, and queueing beyond that is not modelled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from ocrkit.costing.profiles import SpeedProfile, load_profile
from ocrkit.errors import ConfigError
from ocrkit.resources import configs_dir


@dataclass(frozen=True)
class Speed:
    p50_ms: float
    p95_ms: float
    note: str


def profiles_dir() -> Path:
    return configs_dir() / "profiles"


def shipped_profiles() -> list[SpeedProfile]:
    return [load_profile(p) for p in sorted(profiles_dir().glob("*.yaml"))]


@dataclass(frozen=True)
class ProfileBook:
    """The profiles a comparison may use; a planner's own (`--profile`) goes first and wins its hardware."""

    profiles: tuple[SpeedProfile, ...]
    own: SpeedProfile | None = None

    def cpu(self, model: str) -> tuple[SpeedProfile, str]:
        """The CPU profile for a model: the planner's, else an ONNX one when shipped, else torch."""
        if self.own is not None and self.own.hardware.kind == "cpu":
            return self.own, f"your profile '{self.own.name}' ({self.own.engine})"
        found = [p for p in self.profiles if p.hardware.kind == "cpu" and p.model.key == model]
        found.sort(key=lambda p: (p.engine != "onnx", p.name))  # ONNX Runtime first when one is shipped
        if not found:
            raise ConfigError(profiles_dir(), None, f"no CPU speed profile for the {model} model")
        chosen = found[0]
        why = (
            "the ONNX engine's"
            if chosen.engine == "onnx"
            else "the torch engine's (no ONNX CPU profile shipped)"
        )
        return chosen, f"{chosen.name}: {why} measurement"

    def gpu(self, model: str, gpu_name: str) -> tuple[SpeedProfile, str] | None:
        if self.own is not None and self.own.hardware.kind == "gpu" and _same_gpu(self.own, gpu_name):
            return self.own, f"your profile '{self.own.name}'"
        for p in self.profiles:
            if p.hardware.kind == "gpu" and p.model.key == model and _same_gpu(p, gpu_name):
                kind = "measured" if p.provenance.measured else "ESTIMATE"
                return p, f"{p.name} ({kind})"
        return None


def _same_gpu(profile: SpeedProfile, gpu_name: str) -> bool:
    return gpu_name.lower().replace("nvidia ", "") in profile.hardware.name.lower()


def cpu_speed(profile: SpeedProfile, vcpus: float) -> Speed:
    """Batch-1 latency on `vcpus` of CPU, from the measured per-core time (capped at the measured cores)."""
    measured = profile.hardware.cores
    effective = min(vcpus, measured)
    p50 = profile.per_core_ms / effective
    ratio = profile.latency_batch1.p95_ms / profile.latency_batch1.p50_ms
    note = (
        f"{profile.name}: {profile.latency_batch1.p50_ms:g} ms on {measured:g} cores = "
        f"{profile.per_core_ms:g} "
        f"core-ms a crop, on {vcpus:g} vCPU -> {p50:.0f} ms"
        + (f" (no faster than on the {measured:g} measured cores)" if vcpus > measured else "")
    )
    return Speed(p50_ms=p50, p95_ms=p50 * ratio, note=note)


def gpu_speed(profile: SpeedProfile) -> Speed:
    lat = profile.latency_batch1
    return Speed(p50_ms=lat.p50_ms, p95_ms=lat.p95_ms, note=f"{profile.name}: {lat.p50_ms:g} ms at batch 1")


def instances_needed(rps: Decimal, p50_ms: float, utilisation: Decimal, minimum: int) -> int:
    """Instances so that `rps` runs at `utilisation` when each answers one request at a time."""
    per_instance = Decimal(1000) / Decimal(str(p50_ms)) * utilisation
    return max(minimum, math.ceil(rps / per_instance))


def cold_share(
    requests: Decimal,
    avg_rps: Decimal,
    peak_rps: Decimal,
    p50_ms: float,
    keep_warm_s: int,
    stated: Decimal | None,
) -> tuple[Decimal, str]:
    """Share of requests that meet a cold start: the planner's figure, or the one the traffic implies.

    Implied (an ocrkit assumption, stated with the result): with requests arriving at random at the average
    rate, the share that arrives after a gap longer than the platform's keep-warm window,
    exp(-rate x window), plus one cold start a day for each environment the peak needs beyond the first.
    """
    if stated is not None:
        return stated, f"assumption: {stated:%} of requests start cold (the scenario's figure)"
    idle = Decimal(str(math.exp(-float(avg_rps) * keep_warm_s)))
    peak_envs = max(1, math.ceil(peak_rps * Decimal(str(p50_ms)) / 1000))
    ramp = Decimal(30 * (peak_envs - 1) + 1) / requests  # one cold start a day per extra environment
    share = min(Decimal(1), idle + ramp)
    note = (
        f"cold starts: {share:.4%} of requests, implied by the traffic (ocrkit assumption): "
        f"arrivals after an idle gap over the {keep_warm_s} s keep-warm window, "
        f"exp(-{avg_rps:.4f}/s x {keep_warm_s} s), plus one a day for each of the {peak_envs - 1} "
        "extra environment(s) the peak needs"
    )
    return share, note


def busy_fraction(requests: Decimal, p50_ms: float, instances: int, hours: Decimal) -> Decimal:
    """Share of the billed instance-time spent answering requests (the endpoint's utilisation)."""
    busy_s = requests * Decimal(str(p50_ms)) / 1000
    return busy_s / (Decimal(instances) * hours * 3600)
