"""The local deploy target: the embedded endpoint as a background process on this machine.

- `plan`: one `local:process` resource: create (nothing runs), noop (it runs with these settings) or
  update (it runs with other settings: restart). It costs nothing: `hourly_cost` is None.
- `apply`: starts `python -m ocrkit.providers.local.run ...` detached (its own session, so it outlives
  the command), output to `.ocrkit/logs/<name>-local.log`; waits for `GET /ping` to answer 200 (the model
  is loaded), and records PID, port, URL and log in the state. If the process dies or the model fails to
  load, the error shows the end of the log.
- `status`: is the PID alive (and still our server), and what `GET /healthz` says.
- `invoke`: POSTs the image to `<url>/predict`.
- teardown (`teardown_target`, run by ocrkit.deploy.pipeline.destroy): SIGTERM to the server's process
  group, SIGKILL after `stop_timeout_s`; idempotent. With the state lost, the server is found by its
  command line (`--name <name>`, ocrkit.providers.local.processes), the way the cloud targets find their
  resources by tags. `remaining` lists what still runs or still holds the port.

A PID is only ever signalled after /proc confirms that it is an ocrkit local server, so a recycled PID
is never touched.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

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
from ocrkit.providers.local.probes import get_json, post, wait_ready
from ocrkit.providers.local.processes import (
    find_servers,
    free_port,
    is_our_server,
    port_is_free,
    stop,
    wait_port_closed,
)
from ocrkit.providers.local.run import command_line
from ocrkit.providers.local.spec import LocalDeploySpec, load_local_spec
from ocrkit.server.production import ServeOptions, check_model_source
from ocrkit.weights import demo_weights_notes

KIND = "local:process"
KEY = "server"
COST_NOTE = "$0.00 — runs on this machine"
ZERO = Decimal("0")


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
        running = record is not None and is_our_server(_pid_of(record))
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
        """execute -> record through the pipeline (kept as a method for the Provider protocol)."""
        from ocrkit.deploy.pipeline import apply

        return apply(self, _unwrap(spec), plan, state, events)

    def _start_step(self, spec: LocalDeploySpec, *, restart: ResourceRecord | None) -> Callable:
        def run(ctx) -> StepResult:
            if restart is not None:
                ctx.events.step(f"Stopping the old server (PID {restart.id})")
                stop([int(restart.id)], float(restart.attrs.get("stop_timeout_s", spec.stop_timeout_s)))
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
            stop([process.pid], 5.0)
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
        if not is_our_server(pid):
            words = "not running (the process is gone; `ocrkit deploy --cloud local` starts it again)"
            return StatusReport(
                self.cloud, state.name, [(KEY, record.id, words)], url=url, hourly_cost=ZERO, healthy=False
            )
        health = get_json(f"{url}/healthz", timeout_s=5.0) if url else None
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
            if is_our_server(pid):
                ctx.events.step(f"Stopping the local server (PID {pid})")
                stop([pid], grace)
            if is_our_server(pid):
                raise OcrkitError(f"the local server (PID {pid}) did not stop")
            return StepResult(forget=True)

        return Step(PlannedCall(key, KIND, "delete", f"stop PID {pid}", {"label": label}), run)

    def remaining(self) -> list[str]:
        still = {s.pid for s in find_servers(self.name)}
        out = [f"{KIND} {pid} is still running" for pid in sorted(still)]
        for _, record in self._recorded_ports:
            host, port = str(record.attrs.get("host", "127.0.0.1")), int(record.attrs["port"])
            if not wait_port_closed(host, port, timeout_s=5.0):
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
