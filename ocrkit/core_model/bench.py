"""Speed of the report's decoder against the fast one, measured in the same run on the same images.

What is measured (``time.perf_counter`` around each call, under ``torch.inference_mode``, after
warm-up calls that are not counted):

* ``encoder``: backbone + Transformer encoder alone for one image -- the floor for a single image,
  since any decoder has to run them once;
* ``fast``: the fast decoder (backbone + encoder once, then the cached token loop) on one image at a
  time, ``runs`` times over every image;
* ``reference``: the report's loop (the whole network again for every output token) on one image at a
  time, once per image on the first ``reference_images`` images only -- it costs one full forward
  pass per output token;
* ``throughput``: images per second of the fast decoder at batch sizes 1, 8 and 32: the batch size
  over the median time of one batch. Batch 1 is the ``fast`` pass above; larger batches cycle through
  the images (padding the last batch with the first images), ``runs`` times;
* with ``quantize="int8"``: the same ``fast`` pass through the int8 decoder, its speedups, and how far
  its texts agree with the float32 ones (1 - CER between the two).

Latencies are per image, in milliseconds; p50 / p95 are linear-interpolated percentiles.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import cycle, islice

import numpy as np
import torch

from ocrkit.core_model.decoding import Decoded, FastDecoder, reference_decode
from ocrkit.core_model.metrics import cer
from ocrkit.core_model.network import MAX_DECODE_LEN, ModelConfig, TransformerModel
from ocrkit.core_model.preprocess import preprocess_images
from ocrkit.engine.bench import DEFAULT_BATCH_SIZES, Latency, StageCallback

#: The label used when no weights are given: speed does not depend on training (token count aside).
RANDOM_INIT_LABEL = "random-init resnet50/512 (--random-init)"

#: Random weights never emit EOS, so every image would run to the 100-token limit, while a crop's text
#: is ~9 characters (the samples average 8.9; the Kaggle crops are similar). Without trained weights the
#: decoders are therefore capped at a typical length: 9 characters + EOS.
TYPICAL_MAX_LEN = 10


@dataclass(frozen=True)
class Int8Result:
    """The int8 fast decoder against the float32 one, same images, batch 1."""

    fast: Latency
    speedup: float  # reference p50 / int8 fast p50
    speedup_vs_fp32_fast: float  # fp32 fast p50 / int8 fast p50
    char_agreement: float  # 1 - CER of the int8 texts against the fp32 texts
    identical_texts: int  # how many images got exactly the fp32 text
    images: int
    throughput: dict[int, float] = field(default_factory=dict)


@dataclass(frozen=True)
class BenchResult:
    device: str
    torch_version: str
    threads: int
    weights: str
    images: int
    image_source: str
    runs: int
    reference_images: int
    max_len: int
    note: str | None
    load_avg_1m: float | None  # the machine's 1-minute load average when the run started
    reference: Latency
    fast: Latency
    encoder: Latency
    mean_tokens: float
    identical: bool
    speedup: float
    throughput: dict[int, float]
    int8: Int8Result | None = None

    def to_json(self) -> dict:
        out: dict = {
            "device": self.device,
            "torch_version": self.torch_version,
            "threads": self.threads,
            "weights": self.weights,
            "images": self.images,
            "image_source": self.image_source,
            "runs": self.runs,
            "reference_images": self.reference_images,
            "max_len": self.max_len,
            "note": self.note,
            "load_avg_1m": None if self.load_avg_1m is None else round(self.load_avg_1m, 2),
            "reference_ms_p50": _r(self.reference.p50_ms),
            "reference_ms_p95": _r(self.reference.p95_ms),
            "fast_ms_p50": _r(self.fast.p50_ms),
            "fast_ms_p95": _r(self.fast.p95_ms),
            "encoder_ms_p50": _r(self.encoder.p50_ms),
            "encoder_ms_p95": _r(self.encoder.p95_ms),
            "fast_over_encoder": _r(self.fast.p50_ms / self.encoder.p50_ms),
            "mean_tokens": _r(self.mean_tokens),
            "speedup": _r(self.speedup),
            "identical": self.identical,
            "throughput": {str(b): _r(v) for b, v in self.throughput.items()},
        }
        if self.int8 is not None:
            q = self.int8
            out["int8"] = {
                "fast_ms_p50": _r(q.fast.p50_ms),
                "fast_ms_p95": _r(q.fast.p95_ms),
                "speedup": _r(q.speedup),
                "speedup_vs_fp32_fast": _r(q.speedup_vs_fp32_fast),
                "char_agreement": round(q.char_agreement, 4),
                "identical_texts": q.identical_texts,
                "images": q.images,
                "throughput": {str(b): _r(v) for b, v in q.throughput.items()},
            }
        return out


def _r(x: float) -> float:
    return round(float(x), 2)


def random_init_model(config: ModelConfig | None = None, *, seed: int = 0) -> TransformerModel:
    """The report's architecture with seeded random weights (for timing when no weights are given)."""
    torch.manual_seed(seed)
    return TransformerModel.from_config(config or ModelConfig()).eval()


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"cpu ({name})" if name else "cpu"


def _load_average() -> float | None:
    """Other work on the machine slows every timing (torch's threads wait on each other when a core
    is taken), so the result records how busy the machine was."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def _timed(fn: Callable[[], object], sync: Callable[[], None]) -> tuple[float, object]:
    sync()
    start = time.perf_counter()
    out = fn()
    sync()
    return time.perf_counter() - start, out


def _cycled(x: torch.Tensor, size: int, offset: int = 0) -> torch.Tensor:
    n = x.shape[0]
    idx = list(islice(cycle(range(n)), offset, offset + size))
    return x[idx]


def run_bench(
    model: TransformerModel,
    images: Sequence[bytes],
    *,
    weights: str = RANDOM_INIT_LABEL,
    image_source: str = "rendered samples",
    runs: int = 3,
    reference_images: int = 8,
    batch_sizes: Sequence[int] = DEFAULT_BATCH_SIZES,
    warmup: int = 2,
    max_len: int = MAX_DECODE_LEN,
    quantize: str = "none",
    device: torch.device | str = "cpu",
    note: str | None = None,
    progress: StageCallback | None = None,
) -> BenchResult:
    """Time the reference decoder, the fast decoder and the encoder floor on ``images``.

    ``max_len`` caps the tokens per image for both decoders (the report's limit is 100); ``note`` is
    carried into the result for the reader (e.g. why the cap was lowered).
    """
    if not images:
        raise ValueError("no images to benchmark")
    if runs < 1 or reference_images < 1 or max_len < 1 or warmup < 0:
        raise ValueError("runs, reference_images and max_len must be at least 1, warmup at least 0")
    if quantize not in ("none", "int8"):
        raise ValueError(f"quantize must be 'none' or 'int8', not {quantize!r}")
    device = torch.device(device)
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    say = progress or (lambda stage: None)

    load = _load_average()
    model = model.to(device).eval()
    x = preprocess_images(list(images)).to(device)
    n = x.shape[0]
    singles = [x[i : i + 1] for i in range(n)]
    n_ref = min(reference_images, n)
    fast = FastDecoder(model)

    with torch.inference_mode():
        say("warm-up")
        for i in range(warmup):
            fast.encode(singles[i % n])
            fast(singles[i % n], max_len=max_len)
            reference_decode(model, singles[i % n], max_len=2)
            for b in batch_sizes:
                if b > 1:
                    fast(_cycled(x, b), max_len=max_len)

        say(f"encoder floor: {n} images x {runs} runs")
        enc_s = [_timed(lambda s=s: fast.encode(s), sync)[0] for _ in range(runs) for s in singles]

        say(f"fast decoder, batch 1: {n} images x {runs} runs")
        fast_s: list[float] = []
        fast_out: list[Decoded] = []
        for r in range(runs):
            for s in singles:
                dt, out = _timed(lambda s=s: fast(s, max_len=max_len), sync)
                fast_s.append(dt)
                if r == 0:
                    fast_out.extend(out)

        say(f"reference decoder (the report's loop): first {n_ref} images, once each")
        ref_s: list[float] = []
        ref_out: list[Decoded] = []
        for s in singles[:n_ref]:
            dt, out = _timed(lambda s=s: reference_decode(model, s, max_len=max_len), sync)
            ref_s.append(dt)
            ref_out.extend(out)

        throughput = {1: 1.0 / float(np.median(fast_s))} if 1 in batch_sizes else {}
        for b in batch_sizes:
            if b == 1:
                continue
            say(f"fast decoder, batch {b}: {runs} runs")
            throughput[b] = _throughput(fast, x, b, runs, max_len, sync)

        int8 = None
        if quantize == "int8":
            int8 = _bench_int8(
                model, singles, x, runs, max_len, sync, batch_sizes, fast_out, ref_s, fast_s, say
            )

    reference = Latency.of(ref_s)
    fast_lat = Latency.of(fast_s)
    return BenchResult(
        device=describe_device(device),
        torch_version=torch.__version__,
        threads=torch.get_num_threads(),
        weights=weights,
        images=n,
        image_source=image_source,
        runs=runs,
        reference_images=n_ref,
        max_len=max_len,
        note=note,
        load_avg_1m=load,
        reference=reference,
        fast=fast_lat,
        encoder=Latency.of(enc_s),
        mean_tokens=float(np.mean([len(d.tokens) for d in fast_out])),
        identical=all(r.tokens == f.tokens for r, f in zip(ref_out, fast_out[:n_ref], strict=True)),
        speedup=reference.p50_ms / fast_lat.p50_ms,
        throughput=throughput,
        int8=int8,
    )


def _throughput(
    decoder: FastDecoder, x: torch.Tensor, batch: int, runs: int, max_len: int, sync: Callable[[], None]
) -> float:
    """Images/s at ``batch``: every image once per run (at least one full batch), ``runs`` runs; the
    median batch time is used, so that a burst of load from elsewhere on the machine does not skew it."""
    n_batches = max(1, -(-x.shape[0] // batch))
    batches = [_cycled(x, batch, offset=k * batch) for k in range(n_batches)]
    seconds = [
        _timed(lambda xb=xb: decoder(xb, max_len=max_len), sync)[0] for _ in range(runs) for xb in batches
    ]
    return batch / float(np.median(seconds))


def _bench_int8(
    model: TransformerModel,
    singles: list[torch.Tensor],
    x: torch.Tensor,
    runs: int,
    max_len: int,
    sync: Callable[[], None],
    batch_sizes: Sequence[int],
    fp32_out: list[Decoded],
    ref_s: list[float],
    fast_s: list[float],
    say: StageCallback,
) -> Int8Result:
    q = FastDecoder(model, quantize="int8")
    say("int8 fast decoder: warm-up")
    q(singles[0], max_len=max_len)
    say(f"int8 fast decoder, batch 1: {len(singles)} images x {runs} runs")
    q_s: list[float] = []
    q_out: list[Decoded] = []
    for r in range(runs):
        for s in singles:
            dt, out = _timed(lambda s=s: q(s, max_len=max_len), sync)
            q_s.append(dt)
            if r == 0:
                q_out.extend(out)
    throughput = {1: 1.0 / float(np.median(q_s))} if 1 in batch_sizes else {}
    for b in batch_sizes:
        if b > 1:
            say(f"int8 fast decoder, batch {b}: {runs} runs")
            q(_cycled(x, b), max_len=max_len)
            throughput[b] = _throughput(q, x, b, runs, max_len, sync)
    lat = Latency.of(q_s)
    fp32_texts = [d.text for d in fp32_out]
    int8_texts = [d.text for d in q_out]
    return Int8Result(
        fast=lat,
        speedup=Latency.of(ref_s).p50_ms / lat.p50_ms,
        speedup_vs_fp32_fast=Latency.of(fast_s).p50_ms / lat.p50_ms,
        char_agreement=max(0.0, 1.0 - cer(fp32_texts, int8_texts)),
        identical_texts=sum(a == b for a, b in zip(fp32_texts, int8_texts, strict=True)),
        images=len(singles),
        throughput=throughput,
    )
