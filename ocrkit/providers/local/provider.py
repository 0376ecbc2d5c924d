"""The local deploy target: the embedded endpoint as a background process on this machine.

- `plan`: one `local:process` resource: create (nothing runs), noop (it runs with these settings) or
  update (it runs with other settings: restart). It costs nothing: `hourly_cost` is None.
- `apply`: starts `python -m ocrkit.providers.local.run ...` detached (its own session, so it outlives
  the command), output to `.ocrkit/logs/<name>-local.log`; waits for `GET /ping` to answer 200 (the model
  is loaded), and records PID, port, URL and log in the state. If the process dies or the model fails to
  load, the error shows the end of the log.
- `status`: is the PID alive (and still our server), and what `GET /healthz` says.
- `invoke`: POSTs the image to `<url>/predict`.
- `teardown`: SIGTERM to the server's process group, SIGKILL after `stop_timeout_s`; idempotent. With
  the state lost, the server is found by its command line (`--name <name>`), the way the cloud targets
  find their resources by tags. `remaining` lists what still runs or still holds the port.

A PID is only ever signalled after /proc confirms that it is an ocrkit local server, so a recycled PID
is never touched.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

from ocrkit.deploy.executor import execute
from ocrkit.deploy.plan import ExecutablePlan, Step, StepResult, no_change
from ocrkit.deploy.records import (
    DeployPlan,
    Events,
    InvokeResult,
    PlannedCall,
    ResourceRecord,
    StateLike,
    StatusReport,
)
from ocrkit.errors import OcrkitError
from ocrkit.providers.local.run import MODULE, command_line
from ocrkit.providers.local.spec import LocalDeploySpec, load_local_spec
from ocrkit.server.production import ServeOptions, check_model_source
from ocrkit.weights import demo_weights_notes

KIND = "local:process"
KEY = "server"
COST_NOTE = "$0.00 — runs on this machine"
ZERO = Decimal("0")
LOG_TAIL_LINES = 25


@dataclass(frozen=True)
class ServerProcess:
    """A running local server, as found in /proc."""

    pid: int
    name: str | None
    argv: list[str]


class LocalProvider:
    cloud: ClassVar[str] = "local"
    spec_model: ClassVar[type[LocalDeploySpec]] = LocalDeploySpec

    def __init__(
        self,
        *,
        logs_dir: Path | None = None,
        python: str = sys.executable,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.logs_dir = logs_dir
        self.python = python
        self.cwd = cwd
        self.env = env

    # -- spec ---------------------------------------------------------------------------------------

    def load_spec(self, path: str | Path | None = None, overrides: dict[str, Any] | None = None):
        return load_local_spec(path, overrides)

    # -- plan / apply -------------------------------------------------------------------------------

    def plan(self, spec: Any, state: StateLike | None) -> ExecutablePlan:
        spec = _unwrap(spec)
        options = spec.serve_options()
        source = check_model_source(options)
        wanted = _options_doc(options)
        record = state.resources.get(KEY) if state is not None else None
        running = record is not None and _is_our_server(_pid_of(record))
        warnings = [] if options.predictor else demo_weights_notes(source)
        if spec.is_public:
            warnings.append(
                f"host {spec.host} makes the endpoint reachable from the network, with no authentication"
            )
        where = f"{spec.host}:{spec.port if spec.port else '<any free port>'}"
        mode = f"batching up to {spec.max_batch}" if spec.batching else "no batching"
        summary = (
            f"gunicorn on {where}, {spec.workers} worker(s), {spec.max_inflight} requests admitted per "
            f"worker, {mode}; model: {source}"
        )
        details = {"cost": COST_NOTE, "options": wanted}
        if running and record is not None:
            url = record.attrs.get("url")
            if record.attrs.get("options") == wanted:
                call = PlannedCall(KEY, KIND, "noop", f"already running at {url} (PID {record.id})", details)
                step = Step(call, no_change(url=url, predict_url=f"{url}/predict"))
            else:
                details["replaces"] = record.id
                call = PlannedCall(KEY, KIND, "update", f"restart with new settings: {summary}", details)
                step = Step(call, self._start_step(spec, restart=record))
        else:
            if record is not None:
                warnings.append(
                    f"the recorded server (PID {record.id}) is no longer running; starting a new one"
                )
            call = PlannedCall(KEY, KIND, "create", summary, details)
            step = Step(call, self._start_step(spec, restart=None))
        return ExecutablePlan.of(self.cloud, spec.name, [step], hourly_cost=None, warnings=warnings)

    def apply(self, spec: Any, plan: DeployPlan, state: StateLike, events: Events) -> StateLike:
        spec = _unwrap(spec)
        if not isinstance(plan, ExecutablePlan):
            plan = self.plan(spec, state)
        return execute(plan, state, events)

    def _start_step(self, spec: LocalDeploySpec, *, restart: ResourceRecord | None) -> Callable:
        def run(ctx) -> StepResult:
            if restart is not None:
                ctx.events.step(f"Stopping the old server (PID {restart.id})")
                _stop([int(restart.id)], float(restart.attrs.get("stop_timeout_s", spec.stop_timeout_s)))
            record = self.start(spec, ctx.events, logs_dir=self._logs_dir(ctx.state))
            url = record.attrs["url"]
            return StepResult(
                record=record,
                outputs={"url": url, "predict_url": f"{url}/predict", "log": record.attrs["log"]},
                forget=True,
            )

        return run

    def start(self, spec: LocalDeploySpec, events: Events, *, logs_dir: Path) -> ResourceRecord:
        """Start the server detached, wait until it is ready, and return its record."""
        port = spec.port or free_port(spec.host)
        if spec.port and not port_is_free(spec.host, port):
            raise OcrkitError(
                f"port {port} on {spec.host} is already in use",
                hint="set port: 0 in the local deploy config for any free port, or stop what uses it",
            )
        options = spec.serve_options(port=port)
        argv = command_line(options, python=self.python)
        logs_dir.mkdir(parents=True, exist_ok=True)
        log_path = (logs_dir / f"{spec.name}-local.log").resolve()
        env = dict(os.environ if self.env is None else self.env)
        env.update(spec.environment)
        env["PYTHONUNBUFFERED"] = "1"
        events.step(f"Starting the local server on {options.url} (log: {log_path})")
        with open(log_path, "ab") as log:
            offset = log.tell()
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.cwd,
                env=env,
                start_new_session=True,
            )
        try:
            wait_ready(
                options.url,
                process,
                timeout_s=spec.start_timeout_s,
                log_path=log_path,
                log_offset=offset,
                events=events,
            )
        except BaseException:
            _stop([process.pid], 5.0)
            with contextlib.suppress(Exception):
                process.wait(timeout=1)
            raise
        events.info(f"serving at {options.url} (PID {process.pid})")
        return ResourceRecord(
            KIND,
            str(process.pid),
            {
                "pid": process.pid,
                "host": options.host,
                "port": port,
                "url": options.url,
                "log": str(log_path),
                "started_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
                "argv": argv,
                "options": _options_doc(spec.serve_options()),
                "stop_timeout_s": spec.stop_timeout_s,
            },
        )

    def _logs_dir(self, state: StateLike | None) -> Path:
        if self.logs_dir is not None:
            return self.logs_dir
        path = getattr(state, "path", None)
        if path is not None:
            return Path(path).parent.parent / "logs"
        return Path(".ocrkit") / "logs"

    # -- status / invoke ----------------------------------------------------------------------------

    def status(self, state: StateLike) -> StatusReport:
        record = state.resources.get(KEY)
        if record is None:
            return StatusReport(self.cloud, state.name, [], url=None, hourly_cost=ZERO, healthy=False)
        pid = _pid_of(record)
        url = record.attrs.get("url") or state.outputs.get("url")
        if not _is_our_server(pid):
            words = "not running (the process is gone; `ocrkit deploy --cloud local` starts it again)"
            return StatusReport(
                self.cloud, state.name, [(KEY, record.id, words)], url=url, hourly_cost=ZERO, healthy=False
            )
        health = _get_json(f"{url}/healthz", timeout_s=5.0) if url else None
        if health is None:
            words, healthy = "running, but not answering on its port", False
        elif health.get("ready"):
            words, healthy = "running, model loaded", True
        else:
            words, healthy = "running, model loading (or failed to load: see the log)", False
        return StatusReport(
            self.cloud, state.name, [(KEY, record.id, words)], url=url, hourly_cost=ZERO, healthy=healthy
        )

    def invoke(self, state: StateLike, body: bytes, content_type: str) -> InvokeResult:
        record = state.resources.get(KEY)
        url = (record.attrs.get("url") if record is not None else None) or state.outputs.get("url")
        if not url:
            raise OcrkitError(
                f"nothing is deployed locally under the name '{state.name}'",
                hint="start it with `ocrkit deploy --cloud local`",
            )
        return post(f"{url}/predict", body, content_type)

    # -- teardown (run by ocrkit.deploy.pipeline.destroy) ---------------------------------------------

    def teardown_target(self, name: str, state: StateLike | None) -> LocalTeardown:
        return LocalTeardown(name, state)


@dataclass
class LocalTeardown:
    """The local server's teardown: the recorded process and any found by name, stopped; then no process
    of this name may still run and no recorded port may still accept connections."""

    name: str
    state: StateLike | None
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._ports = self._recorded()  # the executor forgets records as it goes; ports are checked after

    def errors(self, action: str) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()

    def _recorded(self) -> list[tuple[str, ResourceRecord]]:
        if self.state is None:
            return []
        return [(k, r) for k, r in self.state.resources.items() if r.kind == KIND]

    def discover(self) -> list[tuple[str, ResourceRecord]]:
        recorded = {_pid_of(r) for _, r in self._recorded()}
        found = [
            (f"{KEY}@{s.pid}", ResourceRecord(KIND, str(s.pid), {"found_by_name": self.name}))
            for s in find_servers(self.name)
            if s.pid not in recorded
        ]
        if not found and not recorded:
            self.notes.append(f"no local server named '{self.name}' is running")
        return found

    def sort(self, items: Iterable[tuple[str, ResourceRecord]]) -> list[tuple[str, ResourceRecord]]:
        return list(items)

    def delete_step(self, key: str, rec: ResourceRecord) -> Step:
        pid = _pid_of(rec)
        if rec.attrs.get("found_by_name"):
            label = f"{KIND} {pid} (found by name '{self.name}')"
        else:
            label = f"{KIND} {rec.id} ({rec.attrs.get('url', 'no url')})"
        grace = float(rec.attrs.get("stop_timeout_s", 15.0))

        def run(ctx) -> StepResult:
            if _is_our_server(pid):
                ctx.events.step(f"Stopping the local server (PID {pid})")
                _stop([pid], grace)
            if _is_our_server(pid):
                raise OcrkitError(f"the local server (PID {pid}) did not stop")
            return StepResult(forget=True)

        return Step(PlannedCall(key, KIND, "delete", f"stop PID {pid}", {"label": label}), run)

    def remaining(self) -> list[str]:
        still = {s.pid for s in find_servers(self.name)}
        out = [f"{KIND} {pid} is still running" for pid in sorted(still)]
        for _, record in self._recorded_ports:
            host, port = str(record.attrs.get("host", "127.0.0.1")), int(record.attrs["port"])
            if not _wait_port_closed(host, port, timeout_s=5.0):
                out.append(f"port {host}:{port} still accepts connections")
        return out

    @property
    def _recorded_ports(self) -> list[tuple[str, ResourceRecord]]:
        return [(k, r) for k, r in self._ports if r.attrs.get("port")]

    def finish(self, state: StateLike) -> None:
        for out in ("url", "predict_url", "log"):
            state.outputs.pop(out, None)
        state.save()


# -- helpers ---------------------------------------------------------------------------------------


def _unwrap(spec: Any) -> LocalDeploySpec:
    spec = getattr(spec, "spec", spec)  # a LoadedSpec
    if isinstance(spec, LocalDeploySpec):
        return spec
    if isinstance(spec, dict):
        return LocalDeploySpec.model_validate(spec)
    raise OcrkitError(f"the local target needs a local deploy config, not {type(spec).__name__}")


def _options_doc(options: ServeOptions) -> dict[str, Any]:
    return asdict(options)


def _pid_of(record: ResourceRecord) -> int:
    try:
        return int(record.attrs.get("pid", record.id))
    except (TypeError, ValueError):
        return -1


def free_port(host: str = "127.0.0.1") -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _port_open(host: str, port: int) -> bool:
    target = "127.0.0.1" if host in ("0.0.0.0", "") else ("::1" if host == "::" else host)
    try:
        with socket.create_connection((target, port), timeout=0.5):
            return True
    except OSError:
        return False


def _wait_port_closed(host: str, port: int, *, timeout_s: float) -> bool:
    until = time.monotonic() + timeout_s
    while _port_open(host, port):
        if time.monotonic() >= until:
            return False
        time.sleep(0.1)
    return True


def _has_proc() -> bool:
    return os.path.isdir("/proc/self")


def _ps(pid: int, field: str) -> str | None:
    """One `ps` column for a PID (systems without /proc, such as macOS)."""
    try:
        done = subprocess.run(
            ["ps", "-ww", "-p", str(pid), "-o", f"{field}="], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    out = done.stdout.strip()
    return out if done.returncode == 0 and out else None


def _cmdline(pid: int) -> list[str] | None:
    if not _has_proc():
        command = _ps(pid, "command")
        return command.split() if command else None
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    return [part.decode("utf-8", "replace") for part in raw.split(b"\0") if part]


def _stat_fields(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _is_zombie(pid: int) -> bool:
    if not _has_proc():
        return (_ps(pid, "stat") or "").startswith("Z")
    fields = _stat_fields(pid)
    return bool(fields) and fields[0] == "Z"


def _ppid(pid: int) -> int | None:
    if not _has_proc():
        value = _ps(pid, "ppid")
    else:
        fields = _stat_fields(pid)
        value = fields[1] if fields and len(fields) > 1 else None
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _all_pids() -> list[int]:
    if _has_proc():
        try:
            return [int(e) for e in os.listdir("/proc") if e.isdigit()]
        except OSError:
            return []
    try:
        done = subprocess.run(["ps", "-axo", "pid="], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return []
    return [int(x) for x in done.stdout.split() if x.isdigit()]


def _is_our_server(pid: int) -> bool:
    """True while `pid` is a live ocrkit local server process (the gunicorn arbiter we started)."""
    if pid <= 0:
        return False
    _reap(pid)
    argv = _cmdline(pid)
    if not argv or _is_zombie(pid):
        return False
    return _is_server_argv(argv)


def _is_server_argv(argv: list[str]) -> bool:
    return "-m" in argv and MODULE in argv


def _name_in(argv: list[str]) -> str | None:
    if "--name" in argv:
        i = argv.index("--name")
        if i + 1 < len(argv):
            return argv[i + 1]
    return None


def find_servers(name: str) -> list[ServerProcess]:
    """Local servers started for deployment `name` (by their command line), on this machine."""
    found = []
    for pid in _all_pids():
        argv = _cmdline(pid)
        if not argv or not _is_server_argv(argv) or _name_in(argv) != name or _is_zombie(pid):
            continue
        # Only the arbiter: gunicorn workers are forked children with the same command line.
        parent = _ppid(pid)
        if parent is not None and _cmdline(parent) == argv:
            continue
        found.append(ServerProcess(pid, name, argv))
    return sorted(found, key=lambda s: s.pid)


def _reap(pid: int) -> None:
    """Collect the exit status of a server this process started (so it does not linger as a zombie)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def _signal(pid: int, sig: int) -> None:
    """Signal the server's process group (the arbiter and its workers), or the PID alone."""
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
            return
    except (ProcessLookupError, PermissionError):
        pass
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


def _stop(pids: list[int], grace_s: float) -> None:
    """SIGTERM (gunicorn: graceful stop), then SIGKILL to what is still there after `grace_s`.

    Signals go to the server's process group (the arbiter and its workers) while the arbiter still
    holds that group id, so a group is never signalled after its id could have been reused."""
    live = [pid for pid in pids if _is_our_server(pid)]
    for pid in live:
        _signal(pid, signal.SIGTERM)
    until = time.monotonic() + grace_s
    while time.monotonic() < until and any(_is_our_server(pid) for pid in live):
        time.sleep(0.1)
    for pid in live:
        if _is_our_server(pid):
            _signal(pid, signal.SIGKILL)
    until = time.monotonic() + 5.0
    while time.monotonic() < until and any(_is_our_server(pid) for pid in live):
        time.sleep(0.05)


def _tail(path: Path, offset: int = 0, lines: int = LOG_TAIL_LINES) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read()
    except OSError:
        return ""
    text = data.decode("utf-8", "replace").rstrip("\n")
    return "\n".join(text.splitlines()[-lines:])


def wait_ready(
    url: str,
    process: subprocess.Popen,
    *,
    timeout_s: float,
    log_path: Path,
    log_offset: int = 0,
    events: Events | None = None,
) -> None:
    """Poll `GET /ping` until 200; raise with the log's tail if the process exits or the model fails."""
    started = time.monotonic()
    until = started + timeout_s
    shown = -1
    while True:
        code = process.poll()
        if code is not None:
            raise OcrkitError(
                f"the local server exited (status {code}) before it was ready; "
                f"the end of {log_path}:\n{_tail(log_path, log_offset)}"
            )
        status, doc = _get(f"{url}/ping", timeout_s=2.0)
        if status == 200:
            return
        message = ""
        if isinstance(doc, dict):
            message = str((doc.get("error") or {}).get("message", ""))
        if status == 503 and "failed to load" in message:
            raise OcrkitError(
                f"the model failed to load in the local server; the end of {log_path}:\n"
                f"{_tail(log_path, log_offset)}"
            )
        now = time.monotonic()
        if now >= until:
            raise OcrkitError(
                f"the local server was not ready after {timeout_s:g} s; the end of {log_path}:\n"
                f"{_tail(log_path, log_offset)}",
                hint="a large model on a busy CPU can take longer: "
                "raise start_timeout_s in the local deploy config",
            )
        elapsed = int(now - started)
        if events is not None and elapsed != shown:
            shown = elapsed
            events.progress("waiting for the model to load", elapsed, None)
        time.sleep(0.25)


def _split(url: str) -> tuple[str, int, str]:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 80, parts.path or "/"


def _get(url: str, *, timeout_s: float) -> tuple[int | None, object]:
    host, port, path = _split(url)
    conn = http.client.HTTPConnection(host, port, timeout=timeout_s)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        data = response.read()
    except (OSError, http.client.HTTPException):
        return None, None
    finally:
        conn.close()
    try:
        return response.status, json.loads(data)
    except ValueError:
        return response.status, None


def _get_json(url: str, *, timeout_s: float) -> dict | None:
    status, doc = _get(url, timeout_s=timeout_s)
    return doc if status is not None and isinstance(doc, dict) else None


def post(url: str, body: bytes, content_type: str, *, timeout_s: float = 60.0) -> InvokeResult:
    host, port, path = _split(url)
    conn = http.client.HTTPConnection(host, port, timeout=timeout_s)
    started = time.perf_counter()
    try:
        conn.request(
            "POST", path, body=body, headers={"Content-Type": content_type, "Accept": "application/json"}
        )
        response = conn.getresponse()
        data = response.read()
    except (OSError, http.client.HTTPException) as exc:
        raise OcrkitError(
            f"the local endpoint at {url} does not answer ({exc})",
            hint="is it running? see `ocrkit status --cloud local`; "
            "start it with `ocrkit deploy --cloud local`",
        ) from None
    finally:
        conn.close()
    latency_ms = (time.perf_counter() - started) * 1000.0
    return InvokeResult(
        status=response.status,
        body=data,
        content_type=response.getheader("Content-Type", "application/octet-stream"),
        latency_ms=latency_ms,
    )
