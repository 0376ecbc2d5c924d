"""The GCP resources of a deployment: names, the planner (describe calls only) and the remover.

Chalice-style, like ocrkit.providers.aws: each wanted resource becomes a `Step` whose `PlannedCall` is shown
in the plan and whose function makes the API calls when the plan is applied. Records go into the shared
state file (ocrkit.deploy.state); values pass forward through the executor's `Context`.

    bucket            gcs:bucket               uniform access, public access prevention, versioning, CMEK
    artifact          gcs:object               models/<sha12>/model.mar (skipped when its sha256 is there)
    model             vertex:model             the prebuilt PyTorch container + the archive's folder
    endpoint          vertex:endpoint
    deployed-model    vertex:deployed-model    machine type + accelerator, min/max replicas, 100% traffic
    service-account   iam:service-account      <name>-fn@PROJECT.iam.gserviceaccount.com, description-marked
    predict-binding   iam:binding              roles/aiplatform.user for it on the endpoint (its IAM policy)
    function          functions:function       2nd gen, python312, the gateway; source via generateUploadUrl
    invoker           iam:binding              --public: allUsers get roles/run.invoker; private: no binding

IAM details (the conditioned project binding, the service account's marker) are in ocrkit.providers.gcp.iam.
New weights add a new model and deploy it with 100% of the
traffic; the sweeper then undeploys the old deployed model and deletes the old model and archive.
"""

from __future__ import annotations

import hashlib
import json
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ocrkit.deploy.artifact import BuiltArchive
from ocrkit.deploy.plan import Context, Step, StepResult
from ocrkit.deploy.provider import Events, PlannedCall, ResourceRecord, StateLike
from ocrkit.errors import OcrkitError
from ocrkit.providers.gcp import iam
from ocrkit.providers.gcp.package import MAR_NAME
from ocrkit.providers.gcp.session import GcpSession, is_not_found
from ocrkit.providers.gcp.spec import LABEL_KEY, GcpDeploySpec, gateway_environment, model_environment

ARTIFACT_LABEL = "ocrkit-artifact"
SOURCE_LABEL = "ocrkit-source"
RANK = {
    "vertex:deployed-model": 0,
    "iam:binding": 1,  # before the function: the invoker binding lives on its Cloud Run service
    "functions:function": 2,
    "vertex:endpoint": 3,
    "vertex:model": 4,
    "iam:service-account": 5,
    "gcs:object": 6,
    "gcs:bucket": 7,
}
UPLOAD_CHUNK = 8 * 1024 * 1024


@dataclass(frozen=True)
class Options:
    sleep: Callable[[float], None] = time.sleep
    poll_s: float = 15.0
    deploy_timeout_s: float = 3600.0
    # PUT the function source to the URL generateUploadUrl returned (tests replace it)
    put_source: Callable[[str, bytes], None] | None = None


@dataclass(frozen=True)
class Names:
    name: str
    project: str
    region: str

    @property
    def parent(self) -> str:
        return f"projects/{self.project}/locations/{self.region}"

    @property
    def bucket(self) -> str:
        return f"{self.name}-{self.project}"[:63].rstrip("-")

    @property
    def endpoint_display(self) -> str:
        return f"{self.name}-endpoint"

    @property
    def function_id(self) -> str:
        return f"{self.name}-gateway"

    @property
    def function(self) -> str:
        return f"{self.parent}/functions/{self.function_id}"

    @property
    def service_account(self) -> str:
        account = f"{self.name}-fn"[:30].rstrip("-")
        if len(account) < 6:
            account = f"ocrkit-{account}"
        return f"{account}@{self.project}.iam.gserviceaccount.com"

    @property
    def labels(self) -> dict[str, str]:
        return {LABEL_KEY: self.name}


def _get_request(resource: str) -> Any:
    from google.iam.v1 import iam_policy_pb2

    return iam_policy_pb2.GetIamPolicyRequest(resource=resource)


def artifact_object(sha: str) -> str:
    return f"models/{sha[:12]}/{MAR_NAME}"


def service_name(names: Names, function: Any | None = None) -> str:
    """The Cloud Run service behind the function (2nd gen): the one it names, else the function's id."""
    named = getattr(getattr(function, "service_config", None), "service", "") if function is not None else ""
    return named or f"{names.parent}/services/{names.function_id}"


@dataclass(frozen=True)
class Desired:
    spec: GcpDeploySpec
    names: Names
    artifact: BuiltArchive
    source: BuiltArchive

    @property
    def sha12(self) -> str:
        return self.artifact.sha256[:12]

    @property
    def artifact_uri(self) -> str:
        return f"gs://{self.names.bucket}/models/{self.sha12}/"

    def function_settings(self, endpoint: str) -> dict[str, Any]:
        fn = self.spec.function
        return {
            "runtime": fn.runtime,
            "memory": fn.memory,
            "timeout_s": fn.timeout_s,
            "max_instances": fn.max_instances,
            "min_instances": fn.min_instances,
            "service_account": self.names.service_account,
            "public": fn.public,
            "environment": gateway_environment(self.spec, endpoint),
            "source_sha256": self.source.sha256,
        }

    def deploy_settings(self) -> dict[str, Any]:
        vx = self.spec.vertex
        return {
            "machine_type": vx.machine_type,
            "accelerator_type": vx.accelerator_type,
            "accelerator_count": vx.accelerator_count if vx.accelerator_type else 0,
            "min_replicas": vx.min_replicas,
            "max_replicas": vx.max_replicas,
        }


def settings_hash(settings: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def _labelled(resource: Any, name: str) -> bool:
    return dict(getattr(resource, "labels", {}) or {}).get(LABEL_KEY) == name


class _Progress:
    """A file wrapper that reports how much of it was read (the upload's progress bar)."""

    def __init__(self, fh: Any, total: int, events: Events, task: str) -> None:
        self.fh, self.total, self.events, self.task, self.done = fh, total, events, task, 0

    def read(self, size: int = -1) -> bytes:
        data = self.fh.read(size)
        self.done += len(data)
        self.events.progress(self.task, self.done, self.total)
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self.fh, name)


def wait_operation(operation: Any, what: str, events: Events, options: Options) -> Any:
    """Wait for a long-running operation, showing the elapsed time and its state; its error on failure."""
    started = time.monotonic()
    name = getattr(getattr(operation, "operation", None), "name", "") or "operation"
    last_note = 0.0
    while not operation.done():
        elapsed = time.monotonic() - started
        events.progress(f"{what} ({name})", int(elapsed), None)
        if elapsed - last_note >= 60:
            events.info(f"{what}: still running after {int(elapsed)} s (operation {name})")
            last_note = elapsed
        if elapsed > options.deploy_timeout_s:
            raise OcrkitError(
                f"{what} did not finish within {int(options.deploy_timeout_s)} s (operation {name})",
                hint="it may still finish: run the same command again later to pick it up",
            )
        options.sleep(options.poll_s)
    events.progress(f"{what} ({name})", 1, 1)
    error = operation.exception()
    if error is not None:
        message = getattr(error, "message", None) or str(error)
        raise OcrkitError(f"{what} failed: {message}", hint=f"operation {name}")
    return operation.result()


def default_put(url: str, data: bytes) -> None:
    request = urllib.request.Request(
        url, data=data, method="PUT", headers={"Content-Type": "application/zip"}
    )
    with urllib.request.urlopen(request, timeout=300) as response:  # noqa: S310 - Google's signed URL
        if response.status >= 300:
            raise OcrkitError(f"uploading the function source answered {response.status}")


class Planner:
    """Describe calls only: what exists, what differs; returns the steps that make the difference."""

    def __init__(self, gcp: GcpSession, desired: Desired, state: StateLike | None, options: Options) -> None:
        self.gcp = gcp
        self.d = desired
        self.names = desired.names
        self.state = state
        self.options = options
        self.warnings: list[str] = []
        self.wanted: dict[str, str | None] = {}

    def _rec(self, key: str) -> ResourceRecord | None:
        return self.state.resources.get(key) if self.state is not None else None

    def steps(self) -> list[Step]:
        return [
            self.bucket(),
            self.artifact(),
            self.model(),
            self.endpoint(),
            self.deployed_model(),
            self.service_account(),
            self.predict_binding(),
            self.function(),
            self.invoker(),
        ]

    # -- bucket -------------------------------------------------------------------------------------

    def _bucket_wanted(self) -> dict[str, Any]:
        b = self.d.spec.bucket
        return {
            "location": (b.location or self.d.spec.region).upper(),
            "uniform_access": True,
            "public_access_prevention": "enforced",
            "versioning": b.versioning,
            "kms_key": b.kms_key,
            "noncurrent_version_expiry_days": b.noncurrent_version_expiry_days,
        }

    def bucket(self) -> Step:
        name = self.names.bucket
        self.wanted["bucket"] = name
        want = self._bucket_wanted()
        existing = self.gcp.storage().lookup_bucket(name)
        summary = (
            f"{name} in {want['location']}: uniform access, public access prevention enforced, "
            f"versioning {'on' if want['versioning'] else 'off'}, "
            f"{'CMEK ' + want['kms_key'] if want['kms_key'] else 'Google-managed encryption'}"
        )
        if existing is not None:
            have = {
                "uniform_access": bool(existing.iam_configuration.uniform_bucket_level_access_enabled),
                "public_access_prevention": existing.iam_configuration.public_access_prevention,
                "versioning": bool(existing.versioning_enabled),
                "kms_key": existing.default_kms_key_name,
                "labels": dict(existing.labels or {}).get(LABEL_KEY),
            }
            target = {
                k: want[k] for k in ("uniform_access", "public_access_prevention", "versioning", "kms_key")
            }
            target["labels"] = self.names.name
            if have == target:
                rec = ResourceRecord("gcs:bucket", name, {"location": existing.location, **want})
                return Step(
                    PlannedCall("bucket", "gcs:bucket", "noop", summary),
                    lambda ctx: StepResult(record=rec, outputs={"bucket": name}),
                )
            return Step(
                PlannedCall("bucket", "gcs:bucket", "update", summary, want), self._make_bucket(False)
            )
        return Step(PlannedCall("bucket", "gcs:bucket", "create", summary, want), self._make_bucket(True))

    def _make_bucket(self, create: bool) -> Callable[[Context], StepResult]:
        want = self._bucket_wanted()
        names = self.names

        def configure(bucket: Any) -> Any:
            bucket.iam_configuration.uniform_bucket_level_access_enabled = True
            bucket.iam_configuration.public_access_prevention = "enforced"
            bucket.versioning_enabled = want["versioning"]
            bucket.labels = {**dict(bucket.labels or {}), **names.labels}
            if want["kms_key"]:
                bucket.default_kms_key_name = want["kms_key"]
            if want["noncurrent_version_expiry_days"]:
                bucket.lifecycle_rules = []
                bucket.add_lifecycle_delete_rule(
                    days_since_noncurrent_time=want["noncurrent_version_expiry_days"]
                )
            return bucket

        def run(ctx: Context) -> StepResult:
            client = self.gcp.storage()
            if create:
                client.create_bucket(configure(client.bucket(names.bucket)), location=want["location"])
            # patched as well: the local emulator keeps only what a patch sets (on Google it is a no-op)
            configure(client.get_bucket(names.bucket)).patch()
            return StepResult(
                record=ResourceRecord("gcs:bucket", names.bucket, dict(want)),
                outputs={"bucket": names.bucket},
            )

        return run

    # -- artifact -----------------------------------------------------------------------------------

    def artifact(self) -> Step:
        art = self.d.artifact
        name = artifact_object(art.sha256)
        self.wanted["artifact"] = name
        summary = f"gs://{self.names.bucket}/{name}, {art.size:,} bytes, sha256 {art.sha256[:12]}"
        attrs = {"bucket": self.names.bucket, "sha256": art.sha256, "size": art.size}
        bucket = self.gcp.storage().lookup_bucket(self.names.bucket)
        blob = bucket.get_blob(name) if bucket is not None else None
        if blob is not None and (blob.metadata or {}).get("sha256") == art.sha256:
            rec = ResourceRecord("gcs:object", name, attrs)
            return Step(
                PlannedCall("artifact", "gcs:object", "noop", summary + " (already uploaded)"),
                lambda ctx: StepResult(record=rec),
            )

        def run(ctx: Context) -> StepResult:
            target = self.gcp.storage().bucket(self.names.bucket).blob(name, chunk_size=UPLOAD_CHUNK)
            target.metadata = {"sha256": art.sha256}
            task = f"uploading {MAR_NAME}"
            with open(art.path, "rb") as fh:
                target.upload_from_file(
                    _Progress(fh, art.size, ctx.events, task), size=art.size, content_type="application/zip"
                )
            return StepResult(record=ResourceRecord("gcs:object", name, attrs))

        return Step(PlannedCall("artifact", "gcs:object", "create", summary, attrs), run)

    # -- model --------------------------------------------------------------------------------------

    def _find_model(self) -> Any:
        models = self.gcp.models()
        request = {"parent": self.names.parent, "filter": f'labels.{LABEL_KEY}="{self.names.name}"'}
        for model in models.list_models(request=request):
            labels = dict(model.labels or {})
            if labels.get(LABEL_KEY) == self.names.name and labels.get(ARTIFACT_LABEL) == self.d.sha12:
                return model
        return None

    def model(self) -> Step:
        vx = self.d.spec.vertex
        summary = f"{self.names.name}-{self.d.sha12}: {vx.image_uri} serving {self.d.artifact_uri}{MAR_NAME}"
        rec = self._rec("model")
        found = None
        if rec is not None and rec.attrs.get("sha256") == self.d.artifact.sha256:
            try:
                found = self.gcp.models().get_model(name=rec.id)
            except Exception as exc:
                if not is_not_found(exc):
                    raise
        if found is None:
            found = self._find_model()  # made by a run that stopped before recording it
        attrs = {"sha256": self.d.artifact.sha256, "artifact_uri": self.d.artifact_uri, "image": vx.image_uri}
        if found is not None:
            self.wanted["model"] = found.name
            record = ResourceRecord("vertex:model", found.name, attrs)
            return Step(
                PlannedCall("model", "vertex:model", "noop", summary),
                lambda ctx: StepResult(record=record, outputs={"model": found.name}),
            )
        self.wanted["model"] = f"(new {self.d.sha12})"

        def run(ctx: Context) -> StepResult:
            from google.cloud import aiplatform_v1 as ap

            model = ap.Model(
                display_name=f"{self.names.name}-{self.d.sha12}",
                description=f"ocrkit deployment {self.names.name}",
                artifact_uri=self.d.artifact_uri,
                labels={**self.names.labels, ARTIFACT_LABEL: self.d.sha12},
                container_spec=ap.ModelContainerSpec(
                    image_uri=vx.image_uri,
                    env=[
                        ap.EnvVar(name=k, value=v) for k, v in sorted(model_environment(self.d.spec).items())
                    ],
                ),
            )
            operation = self.gcp.models().upload_model(parent=self.names.parent, model=model)
            result = wait_operation(operation, "uploading the model", ctx.events, self.options)
            name = result.model
            return StepResult(record=ResourceRecord("vertex:model", name, attrs), outputs={"model": name})

        return Step(PlannedCall("model", "vertex:model", "create", summary, attrs), run)

    # -- endpoint -----------------------------------------------------------------------------------

    def _find_endpoint(self) -> Any:
        request = {"parent": self.names.parent, "filter": f'labels.{LABEL_KEY}="{self.names.name}"'}
        for endpoint in self.gcp.endpoints().list_endpoints(request=request):
            if _labelled(endpoint, self.names.name):
                return endpoint
        return None

    def endpoint(self) -> Step:
        summary = f"{self.names.endpoint_display} in {self.names.region}"
        rec = self._rec("endpoint")
        found = None
        if rec is not None:
            try:
                found = self.gcp.endpoints().get_endpoint(name=rec.id)
            except Exception as exc:
                if not is_not_found(exc):
                    raise
        if found is None:
            found = self._find_endpoint()
        self._endpoint = found
        if found is not None:
            self.wanted["endpoint"] = found.name
            record = ResourceRecord("vertex:endpoint", found.name, {"display_name": found.display_name})
            return Step(
                PlannedCall("endpoint", "vertex:endpoint", "noop", summary),
                lambda ctx: StepResult(record=record, outputs={"endpoint": found.name}),
            )
        self.wanted["endpoint"] = None

        def run(ctx: Context) -> StepResult:
            from google.cloud import aiplatform_v1 as ap

            endpoint = ap.Endpoint(display_name=self.names.endpoint_display, labels=self.names.labels)
            operation = self.gcp.endpoints().create_endpoint(parent=self.names.parent, endpoint=endpoint)
            result = wait_operation(operation, "creating the endpoint", ctx.events, self.options)
            record = ResourceRecord("vertex:endpoint", result.name, {"display_name": result.display_name})
            return StepResult(record=record, outputs={"endpoint": result.name})

        return Step(PlannedCall("endpoint", "vertex:endpoint", "create", summary), run)

    # -- deployed model -----------------------------------------------------------------------------

    @staticmethod
    def _settings_of(deployed: Any) -> dict[str, Any]:
        res = deployed.dedicated_resources
        spec = res.machine_spec
        accelerator = spec.accelerator_type.name if spec.accelerator_type else None
        if accelerator == "ACCELERATOR_TYPE_UNSPECIFIED":
            accelerator = None
        return {
            "machine_type": spec.machine_type,
            "accelerator_type": accelerator,
            "accelerator_count": spec.accelerator_count if accelerator else 0,
            "min_replicas": res.min_replica_count,
            "max_replicas": res.max_replica_count,
        }

    def deployed_model(self) -> Step:
        want = self.d.deploy_settings()
        vx = self.d.spec.vertex
        gpu = f" + {vx.accelerator_type} x {vx.accelerator_count}" if vx.accelerator_type else " (CPU only)"
        summary = (
            f"{vx.machine_type}{gpu}, autoscaling {vx.min_replicas}-{vx.max_replicas} replicas, "
            "100% of the traffic"
        )
        endpoint = getattr(self, "_endpoint", None)
        model_name = self.wanted.get("model") or ""
        if endpoint is not None and not model_name.startswith("(new"):
            for deployed in endpoint.deployed_models:
                if deployed.model == model_name and self._settings_of(deployed) == want:
                    traffic = dict(endpoint.traffic_split or {})
                    if traffic and traffic.get(deployed.id, 0) != 100 and "0" not in traffic:
                        continue
                    self.wanted["deployed-model"] = deployed.id
                    record = ResourceRecord(
                        "vertex:deployed-model",
                        deployed.id,
                        {"endpoint": endpoint.name, "model": model_name, **want},
                    )
                    return Step(
                        PlannedCall("deployed-model", "vertex:deployed-model", "noop", summary),
                        lambda ctx, r=record: StepResult(record=r, outputs={"deployed_model": r.id}),
                    )
        rec = self._rec("deployed-model")
        action = "update" if rec is not None else "create"
        if rec is not None:
            summary += " (replaces deployed model " + rec.id + ")"
        self.wanted["deployed-model"] = "(new)"

        def run(ctx: Context) -> StepResult:
            from google.cloud import aiplatform_v1 as ap

            endpoint_name = ctx.get("endpoint")
            model = ctx.get("model")
            machine = ap.MachineSpec(machine_type=vx.machine_type)
            if vx.accelerator_type:
                machine.accelerator_type = ap.AcceleratorType[vx.accelerator_type]
                machine.accelerator_count = vx.accelerator_count
            deployed = ap.DeployedModel(
                model=model,
                display_name=f"{self.names.name}-{self.d.sha12}",
                dedicated_resources=ap.DedicatedResources(
                    machine_spec=machine,
                    min_replica_count=vx.min_replicas,
                    max_replica_count=vx.max_replicas,
                ),
            )
            ctx.events.info(
                "deploying the model on the endpoint: on Google Cloud this usually takes 10-30 minutes"
            )
            operation = self.gcp.endpoints().deploy_model(
                endpoint=endpoint_name, deployed_model=deployed, traffic_split={"0": 100}
            )
            result = wait_operation(operation, "deploying the model", ctx.events, self.options)
            deployed_id = result.deployed_model.id
            record = ResourceRecord(
                "vertex:deployed-model", deployed_id, {"endpoint": endpoint_name, "model": model, **want}
            )
            return StepResult(record=record, outputs={"deployed_model": deployed_id})

        return Step(PlannedCall("deployed-model", "vertex:deployed-model", action, summary, want), run)

    # -- IAM ----------------------------------------------------------------------------------------

    def _account_name(self) -> str:
        return f"projects/{self.names.project}/serviceAccounts/{self.names.service_account}"

    def service_account(self) -> Step:
        email = self.names.service_account
        self.wanted["service-account"] = email
        summary = f"{email}: the function runs as it; it may only call predict on the endpoint"
        existing = None
        try:
            existing = self.gcp.iam().get_service_account(name=self._account_name())
        except Exception as exc:
            if not is_not_found(exc):
                raise
        if existing is not None:
            attrs = {"unique_id": existing.unique_id, "ours": iam.is_ours(existing, self.names.name, email)}
            if not attrs["ours"]:
                self.warnings.append(
                    f"the service account {email} exists and was not made by ocrkit for {self.names.name}: "
                    "the function will run as it, and teardown will leave it"
                )
            record = ResourceRecord("iam:service-account", email, attrs)
            return Step(
                PlannedCall("service-account", "iam:service-account", "noop", summary),
                lambda ctx: StepResult(record=record, outputs={"service_account": email}),
            )
        account_id = email.split("@")[0]
        display = f"ocrkit {self.names.name} gateway"[:100]
        description = iam.account_description(self.names.name)

        def run(ctx: Context) -> StepResult:
            from google.cloud import iam_admin_v1

            request = iam_admin_v1.CreateServiceAccountRequest(
                name=f"projects/{self.names.project}",
                account_id=account_id,
                service_account=iam_admin_v1.ServiceAccount(display_name=display, description=description),
            )
            made = self.gcp.iam().create_service_account(request=request)
            attrs = {"unique_id": made.unique_id, "ours": True}
            return StepResult(
                record=ResourceRecord("iam:service-account", made.email or email, attrs),
                outputs={"service_account": made.email or email},
            )

        return Step(
            PlannedCall(
                "service-account",
                "iam:service-account",
                "create",
                summary,
                {"account_id": account_id, "display_name": display, "description": description},
            ),
            run,
        )

    def _predict_record(self, endpoint: str) -> ResourceRecord:
        return ResourceRecord(
            "iam:binding",
            f"{endpoint}#{iam.PREDICT_ROLE}",
            {
                "resource": endpoint,
                "role": iam.PREDICT_ROLE,
                "member": f"serviceAccount:{self.names.service_account}",
            },
        )

    def predict_binding(self) -> Step:
        member = f"serviceAccount:{self.names.service_account}"
        self.wanted["predict-binding"] = None
        summary = f"{member}: {iam.PREDICT_ROLE} on the endpoint only (its IAM policy, not the project's)"
        endpoint = getattr(self, "_endpoint", None)
        action = "create"
        if endpoint is not None:
            policy = iam.get_policy(self.gcp.endpoint_iam(), endpoint.name)
            if iam.find_binding(policy, iam.PREDICT_ROLE, member) is not None:
                record = self._predict_record(endpoint.name)
                return Step(
                    PlannedCall("predict-binding", "iam:binding", "noop", summary),
                    lambda ctx: StepResult(record=record),
                )

        def run(ctx: Context) -> StepResult:
            endpoint_name = ctx.get("endpoint")
            iam.grant(self.gcp.endpoint_iam(), endpoint_name, iam.PREDICT_ROLE, member)
            return StepResult(record=self._predict_record(endpoint_name))

        want = {"member": member, "role": iam.PREDICT_ROLE, "resource": "the endpoint"}
        return Step(PlannedCall("predict-binding", "iam:binding", action, summary, want), run)

    def _invoker_record(self, service: str, public: bool) -> ResourceRecord:
        return ResourceRecord(
            "iam:binding",
            f"{service}#{iam.INVOKER_ROLE}",
            {
                "resource": service,
                "role": iam.INVOKER_ROLE,
                "member": iam.PUBLIC_MEMBER if public else None,
                "public": public,
            },
        )

    def invoker(self) -> Step:
        public = self.d.spec.function.public
        self.wanted["invoker"] = None
        summary = (
            f"PUBLIC: anyone with the URL can call the function ({iam.PUBLIC_MEMBER}: {iam.INVOKER_ROLE} "
            "on its Cloud Run service)"
            if public
            else f"private: no public binding; callers need {iam.INVOKER_ROLE} on it and an identity token"
        )
        existing = getattr(self, "_function", None)
        action = "create"
        if existing is None and not public:  # a new private function: nothing to grant or remove

            def private(ctx: Context) -> StepResult:
                service = ctx.values.get("service") or service_name(self.names)
                return StepResult(record=self._invoker_record(service, False))

            return Step(PlannedCall("invoker", "iam:binding", "noop", summary), private)
        if existing is not None:
            service = service_name(self.names, existing)
            try:
                policy = self.gcp.run_iam().get_iam_policy(request=_get_request(service))
                is_public = iam.find_binding(policy, iam.INVOKER_ROLE, iam.PUBLIC_MEMBER) is not None
            except Exception as exc:
                if not is_not_found(exc):
                    raise
                is_public = False
            if is_public == public:
                record = self._invoker_record(service, public)
                return Step(
                    PlannedCall("invoker", "iam:binding", "noop", summary),
                    lambda ctx: StepResult(record=record),
                )
            action = "create" if public else "delete"
            if not public:
                summary = f"remove the public binding ({iam.PUBLIC_MEMBER}: {iam.INVOKER_ROLE}); " + summary

        def run(ctx: Context) -> StepResult:
            service = ctx.values.get("service") or service_name(self.names)
            client = self.gcp.run_iam()
            if public:
                iam.grant(client, service, iam.INVOKER_ROLE, iam.PUBLIC_MEMBER)
            else:
                iam.revoke(client, service, iam.INVOKER_ROLE, iam.PUBLIC_MEMBER)
            return StepResult(record=self._invoker_record(service, public))

        return Step(PlannedCall("invoker", "iam:binding", action, summary), run)

    # -- function -----------------------------------------------------------------------------------

    def _function_message(self, endpoint: str, source: Any) -> Any:
        from google.cloud import functions_v2 as fv

        fn = self.d.spec.function
        settings = self.d.function_settings(endpoint)
        return fv.Function(
            name=self.names.function,
            description=f"ocrkit gateway for {self.names.name}",
            labels={**self.names.labels, SOURCE_LABEL: self.d.source.sha256[:12]},
            environment=fv.Environment.GEN_2,
            build_config=fv.BuildConfig(
                runtime=fn.runtime, entry_point="predict", source=fv.Source(storage_source=source)
            ),
            service_config=fv.ServiceConfig(
                available_memory=fn.memory,
                timeout_seconds=fn.timeout_s,
                max_instance_count=fn.max_instances,
                min_instance_count=fn.min_instances,
                service_account_email=self.names.service_account,
                environment_variables=settings["environment"],
                ingress_settings=fv.ServiceConfig.IngressSettings.ALLOW_ALL,
                all_traffic_on_latest_revision=True,
            ),
        )

    def function(self) -> Step:
        fn = self.d.spec.function
        self.wanted["function"] = self.names.function
        summary = (
            f"{self.names.function_id}: {fn.runtime}, {fn.memory}, timeout {fn.timeout_s} s, "
            f"max {fn.max_instances} instances, runs as {self.names.service_account}, "
            f"source {self.d.source.size:,} bytes"
        )
        existing = None
        try:
            existing = self.gcp.functions().get_function(name=self.names.function)
        except Exception as exc:
            if not is_not_found(exc):
                raise
        self._function = existing
        rec = self._rec("function")
        endpoint_now = (getattr(self, "_endpoint", None) or None) and self._endpoint.name
        if existing is not None and rec is not None and endpoint_now:
            same = rec.attrs.get("settings") == settings_hash(self.d.function_settings(endpoint_now))
            if same:
                url = existing.url or existing.service_config.uri
                record = ResourceRecord("functions:function", existing.name, dict(rec.attrs, url=url))
                return Step(
                    PlannedCall("function", "functions:function", "noop", summary),
                    lambda ctx: StepResult(
                        record=record,
                        outputs={
                            "url": url,
                            "invoke_url": f"{url}/predict",
                            "service": service_name(self.names, existing),
                        },
                    ),
                )
        action = "update" if existing is not None else "create"

        def run(ctx: Context) -> StepResult:
            endpoint = ctx.get("endpoint")
            functions = self.gcp.functions()
            upload = functions.generate_upload_url(request={"parent": self.names.parent})
            put = self.options.put_source or default_put
            ctx.events.progress("uploading the function source", 0, self.d.source.size)
            put(upload.upload_url, Path(self.d.source.path).read_bytes())
            ctx.events.progress("uploading the function source", self.d.source.size, self.d.source.size)
            message = self._function_message(endpoint, upload.storage_source)
            if action == "create":
                operation = functions.create_function(
                    parent=self.names.parent, function=message, function_id=self.names.function_id
                )
            else:
                operation = functions.update_function(function=message)
            result = wait_operation(
                operation,
                f"{'creating' if action == 'create' else 'updating'} the function",
                ctx.events,
                self.options,
            )
            url = result.url or result.service_config.uri
            attrs = {
                "url": url,
                "settings": settings_hash(self.d.function_settings(endpoint)),
                "source_sha256": self.d.source.sha256,
                "public": fn.public,
            }
            return StepResult(
                record=ResourceRecord("functions:function", result.name, attrs),
                outputs={
                    "url": url,
                    "invoke_url": f"{url}/predict",
                    "public": fn.public,
                    "service": service_name(self.names, result),
                },
            )

        return Step(PlannedCall("function", "functions:function", action, summary), run)


# -- deletion ----------------------------------------------------------------------------------------


@dataclass
class Remover:
    """Deletes resources and finds them again by label (teardown without a state file)."""

    gcp: GcpSession
    names: Names
    options: Options = field(default_factory=Options)
    notes: list[str] = field(default_factory=list)

    def delete(self, rec: ResourceRecord, events: Events) -> None:
        try:
            self._delete(rec, events)
        except Exception as exc:
            if is_not_found(exc):
                return
            raise

    def _delete(self, rec: ResourceRecord, events: Events) -> None:
        kind = rec.kind
        if kind == "vertex:deployed-model":
            endpoint = rec.attrs.get("endpoint")
            operation = self.gcp.endpoints().undeploy_model(endpoint=endpoint, deployed_model_id=rec.id)
            wait_operation(operation, "undeploying the model", events, self.options)
        elif kind == "vertex:endpoint":
            endpoints = self.gcp.endpoints()
            current = endpoints.get_endpoint(name=rec.id)
            for deployed in current.deployed_models:
                operation = endpoints.undeploy_model(endpoint=rec.id, deployed_model_id=deployed.id)
                wait_operation(operation, "undeploying the model", events, self.options)
            wait_operation(
                endpoints.delete_endpoint(name=rec.id), "deleting the endpoint", events, self.options
            )
        elif kind == "vertex:model":
            wait_operation(
                self.gcp.models().delete_model(name=rec.id), "deleting the model", events, self.options
            )
        elif kind == "functions:function":
            operation = self.gcp.functions().delete_function(name=rec.id)
            wait_operation(operation, "deleting the function", events, self.options)
        elif kind == "gcs:object":
            bucket = self.gcp.storage().bucket(rec.attrs.get("bucket") or self.names.bucket)
            for blob in bucket.list_blobs(prefix=rec.id, versions=True):
                if blob.name == rec.id:
                    blob.delete()
        elif kind == "gcs:bucket":
            bucket = self.gcp.storage().lookup_bucket(rec.id)
            if bucket is None:
                return
            for blob in list(bucket.list_blobs(versions=True)):
                blob.delete()
            bucket.delete()
        elif kind == "iam:service-account":
            if rec.attrs.get("ours") is False:
                self.notes.append(f"the service account {rec.id} was not made by ocrkit: it is left as it is")
                return
            name = f"projects/{self.names.project}/serviceAccounts/{rec.id}"
            self.gcp.iam().delete_service_account(name=name)
        elif kind == "iam:binding":
            member, role = rec.attrs.get("member"), rec.attrs.get("role")
            resource = rec.attrs.get("resource")
            if not member or not role or not resource:
                return  # a private function's invoker: no binding was made
            if role == iam.PREDICT_ROLE:
                iam.revoke(self.gcp.endpoint_iam(), resource, role, member)
            elif role == iam.INVOKER_ROLE:
                iam.revoke(self.gcp.run_iam(), resource, role, member)

    def discover(self) -> list[tuple[str, ResourceRecord]]:
        """Everything labelled ocrkit-deployment=<name> that still exists (billable or not)."""
        n = self.names
        found: list[tuple[str, ResourceRecord]] = []
        request = {"parent": n.parent, "filter": f'labels.{LABEL_KEY}="{n.name}"'}
        for endpoint in self.gcp.endpoints().list_endpoints(request=request):
            if not _labelled(endpoint, n.name):
                continue
            for deployed in endpoint.deployed_models:
                found.append(
                    (
                        "deployed-model",
                        ResourceRecord("vertex:deployed-model", deployed.id, {"endpoint": endpoint.name}),
                    )
                )
            found.append(("endpoint", ResourceRecord("vertex:endpoint", endpoint.name)))
        for model in self.gcp.models().list_models(request=request):
            if _labelled(model, n.name):
                found.append(("model", ResourceRecord("vertex:model", model.name)))
        for function in self.gcp.functions().list_functions(request={"parent": n.parent}):
            if _labelled(function, n.name):
                found.append(("function", ResourceRecord("functions:function", function.name)))
        for bucket in self.gcp.storage().list_buckets():
            if dict(bucket.labels or {}).get(LABEL_KEY) == n.name:
                found.append(("bucket", ResourceRecord("gcs:bucket", bucket.name)))
        found += self._discover_iam()
        return found

    def _discover_iam(self) -> list[tuple[str, ResourceRecord]]:
        """The service account (its address + the description's marker) and its binding on the endpoint."""
        n = self.names
        found: list[tuple[str, ResourceRecord]] = []
        accounts = self.gcp.iam().list_service_accounts(request={"name": f"projects/{n.project}"})
        for account in accounts:
            if iam.is_ours(account, n.name, n.service_account):
                attrs = {"unique_id": account.unique_id, "ours": True}
                found.append(("service-account", ResourceRecord("iam:service-account", account.email, attrs)))
        member = f"serviceAccount:{n.service_account}"
        request = {"parent": n.parent, "filter": f'labels.{LABEL_KEY}="{n.name}"'}
        for endpoint in self.gcp.endpoints().list_endpoints(request=request):
            if not _labelled(endpoint, n.name):
                continue
            policy = iam.get_policy(self.gcp.endpoint_iam(), endpoint.name)
            if iam.find_binding(policy, iam.PREDICT_ROLE, member) is not None:
                attrs = {"resource": endpoint.name, "role": iam.PREDICT_ROLE, "member": member}
                rid = f"{endpoint.name}#{iam.PREDICT_ROLE}"
                found.append(("predict-binding", ResourceRecord("iam:binding", rid, attrs)))
        return found


def sort_for_deletion(items: list[tuple[str, ResourceRecord]]) -> list[tuple[str, ResourceRecord]]:
    return sorted(items, key=lambda kv: RANK.get(kv[1].kind, 99))
