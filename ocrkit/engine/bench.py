"""Time the inference engines side by side, on the same images, in one run. Torch-free.

For each engine (a predictor with the staged methods ``preprocess`` -> ``encode_images`` -> ``decode``;
``TorchPredictor`` and ``OnnxPredictor`` both have them), after warm-up calls that are not counted:

* ``encoder``: backbone + encoder alone for one image (the floor any decoder pays once per image;
  the ONNX encoder graph also folds the cross-attention keys/values, which the torch engine does at
  the start of its token loop);
* ``fast``: preprocessed image -> text, one image at a time, ``runs`` times over every image (p50/p95);
* ``throughput``: images per second at batch 1, 8, 32: the batch size over the median time of a batch;
* ``cold start``: a fresh Python process (``python -m ocrkit.engine.first_answer``) from its start to
  the first answer for one image -- imports, model load, one prediction -- and that process's peak
  RSS (its own ``VmHWM``, read just before it answers). The page cache is warm (the files were read
  before), the export cache too: a first-ever ``.pt`` export is a one-time cost outside this figure.

Latencies are per image in milliseconds; p50 / p95 are linear-interpolated percentiles.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import cycle, islice
from pathlib import Path

import numpy as np

DEFAULT_BATCH_SIZES = (1, 8, 32)
StageCallback = Callable[[str], None]


@dataclass(frozen=True)
class Latency:
    """Per-image latency samples summarised, in milliseconds."""

    p50_ms: float
    p95_ms: float
    mean_ms: float
    samples: int

    @classmethod
    def of(cls, seconds: Sequence[float]) -> Latency:
        ms = np.asarray(seconds, dtype=np.float64) * 1000.0
        return cls(
            p50_ms=float(np.percentile(ms, 50)),
            p95_ms=float(np.percentile(ms, 95)),
            mean_ms=float(ms.mean()),
            samples=len(ms),
        )


@dataclass(frozen=True)
class ColdStart:
    seconds: float  # median over the runs
    peak_rss_mb: float  # the largest over the runs
    runs: int
    text: str  # what the fresh process read (a check that it did the work)


@dataclass(frozen=True)
class EngineTiming:
    engine: str
    runtime: str  # e.g. "torch 2.14.1" or "onnxruntime 1.23.2"
    threads: int
    fast: Latency
    encoder: Latency
    throughput: dict[int, float]
    mean_tokens: float
    tokens: list[list[int]] = field(repr=False)
    texts: list[str] = field(repr=False)
    cold_start: ColdStart | None = None

    def to_json(self) -> dict:
        out = {
            "engine": self.engine,
            "runtime": self.runtime,
            "threads": self.threads,
            "fast_ms_p50": _r(self.fast.p50_ms),
            "fast_ms_p95": _r(self.fast.p95_ms),
            "encoder_ms_p50": _r(self.encoder.p50_ms),
            "encoder_ms_p95": _r(self.encoder.p95_ms),
            "fast_over_encoder": _r(self.fast.p50_ms / self.encoder.p50_ms),
            "throughput": {str(b): _r(v) for b, v in self.throughput.items()},
            "mean_tokens": _r(self.mean_tokens),
        }
        if self.cold_start is not None:
            out["cold_start_s"] = round(self.cold_start.seconds, 3)
            out["peak_rss_mb"] = round(self.cold_start.peak_rss_mb, 1)
            out["cold_start_runs"] = self.cold_start.runs
        return out


@dataclass(frozen=True)
class Comparison:
    """Engines timed in one run on the same images; texts compared image by image."""

    machine: str
    load_avg_1m: float | None
    weights: str
    architecture: str
    images: int
    image_source: str
    runs: int
    max_len: int
    note: str | None
    engines: list[EngineTiming]

    @property
    def identical_texts(self) -> int | None:
        if len(self.engines) < 2:
            return None
        a, b = self.engines[0], self.engines[1]
        return sum(x == y for x, y in zip(a.texts, b.texts, strict=True))

    @property
    def identical_tokens(self) -> int | None:
        if len(self.engines) < 2:
            return None
        a, b = self.engines[0], self.engines[1]
        return sum(x == y for x, y in zip(a.tokens, b.tokens, strict=True))

    def to_json(self) -> dict:
        out = {
            "machine": self.machine,
            "load_avg_1m": None if self.load_avg_1m is None else round(self.load_avg_1m, 2),
            "weights": self.weights,
            "architecture": self.architecture,
            "images": self.images,
            "image_source": self.image_source,
            "runs": self.runs,
            "max_len": self.max_len,
            "note": self.note,
            "engines": {e.engine: e.to_json() for e in self.engines},
        }
        if len(self.engines) == 2:
            out["identical_texts"] = self.identical_texts
            out["identical_tokens"] = self.identical_tokens
            a, b = self.engines
            ratios = {"p50": b.fast.p50_ms / a.fast.p50_ms}
            if a.cold_start and b.cold_start:
                ratios["cold_start"] = b.cold_start.seconds / a.cold_start.seconds
                ratios["peak_rss"] = b.cold_start.peak_rss_mb / a.cold_start.peak_rss_mb
            out[f"{b.engine}_over_{a.engine}"] = {k: round(v, 3) for k, v in ratios.items()}
        return out


def _r(x: float) -> float:
    return round(float(x), 2)


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"


def load_average() -> float | None:
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def _cycled(x, size: int, offset: int = 0):
    n = x.shape[0]
    idx = list(islice(cycle(range(n)), offset, offset + size))
    return x[idx]


def _timed(fn: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def time_engine(
    engine: str,
    predictor,
    images: Sequence[bytes],
    *,
    runtime: str,
    threads: int,
    runs: int = 3,
    batch_sizes: Sequence[int] = DEFAULT_BATCH_SIZES,
    warmup: int = 2,
    progress: StageCallback | None = None,
) -> EngineTiming:
    """Latency, encoder floor and throughput of one engine's predictor on ``images``."""
    if not images:
        raise ValueError("no images to benchmark")
    say = progress or (lambda _s: None)
    x = predictor.preprocess(list(images))
    n = x.shape[0]
    singles = [x[i : i + 1] for i in range(n)]

    def run(batch):
        return predictor.decode(predictor.encode_images(batch))

    say(f"{engine}: warm-up")
    for i in range(warmup):
        run(singles[i % n])
        for b in batch_sizes:
            if b > 1:
                run(_cycled(x, b))
    # The floor and the full decode are timed alternately, image by image, so that a change in the
    # machine's load during the run affects both alike (their ratio is the figure to watch).
    say(f"{engine}: batch 1 and the encoder floor, {n} images x {runs} runs")
    enc_s: list[float] = []
    fast_s: list[float] = []
    decoded = []
    for r in range(runs):
        for s in singles:
            enc_s.append(_timed(lambda s=s: predictor.encode_images(s))[0])
            dt, out = _timed(lambda s=s: run(s))
            fast_s.append(dt)
            if r == 0:
                decoded.extend(out)
    throughput = {1: 1.0 / float(np.median(fast_s))} if 1 in batch_sizes else {}
    for b in batch_sizes:
        if b == 1:
            continue
        say(f"{engine}: batch {b}, {runs} runs")
        n_batches = max(1, -(-n // b))
        batches = [_cycled(x, b, offset=k * b) for k in range(n_batches)]
        seconds = [_timed(lambda xb=xb: run(xb))[0] for _ in range(runs) for xb in batches]
        throughput[b] = b / float(np.median(seconds))
    return EngineTiming(
        engine=engine,
        runtime=runtime,
        threads=threads,
        fast=Latency.of(fast_s),
        encoder=Latency.of(enc_s),
        throughput=throughput,
        mean_tokens=float(np.mean([len(d.tokens) for d in decoded])),
        tokens=[list(d.tokens) for d in decoded],
        texts=[d.text for d in decoded],
    )


def measure_cold_start(
    engine: str,
    weights: str,
    image: Path,
    *,
    threads: int | None = None,
    max_len: int | None = None,
    runs: int = 3,
) -> ColdStart:
    """Start ``python -m ocrkit.engine.first_answer`` ``runs`` times: median start-to-answer seconds
    and the largest peak RSS. The child inherits this environment (``OCRKIT_*`` settings included)."""
    cmd = [sys.executable, "-m", "ocrkit.engine.first_answer", "--engine", engine, "--weights", weights]
    if threads:
        cmd += ["--threads", str(threads)]
    if max_len:
        cmd += ["--max-len", str(max_len)]
    cmd.append(str(image))
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parents[2])  # this ocrkit, also when run from a checkout
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
    if threads:  # torch's OpenMP pool reads these when it loads
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(threads)
    seconds: list[float] = []
    peaks: list[float] = []
    text = ""
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        assert proc.stdout is not None and proc.stderr is not None
        line = proc.stdout.readline()
        answered = time.perf_counter() - start
        rest_out = proc.stdout.read()
        err = proc.stderr.read()
        code = proc.wait()
        if code != 0 or not line.strip():
            detail = (err or rest_out).decode(errors="replace").strip().splitlines()
            raise RuntimeError(f"the cold-start process failed: {detail[-1] if detail else code}")
        answer = json.loads(line)
        text = answer["text"]
        seconds.append(answered)
        peaks.append(float(answer["peak_rss_mb"]))
    return ColdStart(seconds=float(np.median(seconds)), peak_rss_mb=max(peaks), runs=runs, text=text)
