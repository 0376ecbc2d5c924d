"""Benchmark (not a test): the AWS model function (`--serving function`) as it would run.

Builds the function's zip for this machine's Lambda-compatible target (python3.11, x86_64: the index's
manylinux wheels, as `ocrkit deploy` does), unpacks it into a fresh folder and starts fresh interpreters
(`python -I -S`: only that folder and the standard library on the path) that each measure the cold start
-- interpreter start to first answer, split into import, model read (archive read, sha256, unpack into a
fresh /tmp folder, ONNX Runtime sessions) and first answer -- then the warm latency per sample image
(median over --rounds) and the process's peak RSS. Also prints the zip's size (zipped / unzipped) for the
real-deploy targets (python3.12 x86_64 and arm64) and the model archive's. The model is read from a local
file: the S3 transfer of a cold start is not in these figures. Prints the load average.

    PYTHONPATH=$PWD python scripts/bench_function.py [--runs 3] [--rounds 3] [--format json]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SAMPLES = HERE.parent / "ocrkit" / "assets" / "samples"


def load() -> str:
    return Path("/proc/loadavg").read_text().split()[0]


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="fresh interpreters (cold starts)")
    parser.add_argument("--rounds", type=int, default=3, help="warm passes over the 12 images per run")
    parser.add_argument("--format", choices=("table", "json"), default="table")
    args = parser.parse_args()

    from ocrkit.providers.aws.function_package import build_function
    from ocrkit.providers.aws.function_wheels import WheelTarget
    from ocrkit.weights import shipped_weights_path

    work = Path(tempfile.mkdtemp(prefix="ocrkit-fn-bench-"))
    weights = shipped_weights_path()
    builds = {}
    for runtime, arch in (("python3.11", "x86_64"), ("python3.12", "x86_64"), ("python3.12", "arm64")):
        builds[f"{runtime} {arch}"] = build_function(
            weights, WheelTarget(runtime, arch), 2048, work / "build"
        )
    here = builds["python3.11 x86_64"]
    folder = work / "task"
    with zipfile.ZipFile(here.zip.path) as zf:
        zf.extractall(folder)
    images = {p.name: base64.b64encode(p.read_bytes()).decode() for p in sorted(SAMPLES.glob("*.jpg"))}
    images_file = work / "images.json"
    images_file.write_text(json.dumps(images), encoding="utf-8")

    load_start = load()
    runs = []
    for i in range(args.runs):
        env = {
            "PATH": "/usr/bin:/bin",
            "OCRKIT_MODEL_URI": str(here.model.path),
            "OCRKIT_MODEL_SHA256": here.model.sha256,
            "OCRKIT_MODEL_DIR": str(work / f"tmp-{i}"),  # a fresh /tmp: the archive is unpacked again
            "OCRKIT_ONNX_THREADS": "1",  # 2048 MB = 1.16 vCPU: what deploy sets
        }
        started = time.time()
        child = [sys.executable, "-I", "-S", str(HERE / "function_child.py"), str(folder), str(images_file)]
        proc = subprocess.run(
            [*child, str(args.rounds)], env=env, capture_output=True, text=True, check=True, cwd=folder
        )
        doc = json.loads(proc.stdout)
        doc["cold_start_s"] = doc.pop("first_wall") - started
        runs.append(doc)
    load_end = load()

    med = lambda key: statistics.median(r[key] for r in runs)  # noqa: E731
    warm = {name: statistics.median(r["warm_ms"][name] for r in runs) for name in images}
    result = {
        "machine": f"{cpu_name()}, {os.cpu_count()} cores",
        "load_average": {"start": load_start, "end": load_end},
        "python": platform.python_version(),
        "runs": args.runs,
        "cold_start_s": med("cold_start_s"),
        "import_s": med("import_s"),
        "model_read_s": med("model_s"),
        "first_answer_s": med("first_answer_s"),
        "peak_rss_mb": med("peak_rss_mb"),
        "warm_ms": warm,
        "warm_ms_median": statistics.median(warm.values()),
        "texts": runs[0]["texts"],
        "model_archive_mb": here.model.size / 1e6,
        "model_files_mb": here.model_bytes / 1e6,
        "zips": {
            k: {"zipped_mb": b.zip.size / 1e6, "unzipped_mb": b.unzipped_bytes / 1e6}
            for k, b in builds.items()
        },
    }
    if args.format == "json":
        print(json.dumps(result, indent=2, ensure_ascii=False))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(
        f"{result['machine']}; python {result['python']}; load average {load_start} -> {load_end}; "
        f"{args.runs} fresh interpreters, {args.rounds} warm rounds"
    )
    t = Table(title="AWS model function (--serving function), python3.11 x86_64 zip, 1 thread")
    t.add_column("figure")
    t.add_column("value", justify="right")
    t.add_row("cold start: interpreter start -> first answer (s)", f"{result['cold_start_s']:.2f}")
    t.add_row("  import the entry (gateway + ONNX engine) (s)", f"{result['import_s']:.2f}")
    t.add_row("  model read: archive, sha256, unpack, sessions (s)", f"{result['model_read_s']:.2f}")
    t.add_row("  first answer (s)", f"{result['first_answer_s']:.2f}")
    t.add_row("peak RSS (MB)", f"{result['peak_rss_mb']:.0f}")
    t.add_row("warm latency per image, median of the 12 (ms)", f"{result['warm_ms_median']:.1f}")
    t.add_row(
        "model archive / model files (MB)",
        f"{result['model_archive_mb']:.1f} / {result['model_files_mb']:.1f}",
    )
    for key, z in result["zips"].items():
        t.add_row(f"zip {key}: zipped / unzipped (MB)", f"{z['zipped_mb']:.1f} / {z['unzipped_mb']:.1f}")
    console.print(t)
    w = Table(title="warm latency per sample image (handler call, API Gateway v2 event in, answer out)")
    w.add_column("image")
    w.add_column("ms", justify="right")
    w.add_column("text")
    for name, ms in warm.items():
        w.add_row(name, f"{ms:.1f}", result["texts"][name])
    console.print(w)


if __name__ == "__main__":
    main()
