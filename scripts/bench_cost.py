"""Benchmark (not a test): how long the full serving comparison takes, with its 50-point traffic sweep.

Times `ocrkit cost --scenario baseline --serving all` end to end in a fresh process (plain and
--format json), and the comparison alone in this process (scenario + catalogs + profiles loaded, every
option priced, the sweep for the chart, break-even search). Prints the load average beside each number,
since the machine is shared.

    PYTHONPATH=$PWD python scripts/bench_cost.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path


def load() -> str:
    return Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "n/a"


def in_process(runs: int) -> list[float]:
    from ocrkit.costing.compare import compare, profile_book
    from ocrkit.costing.scenario import load_scenario

    times = []
    for _ in range(runs):
        start = time.perf_counter()
        loaded = load_scenario("baseline")
        result = compare(loaded, loaded.scenario.traffic, profiles=profile_book(None), sweep_points=50)
        times.append(time.perf_counter() - start)
        assert result.curves and len(next(iter(result.curves.values()))) == 50
    return times


def cli(runs: int, *extra: str) -> list[float]:
    cmd = [sys.executable, "-m", "ocrkit.cli", "cost", "--scenario", "baseline", "--serving", "all", *extra]
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, env={**os.environ, "COLUMNS": "160"})
        times.append(time.perf_counter() - start)
    return times


def show(name: str, times: list[float]) -> None:
    print(
        f"{name:<58} median {statistics.median(times) * 1000:7.0f} ms  min {min(times) * 1000:7.0f} ms  "
        f"(n={len(times)}, load average {load()})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(f"load average at start: {load()}")
    show("comparison in process (50-point sweep + break-even)", in_process(args.runs))
    show("ocrkit cost --serving all (fresh process, table)", cli(args.runs))
    show("ocrkit cost --serving all --format json (fresh process)", cli(args.runs, "--format", "json"))


if __name__ == "__main__":
    main()
