"""Benchmark (not a test): `ocrkit batch` against the engine's best `ocrkit bench` throughput, in one run.

For one engine (``--engine onnx|torch``) and one set of weights (the demo checkpoint unless
``--weights``), with the same CPU threads throughout (``--threads``, default: the CPU count, as
`ocrkit bench` does), each round measures:

* ``bench``: the engine's throughput the way `ocrkit bench` measures it -- the same code
  (``ocrkit.engine.bench.time_engine``), the same predictor construction, the same 32 rendered
  images, batch sizes 1, 8 and 32; the best of them is the reference;
* ``batch local``: `ocrkit batch FOLDER --out results.jsonl` in a child process on a folder of
  ``--images`` files (the 12 sample crops and the 32 bench images, hard-linked under distinct names
  until there are N); its rate is the job's own (images / seconds of the run, model load excluded);
* ``batch ray`` (with ``--ray``): the same job with ``--runner ray``;
* peak RSS (the child's own ``VmHWM``, sampled) of local batch runs of each size in ``--rss-at``;
* with ``--ab-rounds N``, the pipeline's own cost without the machine's drift: in this process, one
  loaded model, ``N`` alternations of (1) the local runner over the first ``--ab-images`` files of
  the folder (read, decode and preprocess in its threads, then infer) and (2) the same runner's
  inference alone on those images already prepared; the per-alternation ratio (1) / (2) is what
  the pipeline around the model leaves of the model's throughput.

Ratios are taken within a round, and each round brackets its batch runs with two bench
measurements, one before and one after: the reference is their mean, so a drift in the machine's
speed during the round (seen here: 101 to 151 images/s within minutes on one VM) weighs on both
sides alike. The ratio against the "before" bench alone is reported too. Prints the load average
before and after each measurement.

    PYTHONPATH=$PWD python scripts/bench_batch.py [--engine onnx] [--images 2000] [--ray] \
        [--rss-at 1000,20000] [--rounds 2] [--format json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SAMPLES = ROOT / "ocrkit" / "assets" / "samples"


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


@dataclass
class Measure:
    what: str
    images_per_s: float
    load_before: str
    load_after: str
    detail: dict = field(default_factory=dict)


def build_folder(folder: Path, count: int, bench_pngs: list[bytes]) -> None:
    """``count`` image files: the sample JPEGs and the bench PNGs, hard-linked under distinct names."""
    originals = folder / "originals"
    originals.mkdir(parents=True)
    files = sorted(SAMPLES.glob("*.jpg"))
    for i, data in enumerate(bench_pngs):
        path = originals / f"bench{i:02d}.png"
        path.write_bytes(data)
        files.append(path)
    images = folder / "images"
    images.mkdir()
    for i in range(count):
        src = files[i % len(files)]
        dst = images / f"img{i:06d}{src.suffix}"
        try:
            os.link(src, dst)
        except OSError:
            shutil.copyfile(src, dst)


def measure_bench(engine: str, weights: Path, threads: int, runs: int, images: list[bytes]) -> Measure:
    """`ocrkit bench --engine <engine> --threads <threads>`: the same predictor, images and batch sizes."""
    from ocrkit.engine.bench import time_engine
    from ocrkit.engine.cache import cached_export
    from ocrkit.engine.manifest import read_manifest

    before = loadavg()
    if engine == "onnx":
        import onnxruntime as ort

        from ocrkit.engine.onnx_runtime import OnnxPredictor

        export_dir = cached_export(weights)
        cap = read_manifest(export_dir).max_len
        predictor = OnnxPredictor(export_dir, max_len=cap, threads=threads)
        runtime = f"onnxruntime {ort.__version__}"
    else:
        import torch

        from ocrkit.core_model.checkpoint import load_checkpoint
        from ocrkit.core_model.network import MAX_DECODE_LEN
        from ocrkit.core_model.predictor import TorchPredictor

        torch.set_num_threads(threads)
        predictor = TorchPredictor(load_checkpoint(weights).model, device="cpu", max_len=MAX_DECODE_LEN)
        runtime = f"torch {torch.__version__}"
    timing = time_engine(engine, predictor, images, runtime=runtime, threads=threads, runs=runs)
    del predictor
    best_batch = max(timing.throughput, key=timing.throughput.get)
    return Measure(
        "bench",
        timing.throughput[best_batch],
        before,
        loadavg(),
        {
            "best_batch": best_batch,
            "throughput": {str(k): round(v, 2) for k, v in timing.throughput.items()},
            "mean_tokens": round(timing.mean_tokens, 2),
        },
    )


def measure_batch(
    folder: Path,
    out: Path,
    *,
    engine: str,
    weights: Path,
    threads: int,
    runner: str,
    workers: int | None,
    batch_size: int | None,
) -> Measure:
    """One `ocrkit batch` in a child process: its summary and its peak RSS (``VmHWM``)."""
    cmd = [sys.executable, "-m", "ocrkit.cli", "batch", str(folder), "--out", str(out), "--overwrite"]
    cmd += ["--engine", engine, "--weights", str(weights), "--threads", str(threads)]
    cmd += ["--runner", runner, "--summary", "json"]
    if workers:
        cmd += ["--workers", str(workers)]
    if batch_size:
        cmd += ["--batch-size", str(batch_size)]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    before = loadavg()
    with tempfile.TemporaryFile() as out_fh, tempfile.TemporaryFile() as err_fh:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out_fh, stderr=err_fh, env=env)
        peak_kib, status = 0, None
        while status is None:
            peak_kib = max(peak_kib, vm_hwm_kib(proc.pid))
            pid, raw, _ = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                status = raw
            else:
                time.sleep(0.05)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out_fh.seek(0)
        err_fh.seek(0)
        stdout, stderr = out_fh.read(), err_fh.read()
    if proc.returncode != 0:
        tail = stderr.decode(errors="replace").strip().splitlines()[-3:]
        raise SystemExit(f"ocrkit batch failed ({proc.returncode}): {' | '.join(tail)}")
    summary = json.loads(stdout)
    with out.open(encoding="utf-8") as fh:
        rows = sum(1 for _ in fh)
    info = json.loads(out.with_name(out.name + ".manifest.json").read_text(encoding="utf-8"))["info"]
    return Measure(
        f"batch {runner}",
        float(summary["images_per_s"]),
        before,
        loadavg(),
        {
            "images": summary["processed"],
            "rows_written": rows,
            "errors": summary["errors"],
            "run_seconds": summary["seconds"],
            "wall_seconds": round(wall, 2),
            "workers": info["workers"],
            "batch_size": info["batch_size"],
            "peak_rss_mb": round(peak_kib / 1024, 1),
        },
    )


def measure_pipeline_ab(
    folder: Path,
    *,
    engine: str,
    weights: Path,
    threads: int,
    workers: int,
    batch_size: int | None,
    images: int,
    rounds: int,
) -> dict:
    """The local runner against its own inference on already-prepared images, alternated."""
    from ocrkit.batch.runners.base import EngineSettings
    from ocrkit.batch.runners.local import LocalRunner, read_and_prepare
    from ocrkit.batch.sources import FolderSource

    settings = EngineSettings(engine, weights, threads=threads, batch_size=batch_size or 32)
    runner = LocalRunner(settings, workers=workers)
    runner.prepare()
    inference = runner.inference
    source = FolderSource(folder)
    keys = source.keys()[:images]
    prepared = [read_and_prepare(source, inference, key) for key in keys]
    size = settings.batch_size

    def model_only() -> float:
        started = time.perf_counter()
        for i in range(0, len(prepared), size):
            inference.infer(prepared[i : i + size])
        return len(prepared) / (time.perf_counter() - started)

    def pipeline() -> float:
        rows: list = []
        started = time.perf_counter()
        runner.run(source, keys, rows.extend)
        rate = len(keys) / (time.perf_counter() - started)
        failed = [row for row in rows if row.error is not None]
        if len(rows) != len(keys) or failed:
            raise SystemExit(f"runner: {len(rows)} rows for {len(keys)} images, {len(failed)} errors")
        return rate

    model_only()  # warm-up, not counted
    before = loadavg()
    alone, piped = [], []
    for r in range(rounds):
        alone.append(model_only())
        piped.append(pipeline())
        say(f"  a/b {r + 1}/{rounds}: model alone {alone[-1]:.1f}, runner {piped[-1]:.1f} img/s")
    runner.close()
    ratios = [p / a for p, a in zip(piped, alone, strict=True)]
    return {
        "images": len(keys),
        "rounds": rounds,
        "workers": workers,
        "batch_size": size,
        "model_alone_median": round(statistics.median(alone), 2),
        "runner_median": round(statistics.median(piped), 2),
        "ratio_median": round(statistics.median(ratios), 3),
        "ratio_min": round(min(ratios), 3),
        "ratio_max": round(max(ratios), 3),
        "load_before": before,
        "load_after": loadavg(),
    }


def vm_hwm_kib(pid: int) -> int:
    """The process's own peak RSS so far (``VmHWM``, KiB), or 0 once it is gone.

    Not ``ru_maxrss`` from ``wait4``: a child forked from this process inherits this process's
    high-water mark, so it would report the benchmark's own model, not the batch job's memory.
    Sampled every 50 ms while the child runs.
    """
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=("onnx", "torch"), default="onnx")
    parser.add_argument("--weights", help="checkpoint (.pt) or ONNX export; default: the demo checkpoint")
    parser.add_argument("--images", type=int, default=2000, help="images in the folder the batch reads")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="CPU threads, both sides")
    parser.add_argument("--runs", type=int, default=3, help="bench: timed passes (as `ocrkit bench --runs`)")
    parser.add_argument("--workers", type=int, help="local runner's --workers (default: ocrkit batch's)")
    parser.add_argument("--batch-size", type=int, help="--batch-size (default: ocrkit batch's)")
    parser.add_argument("--ray", action="store_true", help="also run --runner ray on the same folder")
    parser.add_argument("--ray-workers", type=int, default=1, help="Ray actors (--workers with ray)")
    parser.add_argument("--rss-at", default="", help="comma-separated image counts for peak RSS runs")
    parser.add_argument("--rounds", type=int, default=1, help="repeat bench + batch this many times")
    parser.add_argument("--ab-rounds", type=int, default=0, help="in-process runner vs model alone, N times")
    parser.add_argument("--ab-images", type=int, default=320, help="images per in-process alternation")
    parser.add_argument("--format", choices=("table", "json"), default="table")
    args = parser.parse_args()

    from ocrkit.core_model.samples import sample_images
    from ocrkit.engine.bench import cpu_name
    from ocrkit.weights import resolve_weights

    weights = resolve_weights(args.weights)
    bench_pngs = [s.png for s in sample_images()]
    rss_at = [int(n) for n in args.rss_at.split(",") if n.strip()]
    work = Path(tempfile.mkdtemp(prefix="ocrkit-batch-bench-"))
    report: dict = {
        "machine": f"{cpu_name()}, {os.cpu_count()} CPUs",
        "engine": args.engine,
        "weights": str(weights),
        "threads": args.threads,
        "images": args.images,
        "nice": os.getpriority(os.PRIO_PROCESS, 0),
        "rounds": [],
        "rss": [],
    }
    try:
        folder = work / f"n{args.images}"
        build_folder(folder, args.images, bench_pngs)
        batch_kw = dict(engine=args.engine, weights=weights, threads=args.threads, batch_size=args.batch_size)
        for r in range(args.rounds):
            say(f"round {r + 1}: bench ({args.engine}, {args.threads} threads)")
            bench = measure_bench(args.engine, weights, args.threads, args.runs, bench_pngs)
            say(f"  {bench.images_per_s:.1f} img/s; batch local on {args.images} images")
            local = measure_batch(
                folder / "images", work / "local.jsonl", runner="local", workers=args.workers, **batch_kw
            )
            say(f"  {local.images_per_s:.1f} img/s")
            row = {"bench": asdict(bench), "local": asdict(local)}
            if args.ray:
                say("  batch ray")
                ray = measure_batch(
                    folder / "images", work / "ray.jsonl", runner="ray", workers=args.ray_workers, **batch_kw
                )
                say(f"  {ray.images_per_s:.1f} img/s")
                row["ray"] = asdict(ray)
                row["ray_over_local"] = round(ray.images_per_s / local.images_per_s, 3)
            say("  bench again")
            after = measure_bench(args.engine, weights, args.threads, args.runs, bench_pngs)
            say(f"  {after.images_per_s:.1f} img/s")
            reference = (bench.images_per_s + after.images_per_s) / 2
            row["bench_after"] = asdict(after)
            row["bench_reference"] = round(reference, 2)
            row["local_over_bench"] = round(local.images_per_s / reference, 3)
            row["local_over_bench_before"] = round(local.images_per_s / bench.images_per_s, 3)
            report["rounds"].append(row)
        if args.ab_rounds:
            say(f"pipeline a/b in this process: {args.ab_rounds} alternations of {args.ab_images} images")
            report["pipeline_ab"] = measure_pipeline_ab(
                folder / "images",
                engine=args.engine,
                weights=weights,
                threads=args.threads,
                workers=args.workers or min(4, os.cpu_count() or 1),  # ocrkit batch's default
                batch_size=args.batch_size,
                images=min(args.ab_images, args.images),
                rounds=args.ab_rounds,
            )
        for n in rss_at:
            say(f"peak RSS: batch local on {n} images")
            sub = work / f"rss{n}"
            build_folder(sub, n, bench_pngs)
            m = measure_batch(
                sub / "images", work / f"rss{n}.jsonl", runner="local", workers=args.workers, **batch_kw
            )
            report["rss"].append({"images": n, **asdict(m)})
            shutil.rmtree(sub)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    for key in ("local_over_bench", "local_over_bench_before", "ray_over_local"):  # the middle round
        ratios = [row[key] for row in report["rounds"] if key in row]
        if ratios:
            report[f"median_{key}"] = round(statistics.median(ratios), 3)
    if args.format == "json":
        print(json.dumps(report, indent=2))
        return
    print_table(report)


def print_table(report: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
    console.print(
        f"{report['machine']}; engine {report['engine']}, {report['threads']} threads on both sides; "
        f"weights {report['weights']}; nice {report['nice']}"
    )
    table = Table(title=f"throughput, {report['images']} images per batch run", title_justify="left")
    for col in ("round", "run", "images/s", "ratio", "details", "load avg before -> after"):
        table.add_column(col, justify="right" if col in ("images/s", "ratio") else "left")
    for i, row in enumerate(report["rounds"], 1):
        b, loc = row["bench"], row["local"]
        bd, ld = b["detail"], loc["detail"]
        table.add_row(
            str(i),
            "ocrkit bench (best)",
            f"{b['images_per_s']:.1f}",
            "",
            f"batch {bd['best_batch']}; " + ", ".join(f"{k}: {v}" for k, v in bd["throughput"].items()),
            f"{b['load_before']} -> {b['load_after']}",
        )
        table.add_row(
            "",
            "ocrkit batch local",
            f"{loc['images_per_s']:.1f}",
            f"{row['local_over_bench']:.2f} x bench ({row['local_over_bench_before']:.2f} x before)",
            f"batch {ld['batch_size']}, workers {ld['workers']}, {ld['rows_written']} rows, "
            f"{ld['run_seconds']:.1f} s run / {ld['wall_seconds']:.1f} s wall, "
            f"peak RSS {ld['peak_rss_mb']:.0f} MB",
            f"{loc['load_before']} -> {loc['load_after']}",
        )
        if "ray" in row:
            ray = row["ray"]
            rd = ray["detail"]
            table.add_row(
                "",
                "ocrkit batch ray",
                f"{ray['images_per_s']:.1f}",
                f"{row['ray_over_local']:.2f} x local",
                f"batch {rd['batch_size']}, actors {rd['workers']}, {rd['rows_written']} rows, "
                f"{rd['run_seconds']:.1f} s run / {rd['wall_seconds']:.1f} s wall",
                f"{ray['load_before']} -> {ray['load_after']}",
            )
        a = row["bench_after"]
        table.add_row(
            "",
            "ocrkit bench (best), after",
            f"{a['images_per_s']:.1f}",
            "",
            f"batch {a['detail']['best_batch']}; reference (mean of both): {row['bench_reference']:.1f}",
            f"{a['load_before']} -> {a['load_after']}",
        )
    console.print(table)
    for key, label in (
        ("local_over_bench", "batch local / bench (mean of before and after)"),
        ("local_over_bench_before", "batch local / bench before it"),
        ("ray_over_local", "batch ray / local"),
    ):
        if f"median_{key}" in report:
            ratios = ", ".join(f"{row[key]:.2f}" for row in report["rounds"])
            console.print(f"{label}: median {report[f'median_{key}']:.2f} over rounds ({ratios})")
    if "pipeline_ab" in report:
        ab = report["pipeline_ab"]
        console.print(
            f"pipeline a/b in one process ({ab['rounds']} alternations of {ab['images']} images, batch "
            f"{ab['batch_size']}, {ab['workers']} read threads): runner {ab['runner_median']:.1f} vs model "
            f"alone {ab['model_alone_median']:.1f} img/s (medians); runner / model alone: median "
            f"{ab['ratio_median']:.3f} (range {ab['ratio_min']:.2f}-{ab['ratio_max']:.2f}); load avg "
            f"{ab['load_before']} -> {ab['load_after']}"
        )
    if report["rss"]:
        rss = Table(title="peak RSS of the local batch process (VmHWM, sampled)", title_justify="left")
        for col in ("images", "peak RSS MB", "images/s", "load avg before -> after"):
            rss.add_column(col, justify="right" if col != "load avg before -> after" else "left")
        for m in report["rss"]:
            rss.add_row(
                str(m["images"]),
                f"{m['detail']['peak_rss_mb']:.0f}",
                f"{m['images_per_s']:.1f}",
                f"{m['load_before']} -> {m['load_after']}",
            )
        console.print(rss)


if __name__ == "__main__":
    main()
