"""`ocrkit bench --engine onnx|both`: the engines side by side, and the profiles bench writes.

Kept apart from ``model.py`` so that the ONNX path imports no torch: torch is imported here only when
the torch engine is timed or a random-init model has to be built and exported.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ocrkit.errors import OcrkitError

RANDOM_INIT_NOTE = (
    "random weights never emit EOS: decoding is capped at {cap} tokens, a typical crop's text + EOS "
    "(use --max-len 100 for the report's limit)"
)


def _stdout() -> Console:
    return Console(highlight=False)


def _stderr() -> Console:
    return Console(stderr=True, highlight=False)


def bench_engines(
    *,
    engines: list[str],
    weights: Path | None,
    random_init: bool,
    images_dir: Path | None,
    limit: int,
    runs: int,
    max_len: int | None,
    threads: int | None,
    device: str,
    quantize: str,
    cold_start: bool,
    cold_runs: int,
    save_profile: Path | None,
    as_json: bool,
) -> None:
    from ocrkit.commands.inference import _require_torch, bench_images
    from ocrkit.engine.bench import Comparison, cpu_name, load_average, measure_cold_start, time_engine
    from ocrkit.engine.manifest import file_sha256, is_export_dir, read_manifest
    from ocrkit.engine.onnx_runtime import OnnxPredictor, import_onnxruntime
    from ocrkit.engine.preprocess import PILLOW
    from ocrkit.weights import is_demo_weights, resolve_weights

    if quantize != "none":
        raise OcrkitError("--quantize int8 is timed with --engine torch; the ONNX engine runs float32")
    if device not in ("auto", "cpu"):
        raise OcrkitError("--engine onnx|both times the CPU engines: use --device cpu (or leave it out)")
    if random_init and weights is not None:
        raise OcrkitError("give --weights or --random-init, not both")
    if "torch" in engines or random_init:
        _require_torch("bench --engine both" if "torch" in engines else "bench --random-init")
    ort = import_onnxruntime()
    threads = threads or os.cpu_count() or 1

    if images_dir is not None:
        data, source = bench_images(images_dir, limit, PILLOW.decode)
    else:
        from ocrkit.core_model.samples import sample_images

        data = [s.png for s in sample_images()]
        source = f"{len(data)} rendered samples (ocrkit.core_model.samples)"

    err = _stderr()

    def say(stage: str) -> None:
        err.print(f"[dim]{escape(stage)}[/]", soft_wrap=True)

    load = load_average()
    note = None
    model = None
    with tempfile.TemporaryDirectory(prefix="ocrkit-bench-") as tmp_name:
        tmp = Path(tmp_name)
        if random_init:
            from ocrkit.core_model.bench import RANDOM_INIT_LABEL, TYPICAL_MAX_LEN, random_init_model
            from ocrkit.core_model.checkpoint import save_checkpoint
            from ocrkit.core_model.onnx_export import export_model

            model = random_init_model()
            pt: Path | None = save_checkpoint(model, tmp / "random-init.pt")
            label = RANDOM_INIT_LABEL
            cap = max_len or TYPICAL_MAX_LEN
            if max_len is None:
                note = RANDOM_INIT_NOTE.format(cap=cap)
            export_dir = tmp / "onnx"
            say("exporting the random-init model to ONNX")
            export_model(model, export_dir, source_sha256=file_sha256(pt), source_name=pt.name)
        else:
            path = resolve_weights(weights)
            if path.is_dir() or is_export_dir(path):
                if "torch" in engines:
                    raise OcrkitError(
                        f"{path} is an ONNX export directory: --engine both times the torch engine too, "
                        "so give --weights the .pt it was exported from"
                    )
                export_dir, pt = path, None
            elif path.is_file():
                from ocrkit.engine.cache import cached_export

                pt = path
                export_dir = cached_export(path, progress=say)
            else:
                raise OcrkitError(f"model weights not found: {path}")
            label = f"{path} (demo checkpoint)" if is_demo_weights(path) else str(path)
            cap = max_len or read_manifest(export_dir).max_len
        manifest = read_manifest(export_dir)
        if cap > manifest.max_len:
            raise OcrkitError(f"--max-len {cap} exceeds the export's limit of {manifest.max_len} tokens")

        timings = []
        if "torch" in engines:
            import torch

            from ocrkit.core_model.checkpoint import load_checkpoint
            from ocrkit.core_model.predictor import TorchPredictor

            torch.set_num_threads(threads)
            if model is None:
                model = load_checkpoint(pt).model
            tp = TorchPredictor(model, device="cpu", max_len=cap)
            timings.append(
                time_engine(
                    "torch",
                    tp,
                    data,
                    runtime=f"torch {torch.__version__}",
                    threads=threads,
                    runs=runs,
                    progress=say,
                )
            )
            del tp
        op = OnnxPredictor(export_dir, max_len=cap, threads=threads)
        timings.append(
            time_engine(
                "onnx",
                op,
                data,
                runtime=f"onnxruntime {ort.__version__}",
                threads=threads,
                runs=runs,
                progress=say,
            )
        )
        del op

        if cold_start:
            image = tmp / "first-image"
            image.write_bytes(data[0])
            for i, timing in enumerate(timings):
                source_arg = str(pt) if timing.engine == "torch" else str(export_dir)
                say(f"{timing.engine}: cold start, {cold_runs} fresh processes")
                try:
                    cold = measure_cold_start(
                        timing.engine, source_arg, image, threads=threads, max_len=cap, runs=cold_runs
                    )
                except RuntimeError as exc:
                    raise OcrkitError(str(exc)) from None
                timings[i] = _with_cold(timing, cold)

    result = Comparison(
        machine=f"{cpu_name()}, {os.cpu_count()} CPUs",
        load_avg_1m=load,
        weights=label,
        architecture=manifest.architecture.describe(),
        images=len(data),
        image_source=source,
        runs=runs,
        max_len=cap,
        note=note,
        engines=timings,
    )
    if save_profile is not None:
        sha256 = None if random_init else manifest.source_sha256  # a random-init file is temporary
        method = _method(engines) + (" --random-init" if random_init else "") + f" --threads {threads}"
        written = _save_comparison_profiles(result, sha256, save_profile, threads, method)
        for path in written:
            say(f"speed profile written: {path}")
    if as_json:
        typer.echo(json.dumps(result.to_json(), ensure_ascii=False, indent=2))
        return
    print_comparison(result)


def _with_cold(timing, cold):
    from dataclasses import replace

    return replace(timing, cold_start=cold)


def _method(engines: list[str]) -> str:
    return f"ocrkit bench --engine {'both' if len(engines) > 1 else engines[0]}"


def _save_comparison_profiles(
    result, sha256: str | None, path: Path, threads: int, method: str
) -> list[Path]:
    from ocrkit.engine.bench import cpu_name
    from ocrkit.engine.speed_profile import build_profile, save_profiles

    notes = _profile_notes(result.load_avg_1m, result.image_source, result.max_len, result.note)
    profiles = {
        t.engine: build_profile(
            engine=t.engine,
            architecture=result.architecture,
            weights=result.weights,
            sha256=sha256,
            cpu=cpu_name(),
            threads=threads,
            p50_ms=t.fast.p50_ms,
            p95_ms=t.fast.p95_ms,
            throughput=t.throughput,
            cold_start_s=t.cold_start.seconds if t.cold_start else None,
            peak_rss_mb=t.cold_start.peak_rss_mb if t.cold_start else None,
            method=method,
            notes=notes,
        )
        for t in result.engines
    }
    return save_profiles(profiles, path)


def _profile_notes(load: float | None, source: str, max_len: int, note: str | None) -> str:
    parts = [f"images: {source}; max {max_len} tokens per image"]
    if load is not None:
        parts.append(f"1-minute load average {load:.2f} at start")
    if note:
        parts.append(note)
    return "; ".join(parts)


# -- the torch-only bench (reference vs fast) ------------------------------------------------------


def torch_cold_start(
    model, weights_path: Path | None, image: bytes, threads: int | None, cap: int, runs: int
):
    """Cold start of the torch engine; a random-init model is saved to a temporary checkpoint first."""
    from ocrkit.core_model.checkpoint import save_checkpoint
    from ocrkit.engine.bench import measure_cold_start

    with tempfile.TemporaryDirectory(prefix="ocrkit-bench-") as tmp_name:
        tmp = Path(tmp_name)
        pt = weights_path or save_checkpoint(model, tmp / "random-init.pt")
        (tmp / "first-image").write_bytes(image)
        try:
            return measure_cold_start(
                "torch", str(pt), tmp / "first-image", threads=threads, max_len=cap, runs=runs
            )
        except RuntimeError as exc:
            raise OcrkitError(str(exc)) from None


def save_torch_profile(result, model, label: str, weights_path: Path | None, cold, path: Path) -> None:
    from ocrkit.engine.bench import cpu_name
    from ocrkit.engine.manifest import Architecture, file_sha256
    from ocrkit.engine.speed_profile import build_profile, save_profiles

    cfg = model.config.to_dict()
    arch = Architecture(**{k: cfg[k] for k in Architecture.__dataclass_fields__})
    profile = build_profile(
        engine="torch",
        architecture=arch.describe(),
        weights=label,
        sha256=file_sha256(weights_path) if weights_path else None,
        cpu=cpu_name(),
        threads=result.threads,
        p50_ms=result.fast.p50_ms,
        p95_ms=result.fast.p95_ms,
        throughput=result.throughput,
        cold_start_s=cold.seconds if cold else None,
        peak_rss_mb=cold.peak_rss_mb if cold else None,
        method="ocrkit bench --engine torch",
        notes=_profile_notes(result.load_avg_1m, result.image_source, result.max_len, result.note),
    )
    for written in save_profiles({"torch": profile}, path):
        _stderr().print(f"[dim]speed profile written: {escape(str(written))}[/]", soft_wrap=True)


# -- output ----------------------------------------------------------------------------------------


def print_comparison(result) -> None:
    out = _stdout()
    load = "" if result.load_avg_1m is None else f", load average {result.load_avg_1m:.2f} at start"
    out.print(f"machine: {escape(result.machine)}{load}")
    out.print(f"model: {escape(result.architecture)}; weights: {escape(result.weights)}")
    out.print(
        f"images: {escape(result.image_source)}; max {result.max_len} tokens per image; {result.runs} runs"
    )
    if result.note:
        out.print(f"[yellow]note:[/] {escape(result.note)}")
    engines = result.engines
    table = Table(title="fast decoder, engines side by side", title_justify="left")
    table.add_column("")
    for t in engines:
        table.add_column(t.engine, justify="right")
    two = len(engines) == 2
    if two:
        table.add_column(f"{engines[1].engine} / {engines[0].engine}", justify="right")

    def row(name: str, values: list[float | None], fmt: str) -> None:
        cells = ["-" if v is None else format(v, fmt) for v in values]
        if two:
            a, b = values
            cells.append("-" if not a or b is None else f"{b / a:.2f}")
        table.add_row(name, *cells)

    row("p50 per image, batch 1 (ms)", [t.fast.p50_ms for t in engines], ".1f")
    row("p95 per image, batch 1 (ms)", [t.fast.p95_ms for t in engines], ".1f")
    row("backbone + encoder floor, p50 (ms)", [t.encoder.p50_ms for t in engines], ".1f")
    row("p50 / floor", [t.fast.p50_ms / t.encoder.p50_ms for t in engines], ".2f")
    for b in engines[0].throughput:
        row(f"throughput, batch {b} (images/s)", [t.throughput.get(b) for t in engines], ".1f")
    if any(t.cold_start for t in engines):
        row("cold start: process start to answer (s)", [_cold(t, "seconds") for t in engines], ".2f")
        row("peak memory (RSS) of that process (MB)", [_cold(t, "peak_rss_mb") for t in engines], ".0f")
    row("mean tokens per image", [t.mean_tokens for t in engines], ".1f")
    out.print(table)
    if two:
        out.print(
            f"identical texts: {result.identical_texts}/{result.images}; "
            f"identical tokens: {result.identical_tokens}/{result.images}"
        )


def _cold(timing, attr: str) -> float | None:
    return None if timing.cold_start is None else getattr(timing.cold_start, attr)
