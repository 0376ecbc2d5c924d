"""Turn what ``ocrkit bench`` measured into speed profiles (``ocrkit.costing.profiles``), one per engine.

With one engine the profile goes to the given path; with both engines in one run, to
``<stem>-torch<ext>`` and ``<stem>-onnx<ext>`` beside it (``profiles_paths``).
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from ocrkit.costing.profiles import (
    Hardware,
    Latency,
    ModelInfo,
    Provenance,
    SpeedProfile,
    Throughput,
    dump_profile,
)


def profile_paths(path: Path, engines: list[str]) -> dict[str, Path]:
    """Where each engine's profile goes: ``path`` itself for one engine, ``<stem>-<engine><ext>`` for more."""
    if len(engines) == 1:
        return {engines[0]: path}
    return {e: path.with_name(f"{path.stem}-{e}{path.suffix}") for e in engines}


def memory_gb() -> float | None:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3, 1)
    except (ValueError, OSError, AttributeError):
        return None


def build_profile(
    *,
    engine: str,
    architecture: str,
    weights: str,
    sha256: str | None,
    cpu: str,
    threads: int,
    p50_ms: float,
    p95_ms: float,
    throughput: dict[int, float],
    cold_start_s: float | None,
    peak_rss_mb: float | None,
    method: str,
    notes: str | None,
) -> SpeedProfile:
    short = architecture.split(" / ")
    plural = "s" if threads != 1 else ""
    name = f"{short[0]}-{short[1].replace('hidden ', 'h')} {engine}, {threads} CPU thread{plural}"
    return SpeedProfile(
        name=name,
        engine=engine,  # type: ignore[arg-type]
        model=ModelInfo(architecture=architecture, weights=weights, sha256=sha256),
        hardware=Hardware(kind="cpu", name=cpu, cores=threads, memory_gb=memory_gb()),
        provenance=Provenance(measured=True, date=dt.date.today(), method=method),
        latency_batch1=Latency(p50_ms=round(p50_ms, 3), p95_ms=round(max(p95_ms, p50_ms), 3)),
        throughput=Throughput(by_batch={b: round(v, 3) for b, v in throughput.items()}),
        cold_start_s=None if cold_start_s is None else round(cold_start_s, 3),
        peak_rss_mb=None if peak_rss_mb is None else round(peak_rss_mb, 1),
        notes=notes,
    )


def save_profiles(profiles: dict[str, SpeedProfile], path: Path) -> list[Path]:
    """Write each engine's profile (atomically); returns the paths written."""
    written = []
    for engine, target in profile_paths(path, list(profiles)).items():
        dump_profile(profiles[engine], target)
        written.append(target)
    return written
