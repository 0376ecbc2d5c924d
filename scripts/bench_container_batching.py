"""Benchmark (not a test): images/s through the TorchServe handler's code path at TorchServe batch sizes
1, 4 and 8 -- what `vertex.batch_size` buys -- on this machine's CPU.

The handler is loaded as the Vertex container loads it (`initialize` with the shipped demo checkpoint);
each round hands `handle` a TorchServe batch of B single-image requests in the JSON envelope's form (one
row per instance, the image bytes already base64-decoded), cycling through the 12 shipped samples. The
time counted is `handle` alone (no HTTP, no frontend queueing and no maxBatchDelay wait). Prints the load
average beside each figure, since the machine is shared.

    PYTHONPATH=$PWD python scripts/bench_container_batching.py [--images 96] [--threads 1] [--format json]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "ocrkit" / "assets" / "samples"


def load() -> str:
    return Path("/proc/loadavg").read_text().split()[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=96, help="images per batch size (a multiple of 8)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--batches", default="1,4,8")
    parser.add_argument("--format", choices=["table", "json"], default="table")
    args = parser.parse_args()
    os.environ.setdefault("OCRKIT_DEVICE", "cpu")
    import torch

    torch.set_num_threads(args.threads)
    from ocrkit.runtime import torchserve_handler as handler

    class Context:
        system_properties = {"model_dir": str(ROOT / "ocrkit" / "assets"), "gpu_id": None}
        manifest = {"model": {"serializedFile": "demo-ocr.pt"}}

    handler.initialize(Context())
    images = [p.read_bytes() for p in sorted(SAMPLES.glob("*.jpg"))]
    handler.handle(images[:8], Context())  # warm-up
    rows = []
    for size in [int(b) for b in args.batches.split(",")]:
        before = load()
        started = time.perf_counter()
        cpu = time.process_time()
        done = 0
        while done < args.images:
            batch = [images[(done + i) % len(images)] for i in range(size)]
            answers = handler.handle(batch, Context())
            assert len(answers) == size and all("text" in a for a in answers)
            done += size
        wall = time.perf_counter() - started
        rows.append(
            {
                "batch": size,
                "images": done,
                "wall_s": round(wall, 2),
                "images_per_s": round(done / wall, 2),
                "cpu_s_per_image": round((time.process_time() - cpu) / done, 4),
                "load_before": before,
                "load_after": load(),
            }
        )
    if args.format == "json":
        print(json.dumps(rows, indent=2))
        return
    print(f"threads={args.threads}  {os.cpu_count()} CPUs")
    print("batch  images  wall_s  images/s  cpu_s/image  load (before-after)")
    for r in rows:
        print(
            f"{r['batch']:>5}  {r['images']:>6}  {r['wall_s']:>6}  {r['images_per_s']:>8}  "
            f"{r['cpu_s_per_image']:>11}  {r['load_before']}-{r['load_after']}"
        )


if __name__ == "__main__":
    main()
