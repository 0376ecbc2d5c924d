"""The GCP deploy config (`configs/deploy/gcp.yaml`): Cloud Storage + Vertex AI endpoint + Cloud Function.

`load_gcp_spec` validates the file, applies command-line overrides (`--project`, `--region`, `--name`,
`--weights`, `--public`), then checks what pydantic cannot see, before anything is created:

- sizes: an image must fit every hop. The Cloud Function (2nd gen) accepts 32 MiB per HTTP request; a
  Vertex AI online prediction request is at most 1.5 MB of JSON, and the image travels in it base64-encoded
  (x4/3) inside `{"instances": [{"b64": "..."}]}`, so one image can be at most about 1.1 MiB raw;
- timeouts: the function's timeout must be longer than the time it waits for the endpoint, which Vertex
  itself caps (online prediction answers within 600 s; ocrkit keeps the gateway's deadline at 60 s or less).

Every problem is a ConfigError that names the file and the field.
"""

from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ocrkit.batch.trigger import IMAGE_SUFFIXES, TriggerRule
from ocrkit.deploy.hops import Hop, Timeout, check_image_fits, tightest, timeout_problem
from ocrkit.deploy.serving import DEFAULT_SERVING, OFFERED, ServingOption
from ocrkit.deploy.spec import DeploySpecBase, LoadedSpec, load_spec
from ocrkit.errors import ConfigError
from ocrkit.gateway.limits import MiB

# Platform limits (Google Cloud documentation; hard limits, not quotas).
FUNCTION_MAX_REQUEST = 32 * MiB  # Cloud Functions 2nd gen (Cloud Run) HTTP request size
FUNCTION_MAX_TIMEOUT_S = 3600  # 2nd gen HTTP functions
FUNCTION_MAX_EVENT_TIMEOUT_S = 540  # 2nd gen event-driven functions (9 minutes)
FUNCTION_MIN_MEMORY_MB, FUNCTION_MAX_MEMORY_MB = 128, 32 * 1024  # 2nd gen memory tiers
VERTEX_MAX_REQUEST = 1572864  # 1.5 MB: Vertex AI online prediction request (JSON) for custom models
VERTEX_ENVELOPE = 1024  # {"instances": [{"b64": ""}], "parameters": {...}} around the base64 text
VERTEX_MAX_TIMEOUT_S = 60  # what the gateway waits for :predict at most
LABEL_KEY = "ocrkit-deployment"
PROJECT_RE = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
REGION_RE = re.compile(r"^[a-z]+-[a-z]+\d+$")
MEMORY_RE = re.compile(r"^\d+(Mi|Gi|M|G)$")
# The Vertex AI prebuilt PyTorch prediction container (TorchServe inside); see
# https://cloud.google.com/vertex-ai/docs/predictions/pre-built-containers
DEFAULT_IMAGE = "us-docker.pkg.dev/vertex-ai/prediction/pytorch-gpu.2-4:latest"
DEFAULT_CPU_IMAGE = "us-docker.pkg.dev/vertex-ai/prediction/pytorch-cpu.2-4:latest"  # --serving cpu-endpoint

PositiveInt = Annotated[int, Field(ge=1)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class BucketSpec(_Strict):
    location: str | None = None  # default: the deployment's region
    kms_key: str | None = None  # CMEK: projects/P/locations/L/keyRings/R/cryptoKeys/K
    versioning: bool = True
    noncurrent_version_expiry_days: PositiveInt | None = 30  # old artifact versions are removed


class VertexSpec(_Strict):
    serving: Literal["prebuilt-pytorch"] = (
        "prebuilt-pytorch"  # TorchServe archive (.mar) in the prebuilt image
    )
    image_uri: str = DEFAULT_IMAGE
    machine_type: str = Field("n1-standard-4", pattern=r"^[a-z0-9]+-[a-z0-9]+-\d+$")
    accelerator_type: str | None = "NVIDIA_TESLA_T4"  # None: CPU only
    accelerator_count: PositiveInt = 1
    min_replicas: PositiveInt = 1
    max_replicas: PositiveInt = 2
    predict_timeout_s: PositiveInt = 25  # what the function waits for :predict
    # TorchServe's request batching (the archive's model-config.yaml): up to batch_size :predict requests
    # that arrive within max_batch_delay_ms of each other go through the model as one batch
    batch_size: Annotated[int, Field(ge=1, le=64)] = 8
    max_batch_delay_ms: Annotated[int, Field(ge=0, le=10_000)] = 10
    # `--serving cpu-endpoint`: the machine type and image used when the config names an accelerator
    cpu_machine_type: str = Field("n1-standard-2", pattern=r"^[a-z0-9]+-[a-z0-9]+-\d+$")
    cpu_image_uri: str = DEFAULT_CPU_IMAGE
    environment: dict[str, str] = {}  # extra container variables, e.g. {OCRKIT_QUANTIZE: int8}


class FunctionSpec(_Strict):
    runtime: Literal["python311", "python312", "python313"] = "python312"
    memory: str = "512Mi"  # the gateway in front of an endpoint
    model_memory: str = "2Gi"  # serving: function -- the function holds the ONNX model (2Gi: 1 vCPU)
    timeout_s: Annotated[int, Field(ge=1, le=FUNCTION_MAX_TIMEOUT_S)] = 30
    max_instances: PositiveInt = 10
    min_instances: Annotated[int, Field(ge=0)] = 0
    public: bool = False  # true: anyone with the URL may call it (allUsers get roles/run.invoker)
    url_input: bool = True  # accept {"url": "https://..."} bodies (the function fetches the image)

    @property
    def memory_mb(self) -> int:
        return size_mb(self.memory)

    def memory_for(self, serving: ServingOption) -> str:
        """The function's memory: `model_memory` when it holds the model, else `memory`."""
        return self.model_memory if serving is ServingOption.function else self.memory


def size_mb(memory: str) -> int:
    number = int(re.sub(r"\D", "", memory))
    unit = memory[len(str(number)) :]
    factor = {"Mi": 1, "M": 1, "Gi": 1024, "G": 1000}[unit]
    return number * factor


class LimitsSpec(_Strict):
    max_image_bytes: PositiveInt = 1 * MiB
    max_batch: Annotated[int, Field(ge=1, le=64)] = 8


class UsageSpec(_Strict):
    """Expected traffic, for the cost shown before deploying (nothing is enforced from it)."""

    requests_per_month: Annotated[int, Field(ge=0)] = 1_000_000
    avg_duration_ms: Annotated[int, Field(ge=0)] = 400
    avg_request_kb: Annotated[float, Field(ge=0)] = 90
    avg_response_kb: Annotated[float, Field(ge=0)] = 1
    # for the serving options' comparison in the plan (the serving-costs engine's traffic)
    p95_ms: Annotated[int, Field(ge=1, le=900_000)] = 2000  # latency target
    peak_to_average: Annotated[float, Field(ge=1, le=10_000)] = 5  # busiest hour vs the average
    model: Literal["report", "demo"] = "report"  # whose speed profiles price the options


class TriggerSpec(_Strict):
    """`--trigger gcs`: a dedicated input bucket whose object-finalized events run a second Cloud Function
    (ocrkit.providers.gcp.trigger*). Off unless `enabled` (the CLI's --trigger gcs sets it)."""

    enabled: bool = False
    input_prefix: str = "incoming/"  # uploads here run the model
    output_prefix: str = "results/"  # <rel>.txt and <rel>.json land here (never retriggers: disjoint)
    error_prefix: str = "errors/"  # <rel>.json for a failed image (and a dead-letter message)
    suffixes: tuple[str, ...] = IMAGE_SUFFIXES
    retry: bool = True  # RETRY_POLICY_RETRY: a raised error is retried (ocrkit raises only when the
    #                     dead-letter publish itself failed); false: RETRY_POLICY_DO_NOT_RETRY
    memory: str | None = None  # default: function.model_memory (serving: function) or function.memory
    timeout_s: Annotated[int, Field(ge=1, le=FUNCTION_MAX_EVENT_TIMEOUT_S)] = 120
    max_instances: PositiveInt = 10
    trigger_region: str | None = None  # Eventarc trigger's region; default: the bucket's (the region)

    def memory_for(self, function: FunctionSpec, serving: ServingOption) -> str:
        """The trigger function's memory: `memory`, else what the serving option's function gets."""
        return self.memory or function.memory_for(serving)

    def rule(self, path: Path | str = "<config>") -> TriggerRule:
        """The rule the function applies, checked (prefixes disjoint, suffixes) with the config's path."""
        try:
            return TriggerRule(self.input_prefix, self.output_prefix, self.error_prefix, self.suffixes)
        except ConfigError as exc:
            raise ConfigError(path, f"trigger.{exc.field}", exc.problem) from None


class GcpDeploySpec(DeploySpecBase):
    path_fields = ("weights",)

    project: str | None = None  # None: --project, GOOGLE_CLOUD_PROJECT, then Application Default Credentials
    region: str = "us-east4"
    serving: ServingOption = DEFAULT_SERVING  # which architecture serves the model (--serving)
    weights: str | None = None
    bucket: BucketSpec = BucketSpec()
    vertex: VertexSpec = VertexSpec()
    function: FunctionSpec = FunctionSpec()
    limits: LimitsSpec = LimitsSpec()
    usage: UsageSpec = UsageSpec()
    trigger: TriggerSpec = TriggerSpec()


def request_hops() -> list[Hop]:
    return [
        Hop("Cloud Function (2nd gen) HTTP request", FUNCTION_MAX_REQUEST),
        Hop("Vertex AI online prediction (JSON)", VERTEX_MAX_REQUEST, Fraction(4, 3), VERTEX_ENVELOPE),
    ]


def max_image_bytes_allowed() -> int:
    return tightest(request_hops()).max_raw_bytes


def backend_timeout_s(spec: GcpDeploySpec) -> int:
    """The gateway's deadline in the function: the endpoint's, and always before the function is stopped."""
    return min(spec.vertex.predict_timeout_s, spec.function.timeout_s - 1)


def gateway_environment(spec: GcpDeploySpec, endpoint_name: str) -> dict[str, str]:
    """The function's environment: the endpoint to call and the gateway limits from the tightest hop."""
    return {
        "OCRKIT_VERTEX_ENDPOINT_NAME": endpoint_name,
        "OCRKIT_GCP_REGION": spec.region,
        "OCRKIT_MAX_REQUEST_BYTES": str(FUNCTION_MAX_REQUEST),
        "OCRKIT_MAX_IMAGE_BYTES": str(spec.limits.max_image_bytes),
        "OCRKIT_MAX_BATCH": str(spec.limits.max_batch),
        "OCRKIT_BACKEND_TIMEOUT_S": str(backend_timeout_s(spec)),
        "OCRKIT_URL_INPUT": "true" if spec.function.url_input else "false",
    }


def model_environment(spec: GcpDeploySpec, device: str | None = None) -> dict[str, str]:
    """The container's environment (`device`: the serving option's, when it overrides the config's)."""
    env = {
        "OCRKIT_MAX_IMAGE_BYTES": str(spec.limits.max_image_bytes),
        "OCRKIT_MAX_BATCH": str(spec.limits.max_batch),
        "OCRKIT_DEVICE": device or ("cuda" if spec.vertex.accelerator_type else "cpu"),
    }
    env.update(spec.vertex.environment)
    return env


def check_gcp_spec(spec: GcpDeploySpec, path: Path | str) -> None:
    """The checks across fields that pydantic cannot make; raises ConfigError naming the field."""
    vx, fn, lim = spec.vertex, spec.function, spec.limits
    if spec.project is not None and not PROJECT_RE.match(spec.project):
        raise ConfigError(path, "project", f"'{spec.project}' is not a Google Cloud project id")
    if not REGION_RE.match(spec.region):
        raise ConfigError(path, "region", f"'{spec.region}' is not a Google Cloud region (e.g. us-east4)")
    if spec.serving not in OFFERED["gcp"]:
        offered = ", ".join(o.value for o in OFFERED["gcp"])
        raise ConfigError(path, "serving", f"GCP does not offer {spec.serving.value} (it offers: {offered})")
    check_image_fits(lim.max_image_bytes, request_hops(), path, "limits.max_image_bytes")
    if vx.predict_timeout_s > VERTEX_MAX_TIMEOUT_S:
        raise ConfigError(
            path,
            "vertex.predict_timeout_s",
            f"{vx.predict_timeout_s} s is over the {VERTEX_MAX_TIMEOUT_S} s that the gateway waits at most",
        )
    problem = timeout_problem(
        [
            Timeout("function.timeout_s", "Cloud Function", fn.timeout_s),
            Timeout("vertex.predict_timeout_s", "Vertex AI prediction", vx.predict_timeout_s),
        ]
    )
    if problem:
        raise ConfigError(path, problem[0], problem[1])
    if vx.max_batch_delay_ms >= vx.predict_timeout_s * 1000:
        raise ConfigError(
            path,
            "vertex.max_batch_delay_ms",
            f"{vx.max_batch_delay_ms} ms is not shorter than predict_timeout_s ({vx.predict_timeout_s} s)",
        )
    if vx.min_replicas > vx.max_replicas:
        raise ConfigError(
            path, "vertex.min_replicas", f"{vx.min_replicas} is more than max_replicas ({vx.max_replicas})"
        )
    if fn.min_instances > fn.max_instances:
        raise ConfigError(
            path,
            "function.min_instances",
            f"{fn.min_instances} is more than max_instances ({fn.max_instances})",
        )
    for field, value in (("function.memory", fn.memory), ("function.model_memory", fn.model_memory)):
        if not MEMORY_RE.match(value):
            raise ConfigError(path, field, f"'{value}' is not a size like 512Mi or 1Gi")
        if not FUNCTION_MIN_MEMORY_MB <= size_mb(value) <= FUNCTION_MAX_MEMORY_MB:
            raise ConfigError(
                path,
                field,
                f"{value} is outside what Cloud Functions (2nd gen) offers (128Mi to 32Gi; "
                "https://cloud.google.com/functions/docs/configuring/memory)",
            )
    if spec.trigger.enabled:
        spec.trigger.rule(path)
        memory = spec.trigger.memory
        if memory is not None and (
            not MEMORY_RE.match(memory)
            or not FUNCTION_MIN_MEMORY_MB <= size_mb(memory) <= FUNCTION_MAX_MEMORY_MB
        ):
            raise ConfigError(path, "trigger.memory", f"'{memory}' is not a size from 128Mi to 32Gi")
        if spec.trigger.trigger_region is not None and not REGION_RE.match(spec.trigger.trigger_region):
            raise ConfigError(
                path,
                "trigger.trigger_region",
                f"'{spec.trigger.trigger_region}' is not a Google Cloud region",
            )
    if spec.bucket.kms_key and not spec.bucket.kms_key.startswith("projects/"):
        raise ConfigError(
            path, "bucket.kms_key", "must be a key name: projects/P/locations/L/keyRings/R/cryptoKeys/K"
        )


def load_gcp_spec(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> LoadedSpec:
    loaded = load_spec(GcpDeploySpec, "gcp", path, overrides)
    check_gcp_spec(loaded.spec, loaded.path)
    return loaded
