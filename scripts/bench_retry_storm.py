"""Benchmark (not a test): the local server's good answers per second under a retry storm, against its
32-client goodput -- issue #17's target is >= 0.9 x at 64 clients that ignore Retry-After.

One server (`ocrkit serve` defaults and the shipped demo checkpoint, started here at `--server-nice`,
or the one at `--url`), then the two levels back to back and alternating, `--pairs` times: 32 clients,
64 storming clients, 32, 64, ... (`--ignore-retry-after` at both levels: at 32 nothing is refused). Each
level is one load-generator process (`ocrkit.loadtest.run_load`, the code behind `ocrkit loadtest`) at
`--loadgen-nice`, so the generator yields the CPU to the server and its own CPU seconds are counted
apart from the server's. Around each level the script reads:

- the server's own counters from `/metrics`: images the model read, model calls (mean batch), refusals;
- the server's CPU seconds (arbiter and workers, `/proc/<pid>/stat`) and the generator's (its rusage);
- the 1-minute load average at the start.

It prints one row per level, the ratio per pair (64 / 32, from the clients' good answers and from the
model's images) and the median over the pairs. A generator that eats the server's CPU at 64 clients
shows up in its own column, not as a lower server goodput only.

    PYTHONPATH=$PWD python scripts/bench_retry_storm.py [--pairs 3] [--duration 20] [--format json]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "ocrkit" / "assets" / "samples" / "sample01.jpg"
TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Level:
    pair: int
    clients: int
    load_1min: float
    seconds: float  # the generator's wall time, first request to last answer
    ok: int
    refused: int  # 503s the clients saw
    other_errors: int
    ok_per_s: float
    p50_ms: float | None
    model_images: int  # the server's own counter, this level
    model_batches: int
    server_rejected: int
    server_cpu_s: float | None  # None: a server not started here (--url)
    loadgen_cpu_s: float

    @property
    def images_per_s(self) -> float:
        return self.model_images / self.seconds if self.seconds else 0.0

    @property
    def mean_batch(self) -> float:
        return self.model_images / self.model_batches if self.model_batches else 0.0

    @property
    def server_cpu_per_image(self) -> float | None:
        if self.server_cpu_s is None or not self.model_images:
            return None
        return self.server_cpu_s / self.model_images

    def to_json(self) -> dict:
        return {
            **asdict(self),
            "images_per_s": round(self.images_per_s, 3),
            "mean_batch": round(self.mean_batch, 2),
            "server_cpu_per_image_s": None
            if self.server_cpu_per_image is None
            else round(self.server_cpu_per_image, 4),
        }


# -- the load generator (a child process) ----------------------------------------------------------


def generate(url: str, image: Path, clients: int, duration_s: float) -> None:
    """Child process: one level of load; prints the result and this process's CPU seconds as JSON."""
    from ocrkit.loadtest import run_load

    body = image.read_bytes()
    before = resource.getrusage(resource.RUSAGE_SELF)
    result = run_load(
        url,
        body,
        content_type="image/jpeg",
        concurrency=clients,
        duration_s=duration_s,
        timeout_s=30.0,
        honour_retry_after=False,
    )
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(json.dumps({"result": result.to_json(), "cpu_s": cpu}))


def run_level(args: argparse.Namespace, url: str, server_pid: int | None, pair: int, clients: int) -> Level:
    load = float(Path("/proc/loadavg").read_text().split()[0])
    metrics_before = scrape(url)
    cpu_before = server_cpu(server_pid)
    command = [sys.executable, __file__, "--generate", str(clients), "--url", url]
    command += ["--image", str(args.image), "--duration", str(args.duration)]
    command = ["nice", "-n", str(args.loadgen_nice), *command]
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(command, stdout=out, env=child_env(), start_new_session=True)
        set_group_nice(proc.pid, args.loadgen_nice)
        done = proc.wait(timeout=args.duration + 120)
        out.seek(0)
        text = out.read().decode()
    if done != 0:
        raise SystemExit(f"the load generator failed (exit {done})")
    doc = json.loads(text.strip().splitlines()[-1])
    cpu_after = server_cpu(server_pid)
    metrics_after = scrape(url)
    r = doc["result"]

    def delta(name: str) -> int:
        return round(metrics_after.get(name, 0.0) - metrics_before.get(name, 0.0))

    refused = r["errors_by_status"].get("503", 0)
    return Level(
        pair=pair,
        clients=clients,
        load_1min=load,
        seconds=r["duration_s"],
        ok=r["ok"],
        refused=refused,
        other_errors=r["errors"] - refused,
        ok_per_s=r["throughput_rps"],
        p50_ms=r["latency_ms"]["p50"] if r["latency_ms"] else None,
        model_images=delta("ocrkit_model_images_total"),
        model_batches=delta("ocrkit_model_batches_total"),
        server_rejected=delta("ocrkit_http_requests_rejected_total"),
        server_cpu_s=round(cpu_after - cpu_before, 2) if server_pid else None,
        loadgen_cpu_s=round(doc["cpu_s"], 2),
    )


# -- the server --------------------------------------------------------------------------------------


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    return env


def set_group_nice(pid: int, nice: int) -> None:
    """Give the process's session (its scheduler autogroup) this niceness too.

    With `kernel.sched_autogroup_enabled=1` (this machine) the CPU is shared fairly between sessions
    first, and a process's own nice only counts inside its session: `nice -n -5` alone does not put the
    server ahead of other people's jobs, nor `nice -n 10` theirs behind it. Each child here runs in a
    session of its own whose autogroup gets the same niceness as the process."""
    with contextlib.suppress(OSError):
        Path(f"/proc/{pid}/autogroup").write_text(str(nice))


def autogroup_nice(pid: int) -> str | None:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/autogroup").read_text().split()[-1]
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get(url: str, path: str) -> tuple[int, bytes]:
    host, port = url.split("//", 1)[1].rstrip("/").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def scrape(url: str) -> dict[str, float]:
    from ocrkit.server.metrics import parse_exposition

    status, body = get(url, "/metrics")
    if status != 200:
        raise SystemExit(f"{url}/metrics answered {status}")
    totals: dict[str, float] = {}
    for (name, _labels), value in parse_exposition(body.decode()).items():
        totals[name] = totals.get(name, 0.0) + value  # summed over labels (routes)
    return totals


def process_tree(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as f:
            kids = [int(p) for p in f.read().split()]
    except OSError:
        return []
    return [pid, *(p for kid in kids for p in process_tree(kid))]


def server_cpu(pid: int | None) -> float:
    """User + system CPU seconds of the server's process tree (arbiter and workers)."""
    if pid is None:
        return float("nan")
    total = 0
    for p in process_tree(pid):
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / TICK


@contextlib.contextmanager
def started_server(args: argparse.Namespace):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "ocrkit.cli", "serve", "--port", str(port), *args.serve_arg]
    command = ["nice", "-n", str(args.server_nice), *command]
    log = open(args.server_log, "wb") if args.server_log else subprocess.DEVNULL  # noqa: SIM115
    proc = subprocess.Popen(
        command, stdout=log, stderr=subprocess.STDOUT, env=child_env(), cwd=ROOT, start_new_session=True
    )
    set_group_nice(proc.pid, args.server_nice)
    try:
        until = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"ocrkit serve exited with {proc.returncode}")
            with contextlib.suppress(OSError):
                if get(url, "/ping")[0] == 200:
                    break
            if time.monotonic() > until:
                raise SystemExit("ocrkit serve did not become ready in 180 s")
            time.sleep(0.5)
        yield url, proc.pid
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        if log is not subprocess.DEVNULL:
            log.close()


# -- the run -------------------------------------------------------------------------------------------


def measure(args: argparse.Namespace, url: str, pid: int | None) -> dict:
    from ocrkit.loadtest import run_load

    warm = run_load(url, args.image.read_bytes(), content_type="image/jpeg", concurrency=8, duration_s=5.0)
    if warm.ok == 0:
        raise SystemExit(f"the warm-up got no good answer: {warm.by_status}")
    levels: list[Level] = []
    for pair in range(1, args.pairs + 1):
        for clients in (args.clients, args.storm_clients):
            levels.append(run_level(args, url, pid, pair, clients))
            print(f"pair {pair}: {clients} clients done", file=sys.stderr, flush=True)
    pairs = []
    for pair in range(1, args.pairs + 1):
        base, storm = [lv for lv in levels if lv.pair == pair]
        pairs.append(
            {
                "pair": pair,
                "ratio_ok": round(storm.ok_per_s / base.ok_per_s, 3) if base.ok_per_s else None,
                "ratio_model_images": round(storm.images_per_s / base.images_per_s, 3)
                if base.images_per_s
                else None,
            }
        )
    ratios = [p["ratio_ok"] for p in pairs if p["ratio_ok"] is not None]
    model_ratios = [p["ratio_model_images"] for p in pairs if p["ratio_model_images"] is not None]
    return {
        "url": url,
        "machine": machine(),
        "server_nice": args.server_nice if pid else None,
        "server_session_nice": autogroup_nice(pid) if pid else None,
        "serve_args": args.serve_arg if pid else None,
        "loadgen_nice": args.loadgen_nice,
        "duration_s": args.duration,
        "levels": [lv.to_json() for lv in levels],
        "pairs": pairs,
        "median_ratio_ok": round(statistics.median(ratios), 3) if ratios else None,
        "median_ratio_model_images": round(statistics.median(model_ratios), 3) if model_ratios else None,
        "load_at_end": Path("/proc/loadavg").read_text().split()[:3],
    }


def machine() -> str:
    name = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} x {name}"


def print_table(doc: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"retry storm, {doc['url']}, {doc['duration_s']:g} s per level, {doc['machine']}, server nice "
        f"{doc['server_nice']} (session {doc['server_session_nice']}), load generator nice "
        f"{doc['loadgen_nice']}",
        title_justify="left",
    )
    columns = ["pair", "clients", "load 1m", "ok/s", "p50 ms", "503", "model img/s", "mean batch"]
    columns += ["server CPU s", "CPU s/image", "loadgen CPU s"]
    for name in columns:
        table.add_column(name, justify="right")
    for lv in doc["levels"]:
        per = lv["server_cpu_per_image_s"]
        table.add_row(
            str(lv["pair"]),
            str(lv["clients"]),
            f"{lv['load_1min']:.2f}",
            f"{lv['ok_per_s']:.2f}",
            "-" if lv["p50_ms"] is None else f"{lv['p50_ms']:.0f}",
            str(lv["refused"]),
            f"{lv['images_per_s']:.2f}",
            f"{lv['mean_batch']:.2f}",
            "-" if lv["server_cpu_s"] is None else f"{lv['server_cpu_s']:.1f}",
            "-" if per is None else f"{per:.3f}",
            f"{lv['loadgen_cpu_s']:.1f}",
        )
    console = Console(width=160)
    console.print(table)
    for p in doc["pairs"]:
        console.print(
            f"pair {p['pair']}: storm / base = {p['ratio_ok']} (good answers), {p['ratio_model_images']} "
            "(images the model read)"
        )
    console.print(
        f"median over {len(doc['pairs'])} pairs: {doc['median_ratio_ok']} (good answers), "
        f"{doc['median_ratio_model_images']} (model images); load at end {' '.join(doc['load_at_end'])}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running server (default: start `ocrkit serve` here)")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of load per level")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--storm-clients", type=int, default=64)
    parser.add_argument("--image", type=Path, default=SAMPLE)
    parser.add_argument("--server-nice", type=int, default=-5, help="niceness of the server started here")
    parser.add_argument("--loadgen-nice", type=int, default=0, help="niceness of the load generator")
    parser.add_argument("--serve-arg", action="append", default=[], help="extra `ocrkit serve` argument")
    parser.add_argument("--server-log", help="write the server's log here")
    parser.add_argument("--format", choices=["table", "json"], default="table")
    parser.add_argument("--generate", type=int, help=argparse.SUPPRESS)  # the child: one level
    args = parser.parse_args()
    if args.generate:
        generate(args.url, args.image, args.generate, args.duration)
        return
    if args.pairs < 1:
        parser.error("--pairs must be at least 1")
    if args.url:
        doc = measure(args, args.url.rstrip("/"), None)
    else:
        with started_server(args) as (url, pid):
            doc = measure(args, url, pid)
    if args.format == "json":
        print(json.dumps(doc, indent=2))
    else:
        print_table(doc)


if __name__ == "__main__":
    main()
