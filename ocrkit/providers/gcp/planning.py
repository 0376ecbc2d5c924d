"""What every GCP family module shares: names, the desired state (computed locally), the plan context
(describe calls only) and the cloud access used by delete / describe / discover, plus the long-running
operation wait and the upload helpers.

Values one family's plan reads that a later one needs (the endpoint found, the function found) sit in
`Observed`; the id each wanted resource will have (the sweeper's input) in `GcpPlanContext.wanted`.
"""

from __future__ import annotations

import hashlib
import json
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ocrkit.deploy.artifact import BuiltArchive
from ocrkit.deploy.records import Events, ResourceRecord, StateLike
from ocrkit.deploy.serving import ServingOption
from ocrkit.errors import OcrkitError
from ocrkit.providers.gcp.function_serving import MODEL_ZIP, function_environment
from ocrkit.providers.gcp.package import MAR_NAME
from ocrkit.providers.gcp.serving import VertexShape, vertex_shape
from ocrkit.providers.gcp.session import GcpSession
from ocrkit.providers.gcp.spec import LABEL_KEY, GcpDeploySpec, gateway_environment

ARTIFACT_LABEL = "ocrkit-artifact"
SOURCE_LABEL = "ocrkit-source"
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

    # -- the bucket trigger (`--trigger gcs`) --------------------------------------------------------

    @property
    def input_bucket(self) -> str:
        """The trigger's own bucket (user uploads and results), apart from the model-artifact bucket."""
        return f"{self.name}-in-{self.project}"[:63].rstrip("-")

    @property
    def trigger_function_id(self) -> str:
        return f"{self.name}-trigger"

    @property
    def trigger_function(self) -> str:
        return f"{self.parent}/functions/{self.trigger_function_id}"

    @property
    def trigger_service(self) -> str:
        """The Cloud Run service behind the trigger function (2nd gen), which Eventarc invokes."""
        return f"{self.parent}/services/{self.trigger_function_id}"

    @property
    def trigger_account(self) -> str:
        account = f"{self.name}-trg"[:30].rstrip("-")
        if len(account) < 6:
            account = f"ocrkit-{account}"
        return f"{account}@{self.project}.iam.gserviceaccount.com"

    @property
    def dead_letter_topic(self) -> str:
        return f"projects/{self.project}/topics/{self.name}-dead-letter"


def get_request(resource: str) -> Any:
    from google.iam.v1 import iam_policy_pb2

    return iam_policy_pb2.GetIamPolicyRequest(resource=resource)


def artifact_object(sha: str, file: str = MAR_NAME) -> str:
    return f"models/{sha[:12]}/{file}"


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
    trigger_source: BuiltArchive | None = None  # --trigger gcs: the trigger function's source

    @property
    def triggered(self) -> bool:
        return self.spec.trigger.enabled and self.trigger_source is not None

    @property
    def sha12(self) -> str:
        return self.artifact.sha256[:12]

    @property
    def artifact_uri(self) -> str:
        return f"gs://{self.names.bucket}/models/{self.sha12}/"

    @property
    def holds_model(self) -> bool:
        """serving: function -- the function runs the ONNX model itself; no Vertex AI resource at all."""
        return self.spec.serving is ServingOption.function

    @property
    def artifact_file(self) -> str:
        return MODEL_ZIP if self.holds_model else MAR_NAME

    @property
    def artifact_name(self) -> str:
        return artifact_object(self.artifact.sha256, self.artifact_file)

    @property
    def model_uri(self) -> str:
        """gs:// of the model object the function reads (serving: function)."""
        return f"gs://{self.names.bucket}/{self.artifact_name}"

    @property
    def function_memory(self) -> str:
        return self.spec.function.memory_for(self.spec.serving)

    def function_settings(self, endpoint: str | None) -> dict[str, Any]:
        """What the function runs with; `endpoint`: the Vertex endpoint it calls (None: holds the model)."""
        fn = self.spec.function
        if self.holds_model:
            environment = function_environment(self.spec, self.model_uri, self.artifact.sha256)
        else:
            environment = gateway_environment(self.spec, endpoint or "")
        return {
            "runtime": fn.runtime,
            "memory": self.function_memory,
            "timeout_s": fn.timeout_s,
            "max_instances": fn.max_instances,
            "min_instances": fn.min_instances,
            "service_account": self.names.service_account,
            "public": fn.public,
            "environment": environment,
            "source_sha256": self.source.sha256,
        }

    @property
    def shape(self) -> VertexShape:
        """What the serving option runs: machine type, accelerator, image."""
        return vertex_shape(self.spec)

    def deploy_settings(self) -> dict[str, Any]:
        vx, shape = self.spec.vertex, self.shape
        return {
            "machine_type": shape.machine_type,
            "accelerator_type": shape.accelerator_type,
            "accelerator_count": shape.accelerator_count if shape.accelerator_type else 0,
            "min_replicas": vx.min_replicas,
            "max_replicas": vx.max_replicas,
        }


def settings_hash(settings: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def labelled(resource: Any, name: str) -> bool:
    return dict(getattr(resource, "labels", {}) or {}).get(LABEL_KEY) == name


class UploadProgress:
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


@dataclass
class Observed:
    """What earlier plan functions read that later ones use (planned in dependency order)."""

    endpoint: Any = None  # the Vertex endpoint found (None: it will be created)
    function: Any = None  # the Cloud Function found
    trigger_function: Any = None  # the trigger's Cloud Function found


@dataclass
class GcpPlanContext:
    gcp: GcpSession
    d: Desired
    state: StateLike | None
    options: Options
    warnings: list[str] = field(default_factory=list)
    wanted: dict[str, str | None] = field(default_factory=dict)  # key -> id it will have (None: any)
    seen: Observed = field(default_factory=Observed)

    @property
    def names(self) -> Names:
        return self.d.names

    def record(self, key: str) -> ResourceRecord | None:
        return self.state.resources.get(key) if self.state is not None else None


@dataclass
class GcpAccess:
    """What delete / describe / discover read: the session and the deployment's names, plus waits."""

    gcp: GcpSession
    names: Names
    options: Options = field(default_factory=lambda: Options())
    notes: list[str] = field(default_factory=list)
