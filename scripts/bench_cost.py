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
import resource
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

    times, cpu = [], []
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        loaded = load_scenario("baseline")
        result = compare(loaded, loaded.scenario.traffic, profiles=profile_book(None), sweep_points=50)
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
        assert result.curves and len(next(iter(result.curves.values()))) == 50
    return times, cpu


def cli(runs: int, *extra: str) -> list[float]:
    cmd = [sys.executable, "-m", "ocrkit.cli", "cost", "--scenario", "baseline", "--serving", "all", *extra]
    times, cpu = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, env={**os.environ, "COLUMNS": "160"})
        times.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return times, cpu


def show(name: str, measured: tuple[list[float], list[float]]) -> None:
    """Wall-clock time depends on what else runs on the machine; CPU time much less so: both are printed."""
    times, cpu = measured
    print(
        f"{name:<56} wall median {statistics.median(times) * 1000:6.0f} ms (min {min(times) * 1000:5.0f})  "
        f"CPU median {statistics.median(cpu) * 1000:6.0f} ms  (n={len(times)}, load average {load()})"
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
