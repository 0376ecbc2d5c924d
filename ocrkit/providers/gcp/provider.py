"""`GcpProvider`: plan / apply / status / invoke / teardown for the same architecture on Google Cloud.

Cloud Storage (the TorchServe archive) -> Vertex AI endpoint (the prebuilt PyTorch prediction container on
n1-standard-4 + NVIDIA T4, autoscaling between min and max replicas) <- Cloud Function 2nd gen (the gateway,
calling the endpoint's `:predict`). The stages are the shared ones of ocrkit.deploy: a local build (archive,
function source), a plan made of describe/list calls, the sweeper for what is no longer wanted, and the
executor that runs the steps and writes `.ocrkit/state/<name>-gcp.json` after each one.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

from ocrkit.deploy.cloud import CloudProvider
from ocrkit.deploy.plan import ExecutablePlan, is_retired, sweep
from ocrkit.deploy.provider import (
    Events,
    InvokeResult,
    ResourceRecord,
    StateLike,
    StatusReport,
    TeardownReport,
)
from ocrkit.deploy.spec import LoadedSpec
from ocrkit.deploy.state import state_dir
from ocrkit.errors import OcrkitError
from ocrkit.providers.gcp import package
from ocrkit.providers.gcp.cost import try_estimate
from ocrkit.providers.gcp.resources import (
    RANK,
    Desired,
    Names,
    Options,
    Planner,
    Remover,
    sort_for_deletion,
)
from ocrkit.providers.gcp.session import GcpSession, gcp_errors, is_google_error, make_session, translate
from ocrkit.providers.gcp.spec import GcpDeploySpec, load_gcp_spec
from ocrkit.weights import demo_weights_notes

DEFAULT_REGION = "us-east4"


@dataclass
class Built:
    desired: Desired
    names: Names


class GcpProvider(CloudProvider):
    cloud: ClassVar[str] = "gcp"
    spec_type = GcpDeploySpec
    spec_label = "a GCP"

    def __init__(
        self,
        *,
        project: str | None = None,
        region: str | None = None,
        session: GcpSession | None = None,
        build_dir: Path | None = None,
        options: Options | None = None,
    ) -> None:
        self.project = project
        self.region = region
        self.default_region: str | None = None  # the config's, when neither the command line nor state says
        self.default_profile: str | None = None  # unused on GCP; set by the CLI for every provider
        self.default_project: str | None = None
        self._session = session
        self.build_dir = build_dir
        self.options = options or Options()

    # -- specs and sessions -------------------------------------------------------------------------

    @staticmethod
    def load_spec(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> LoadedSpec:
        return load_gcp_spec(path, overrides)

    def session(self, *, project: str | None = None, region: str | None = None) -> GcpSession:
        if self._session is None:
            with gcp_errors("find Google Cloud credentials"):
                self._session = make_session(project or self.project, region or self.region or DEFAULT_REGION)
        return self._session

    def _session_for_spec(self, spec: GcpDeploySpec) -> GcpSession:
        return self.session(project=self.project or spec.project, region=self.region or spec.region)

    def _session_for_state(self, state: StateLike | None) -> GcpSession:
        outputs = state.outputs if state is not None else {}
        return self.session(
            project=self.project or outputs.get("project") or self.default_project,
            region=self.region or outputs.get("region") or self.default_region,
        )

    # -- build --------------------------------------------------------------------------------------

    def build(self, loaded: LoadedSpec, gcp: GcpSession) -> Built:
        """The local build stage: the .mar and the function source. No remote calls."""
        spec: GcpDeploySpec = loaded.spec
        names = Names(spec.name, gcp.project, gcp.region)
        folder = self.build_dir or (state_dir().parent / "build" / f"{spec.name}-gcp")
        outputs = package.build_all(self.weights_path(spec), folder)
        return Built(Desired(spec, names, outputs.model, outputs.function), names)

    # -- plan ---------------------------------------------------------------------------------------

    def plan(self, spec: Any, state: StateLike | None) -> ExecutablePlan:
        loaded = self._loaded(spec)
        s: GcpDeploySpec = loaded.spec
        gcp = self._session_for_spec(s)
        built = self.build(loaded, gcp)
        planner = Planner(gcp, built.desired, state, self.options)
        with gcp_errors("plan the deployment (read the existing resources)"):
            steps = planner.steps()
        remover = Remover(gcp, built.names, self.options)
        steps += sweep(state, planner.wanted, self._deleter(remover), rank=lambda r: RANK.get(r.kind, 99))
        steps = [self._guarded(step) for step in steps]
        estimate, why = try_estimate(s, config_path=loaded.path, artifact_bytes=built.desired.artifact.size)
        warnings: list[str] = []
        if s.function.public:
            warnings.append(
                "the function is PUBLIC: anyone with the URL can call it (allUsers get roles/run.invoker) "
                f"and you pay for every call (at most {s.function.max_instances} instances run at once)"
            )
        else:
            warnings.append(
                "the function is private: callers need roles/run.invoker on it and send an identity token "
                "(ocrkit invoke does this); pass --public to let anyone call it"
            )
        warnings += planner.warnings
        warnings += demo_weights_notes(self.weights_path(s))
        if why:
            warnings.append(why)
        elif estimate is not None:
            warnings += list(estimate.notes)
        return ExecutablePlan.of(
            "gcp",
            s.name,
            steps,
            hourly_cost=None if estimate is None else estimate.hourly,
            monthly_cost=None if estimate is None else estimate.monthly,
            warnings=warnings,
        )

    def _delete_summary(self, rec: ResourceRecord) -> str:
        verb = "undeploy" if rec.kind == "vertex:deployed-model" else "delete"
        return f"{verb} {rec.id} (no longer wanted)"

    def _translate_error(self, exc: Exception, action: str) -> Exception | None:
        return translate(exc, action) if is_google_error(exc) else None

    # -- apply --------------------------------------------------------------------------------------

    def _record_outputs(self, loaded: LoadedSpec, state: StateLike) -> None:
        gcp = self._session_for_spec(loaded.spec)
        state.outputs.update(
            {"project": gcp.project, "region": gcp.region, "public": loaded.spec.function.public}
        )

    # -- status -------------------------------------------------------------------------------------

    def status(self, state: StateLike) -> StatusReport:
        gcp = self._session_for_state(state)
        rows: list[tuple[str, str, str]] = []
        healthy = bool(state.resources)
        nodes = 0
        with gcp_errors("read the deployment's status"):
            for key, rec in state.resources.items():
                words, ok, running = self._describe(gcp, rec)
                nodes += running
                if is_retired(key):
                    words += " (left over from an earlier deploy; the next deploy removes it)"
                rows.append((key, rec.id, words))
                healthy = healthy and ok
        return StatusReport(
            cloud="gcp",
            name=state.name,
            resources=rows,
            url=state.outputs.get("url"),
            hourly_cost=self._hourly(state, nodes),
            healthy=healthy,
        )

    def _hourly(self, state: StateLike, nodes: int) -> Decimal | None:
        rec = state.resources.get("deployed-model")
        if rec is None or not nodes:
            return Decimal(0)
        from ocrkit.costing.catalog import default_catalog

        try:
            catalog = default_catalog("gcp", state.outputs.get("region") or DEFAULT_REGION)
            price = catalog.entry(f"vertex.prediction.{rec.attrs.get('machine_type')}").list_price
            gpu = rec.attrs.get("accelerator_type")
            if gpu:
                key = f"vertex.prediction.gpu.{str(gpu).lower().replace('_', '-')}"
                price += catalog.entry(key).list_price * int(rec.attrs.get("accelerator_count") or 1)
            return price * nodes
        except (OcrkitError, KeyError):
            return None

    def _describe(self, gcp: GcpSession, rec: ResourceRecord) -> tuple[str, bool, int]:
        """(state in words, healthy?, running nodes)."""
        from ocrkit.providers.gcp.session import is_not_found

        def get(call):
            try:
                return call()
            except Exception as exc:
                if is_not_found(exc):
                    return None
                raise

        kind = rec.kind
        if kind == "gcs:bucket":
            got = gcp.storage().lookup_bucket(rec.id)
            return ("exists" if got else "missing"), got is not None, 0
        if kind == "gcs:object":
            bucket = gcp.storage().lookup_bucket(rec.attrs.get("bucket") or "")
            blob = bucket.get_blob(rec.id) if bucket is not None else None
            if blob is None:
                return "missing", False, 0
            return f"uploaded, {blob.size:,} bytes", True, 0
        if kind == "vertex:model":
            got = get(lambda: gcp.models().get_model(name=rec.id))
            return ("exists" if got else "missing"), got is not None, 0
        if kind == "vertex:endpoint":
            got = get(lambda: gcp.endpoints().get_endpoint(name=rec.id))
            if got is None:
                return "missing", False, 0
            return f"{len(got.deployed_models)} deployed model(s)", bool(got.deployed_models), 0
        if kind == "vertex:deployed-model":
            got = get(lambda: gcp.endpoints().get_endpoint(name=rec.attrs.get("endpoint", "")))
            match = [d for d in (got.deployed_models if got else []) if d.id == rec.id]
            if not match:
                return "missing", False, 0
            res = match[0].dedicated_resources
            spec = res.machine_spec
            gpu = (
                f" + {spec.accelerator_type.name} x {spec.accelerator_count}"
                if spec.accelerator_count
                else ""
            )
            traffic = dict(got.traffic_split or {})
            share = traffic.get(rec.id, traffic.get("0", 0))
            words = (
                f"{spec.machine_type}{gpu}, {res.min_replica_count}-{res.max_replica_count} replicas, "
                f"{share}% of traffic"
            )
            return words, True, int(res.min_replica_count)
        if kind == "functions:function":
            got = get(lambda: gcp.functions().get_function(name=rec.id))
            if got is None:
                return "missing", False, 0
            return (
                f"{got.state.name}, {got.build_config.runtime}, {got.service_config.available_memory}",
                (got.state.name == "ACTIVE"),
                0,
            )
        if kind == "iam:service-account":
            name = f"projects/{gcp.project}/serviceAccounts/{rec.id}"
            got = get(lambda: gcp.iam().get_service_account(name=name))
            if got is None:
                return "missing", False, 0
            return ("disabled" if got.disabled else "exists"), not got.disabled, 0
        if kind == "iam:binding":
            return self._describe_binding(gcp, rec)
        return "recorded", True, 0

    @staticmethod
    def _describe_binding(gcp: GcpSession, rec: ResourceRecord) -> tuple[str, bool, int]:
        from ocrkit.providers.gcp import iam
        from ocrkit.providers.gcp.session import is_not_found

        member, role, resource = rec.attrs.get("member"), rec.attrs.get("role"), rec.attrs.get("resource")
        if not member:
            return "private: no public binding (callers need roles/run.invoker)", True, 0
        client = gcp.endpoint_iam() if role == iam.PREDICT_ROLE else gcp.run_iam()
        try:
            found = iam.find_binding(iam.get_policy(client, resource), role, member)
        except Exception as exc:
            if not is_not_found(exc):
                raise
            found = None
        if found is None:
            return f"missing: {member} has no {role} on {resource}", False, 0
        if role == iam.PREDICT_ROLE:
            return f"{member}: {role} on the endpoint", True, 0
        return f"PUBLIC: {member}: {role}", True, 0

    # -- invoke -------------------------------------------------------------------------------------

    def invoke(self, state: StateLike, body: bytes, content_type: str) -> InvokeResult:
        url = state.outputs.get("invoke_url")
        if not url:
            raise OcrkitError(
                f"deployment {state.name} has no URL in its state",
                hint=f"run ocrkit deploy --cloud gcp --name {state.name} first",
            )
        headers = {"Content-Type": content_type, "Accept": "application/json"}
        if not state.outputs.get("public"):
            token = self._identity_token(state, str(state.outputs.get("url") or url))
            if token:
                headers["Authorization"] = f"Bearer {token}"
        request = urllib.request.Request(url, data=body, method="POST", headers=headers)
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - the deployment's own URL
                data, status = response.read(), response.status
                ctype = response.headers.get("Content-Type", "")
        except urllib.error.HTTPError as exc:
            data, status = exc.read(), exc.code
            ctype = exc.headers.get("Content-Type", "") if exc.headers else ""
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise OcrkitError(f"could not reach {url}: {getattr(exc, 'reason', exc)}") from None
        latency = (time.perf_counter() - started) * 1000.0
        return InvokeResult(status=status, body=data, content_type=ctype, latency_ms=latency)

    def _identity_token(self, state: StateLike, audience: str) -> str | None:
        """An identity token for a private function; none with anonymous credentials (emulators)."""
        gcp = self._session_for_state(state)
        if gcp.anonymous:
            return None
        import google.auth.transport.requests
        from google.oauth2 import id_token

        with gcp_errors("get an identity token to call the private function"):
            return id_token.fetch_id_token(google.auth.transport.requests.Request(), audience)

    # -- teardown -----------------------------------------------------------------------------------

    def teardown(self, name: str, state: StateLike | None, events: Events) -> TeardownReport:
        gcp = self._session_for_state(state)
        names = Names(name, gcp.project, gcp.region)
        remover = Remover(gcp, names, self.options)
        with gcp_errors("find the deployment's resources"):
            found = remover.discover()
        known = list(state.resources.items()) if state is not None else []
        merged: dict[tuple[str, str], tuple[str, ResourceRecord]] = {}
        for key, rec in known + found:
            merged.setdefault((rec.kind, rec.id), (key, rec))
        deleted: list[str] = []
        for _, rec in sort_for_deletion(list(merged.values())):
            label = f"{rec.kind} {rec.id}"
            if rec.kind == "iam:binding" and not rec.attrs.get("member"):
                pass  # a private function's invoker: ocrkit made no binding
            elif rec.kind == "iam:service-account" and rec.attrs.get("ours") is False:
                remover.delete(rec, events)  # a note: not made by ocrkit, left as it is
            else:
                events.step(f"{'Removing' if rec.kind == 'iam:binding' else 'Deleting'} {label}")
                with gcp_errors(f"delete {label}"):
                    remover.delete(rec, events)
                deleted.append(label)
            if state is not None:
                for k in [k for k, r in state.resources.items() if (r.kind, r.id) == (rec.kind, rec.id)]:
                    state.resources.pop(k, None)
                state.save()
        for note in remover.notes:
            events.info(note)
        with gcp_errors("check that nothing is left"):
            remaining = [f"{rec.kind} {rec.id}" for _, rec in remover.discover()]
        if state is not None and not remaining:
            state.outputs.clear()
            remove = getattr(state, "remove_file", None)
            if callable(remove):
                remove()
        return TeardownReport(deleted=deleted, remaining=remaining)
