"""`GcpProvider`: plan / apply / status / invoke / teardown for the same architecture on Google Cloud.

Cloud Storage (the TorchServe archive) -> Vertex AI endpoint (the prebuilt PyTorch prediction container on
n1-standard-4 + NVIDIA T4, autoscaling between min and max replicas) <- Cloud Function 2nd gen (the gateway,
calling the endpoint's `:predict`); with `serving: function` only Cloud Storage (the ONNX export) and the
Cloud Function holding the model (ocrkit.providers.gcp.function_serving). The stages are the shared ones
of ocrkit.deploy: a local build (archive, function source), a plan made of describe/list calls, the
sweeper for what is no longer wanted, and the executor that runs the steps and writes
`.ocrkit/state/<name>-gcp.json` after each one.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from ocrkit.deploy.cloud import CloudProvider, CloudTeardown
from ocrkit.deploy.plan import ExecutablePlan, is_retired, sweep
from ocrkit.deploy.pricing import hourly_now, option_cost, try_estimate, unit_price
from ocrkit.deploy.records import InvokeResult, ResourceRecord, StateLike, StatusReport
from ocrkit.deploy.serving import ServingOption, previous_hourly, serving_of, switching
from ocrkit.deploy.spec import LoadedSpec
from ocrkit.errors import OcrkitError
from ocrkit.providers.gcp import function_serving, package, trigger_package
from ocrkit.providers.gcp.iam import counted
from ocrkit.providers.gcp.planner import REGISTRY, discover, plan_steps
from ocrkit.providers.gcp.planning import Desired, GcpAccess, GcpPlanContext, Names, Options
from ocrkit.providers.gcp.session import (
    GcpSession,
    gcp_errors,
    is_google_error,
    is_not_found,
    make_session,
    translate,
)
from ocrkit.providers.gcp.spec import GcpDeploySpec, load_gcp_spec, size_mb
from ocrkit.providers.gcp.trigger_iam import PROJECT_PREREQUISITES
from ocrkit.providers.gcp.usage import deployment_usage, running_usage
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
        folder = self.build_folder(spec)
        if spec.serving is ServingOption.function:
            memory = spec.function.memory_for(spec.serving)
            outputs = function_serving.build_function_outputs(
                self.weights_path(spec), folder, memory, size_mb(memory)
            )
        else:
            batching = package.Batching(spec.vertex.batch_size, spec.vertex.max_batch_delay_ms)
            outputs = package.build_all(self.weights_path(spec), folder, batching)
        trigger_source = None
        if spec.trigger.enabled:
            if spec.serving is ServingOption.function:
                trigger_memory = spec.trigger.memory_for(spec.function, spec.serving)
                trigger_package.check_memory(
                    trigger_memory, function_serving.export_for(self.weights_path(spec))
                )
            trigger_source = trigger_package.build_trigger_source(
                folder / "function-trigger.zip", spec.serving
            )
        return Built(Desired(spec, names, outputs.model, outputs.function, trigger_source), names)

    # -- plan ---------------------------------------------------------------------------------------

    def plan(self, spec: Any, state: StateLike | None) -> ExecutablePlan:
        loaded = self._loaded(spec)
        s: GcpDeploySpec = loaded.spec
        gcp = self._session_for_spec(s)
        built = self.build(loaded, gcp)
        planner = GcpPlanContext(gcp, built.desired, state, self.options)
        access = GcpAccess(gcp, built.names, self.options)
        with gcp_errors("plan the deployment (read the existing resources)"):
            steps = plan_steps(planner)
            ids = {"bucket": built.names.bucket, "function": built.names.function}
            if built.desired.triggered:
                ids.update(
                    {
                        "input-bucket": built.names.input_bucket,
                        "dead-letter": built.names.dead_letter_topic,
                        "trigger-function": built.names.trigger_function,
                    }
                )
            steps, foreign = self._check_foreign(steps, REGISTRY, access, ids)
        target = self._teardown(access)
        rank = lambda rec: REGISTRY.rank(rec.kind)  # noqa: E731
        steps += sweep(state, planner.wanted, self._deleter(target), rank=rank)
        steps = [self._guarded(step) for step in steps]
        shape = built.desired.shape
        list_estimate: tuple[Any, str | None] = (None, None)
        if s.serving == ServingOption.gpu_endpoint:  # the report's option: priced as it always was
            usage = deployment_usage(s, artifact_bytes=built.desired.artifact.size, source=str(loaded.path))
            list_estimate = try_estimate(usage)
        endpoint = s.serving != ServingOption.function  # a function holding the model: no Vertex nodes
        cost = option_cost(
            "gcp",
            s.region,
            s.serving.value,
            shape.machine_type if endpoint else None,
            s.usage,
            list_estimate,
            unit_keys=(f"vertex.prediction.{shape.machine_type}",) if endpoint else (),
            units=s.vertex.min_replicas if endpoint else 0,
            max_units=s.vertex.max_replicas,
            unit_word="nodes",
        )
        warnings: list[str] = list(shape.notes)
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
        if built.desired.triggered:
            warnings.append(
                f"--trigger gcs: upload images to gs://{built.names.input_bucket}/{s.trigger.input_prefix}; "
                "the trigger function's invocations (and the model time they use) are NOT priced in this plan"
            )
            warnings.append(
                "--trigger gcs needs two project-level grants that ocrkit does not make (least privilege: "
                "nothing project-wide): " + "; ".join(PROJECT_PREREQUISITES)
            )
        warnings += planner.warnings
        warnings += demo_weights_notes(self.weights_path(s))
        warnings += list(cost.notes)
        switch = switching(state, s.serving)
        return ExecutablePlan.of(
            "gcp",
            s.name,
            steps,
            hourly_cost=cost.hourly,
            monthly_cost=cost.monthly,
            warnings=warnings,
            foreign=foreign,
            serving=s.serving.value,
            switching_from=switch,
            previous_hourly=previous_hourly(state) if switch else None,
        )

    def _delete_summary(self, rec: ResourceRecord) -> str:
        verb = "undeploy" if rec.kind == "vertex:deployed-model" else "delete"
        return f"{verb} {rec.id} (no longer wanted)"

    def _translate_error(self, exc: Exception, action: str) -> Exception | None:
        return translate(exc, action) if is_google_error(exc) else None

    # -- apply --------------------------------------------------------------------------------------

    def record_outputs(self, loaded: LoadedSpec, state: StateLike) -> None:
        gcp = self._session_for_spec(loaded.spec)
        state.outputs.update(
            {"project": gcp.project, "region": gcp.region, "public": loaded.spec.function.public}
        )

    # -- status -------------------------------------------------------------------------------------

    def status(self, state: StateLike) -> StatusReport:
        gcp = self._session_for_state(state)
        access = GcpAccess(gcp, Names(state.name, gcp.project, gcp.region), self.options)
        rows: list[tuple[str, str, str]] = []
        healthy = bool(state.resources)
        nodes, machine = 0, {}
        with gcp_errors("read the deployment's status"):
            for key, rec in state.resources.items():
                described = REGISTRY.describe(access, rec)
                nodes += described.running
                words = described.words
                if is_retired(key) and not getattr(state, "from_tags", False):
                    words += " (left over from an earlier deploy; the next deploy removes it)"
                rows.append((key, rec.id, words))
                healthy = healthy and described.healthy
                if key == "deployed-model":
                    machine = described.attrs
        region = state.outputs.get("region") or DEFAULT_REGION
        usage = running_usage(
            state.name,
            region,
            machine.get("machine_type"),
            machine.get("accelerator_type"),
            int(machine.get("accelerator_count") or 1),
            nodes,
        )
        hourly = hourly_now(usage)
        seen = None
        if machine.get("machine_type"):
            seen = (
                ServingOption.gpu_endpoint if machine.get("accelerator_type") else ServingOption.cpu_endpoint
            )
            if hourly is None and not machine.get("accelerator_type"):  # CPU machines: serving catalog
                unit = unit_price("gcp", region, f"vertex.prediction.{machine['machine_type']}")
                hourly = None if unit is None else unit * nodes
        return StatusReport(
            cloud="gcp",
            name=state.name,
            resources=rows,
            url=state.outputs.get("url"),
            hourly_cost=hourly,
            healthy=healthy,
            serving=serving_of(state, seen),
        )

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

    # -- teardown (run by ocrkit.deploy.pipeline.destroy) ---------------------------------------------

    def _teardown(self, access: GcpAccess) -> CloudTeardown:
        return CloudTeardown(
            registry=REGISTRY,
            access=access,
            find=lambda: discover(access),
            errors=gcp_errors,
            guard=self._guarded,
            gone=is_not_found,
            counted=counted,
        )

    def teardown_target(self, name: str, state: StateLike | None) -> CloudTeardown:
        gcp = self._session_for_state(state)
        return self._teardown(GcpAccess(gcp, Names(name, gcp.project, gcp.region), self.options))
