"""The AWS deploy config (`configs/deploy/aws.yaml`): the report's architecture, with its settings as data.

`load_aws_spec` validates the file, applies command-line overrides, then checks what pydantic cannot see:
the request-size limits of each hop (API Gateway 10 MB, Lambda 6 MB after base64, SageMaker 6 MB), the
timeout order (API Gateway > Lambda > SageMaker invocation, at most 60 s), and that the numbers agree with
each other. Every problem is a ConfigError that names the file and the field.
"""

from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ocrkit.batch.trigger import TriggerRule
from ocrkit.deploy.hops import Hop, Timeout, check_image_fits, tightest, timeout_problem
from ocrkit.deploy.serving import DEFAULT_SERVING, ServingOption
from ocrkit.deploy.spec import DeploySpecBase, LoadedSpec, load_spec
from ocrkit.errors import ConfigError
from ocrkit.gateway.limits import MiB

# Platform limits (AWS documentation; hard limits, not quotas).
APIGW_MAX_BODY = 10 * MiB  # HTTP API payload size
APIGW_MAX_TIMEOUT_S = 30  # HTTP API integration timeout
LAMBDA_MAX_PAYLOAD = 6 * MiB  # synchronous invocation request payload
LAMBDA_EVENT_OVERHEAD = 16 * 1024  # the event JSON around the body: headers, request context
SAGEMAKER_MAX_PAYLOAD = 6 * MiB  # real-time endpoint request payload
SAGEMAKER_MAX_TIMEOUT_S = 60  # real-time endpoint invocation
# Lambda memory defaults: a gateway waiting on an endpoint needs little; a function running the ONNX engine
# gets 2048 MB (1.16 vCPU by Lambda's 1,769 MB per vCPU; the measured peak RSS is in the README).
GATEWAY_MEMORY_MB = 256
FUNCTION_MEMORY_MB = 2048

# SageMaker Serverless Inference (docs.aws.amazon.com/sagemaker/latest/dg/serverless-endpoints-invoke.html,
# read 2026-12-02): "The maximum request and response payload size for serverless invocations is 4 MB";
# the container answers /invocations within 1 minute and /ping within 3 minutes of starting. "MB" is read
# as MiB here, as for the other hops. Memory and concurrency ranges: API_ProductionVariantServerlessConfig.
SERVERLESS_MAX_PAYLOAD = 4 * MiB
SERVERLESS_MAX_TIMEOUT_S = 60
SERVERLESS_MEMORY_MB = (1024, 2048, 3072, 4096, 5120, 6144)  # 1 GB steps, 1024-6144
SERVERLESS_MAX_CONCURRENCY = 200  # MaxConcurrency and ProvisionedConcurrency: 1-200
REGION_RE = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$")

PositiveInt = Annotated[int, Field(ge=1)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class BucketSpec(_Strict):
    encryption: Literal["sse-s3", "aws:kms"] = "sse-s3"
    kms_key_arn: str | None = None  # required with aws:kms
    noncurrent_version_expiry_days: PositiveInt | None = 30  # old artifact versions expire (None: keep)


class VpcSpec(_Strict):
    subnet_ids: list[str] = Field(min_length=1)
    security_group_ids: list[str] = Field(min_length=1)


class AutoscalingSpec(_Strict):
    enabled: bool = True
    min_instances: PositiveInt = 1
    max_instances: PositiveInt = 2
    target_invocations_per_instance: PositiveInt = 100  # per minute, SageMakerVariantInvocationsPerInstance
    scale_in_cooldown_s: Annotated[int, Field(ge=0)] = 300
    scale_out_cooldown_s: Annotated[int, Field(ge=0)] = 60


class ServerlessSpec(_Strict):
    """`--serving serverless-endpoint`: SageMaker Serverless Inference (ranges checked in check_aws_spec)."""

    memory_mb: int = 3072  # 1024-6144 in steps of 1024; vCPU grows with memory
    max_concurrency: int = 5  # 1-200 concurrent invocations (the account's quota may be lower)
    provisioned_concurrency: int | None = None  # warm instances (1..max_concurrency), billed every hour


class SageMakerSpec(_Strict):
    instance_type: str = Field("ml.g4dn.xlarge", pattern=r"^ml\.[a-z0-9]+\.[a-z0-9]+$")
    instance_count: PositiveInt = 1
    image_uri: str | None = None  # full override of the inference image
    image_registry_account: str = Field("763104351884", pattern=r"^\d{12}$")  # AWS Deep Learning Containers
    image_repository: str = "pytorch-inference"
    framework_version: str = "2.3.0"
    python_version: str = "py311"
    processor: Literal["gpu", "cpu"] = "gpu"
    invocation_timeout_s: PositiveInt = 25  # what the Lambda waits for the endpoint
    startup_health_check_timeout_s: Annotated[int, Field(ge=60, le=3600)] = 600
    model_data_download_timeout_s: Annotated[int, Field(ge=60, le=3600)] = 600
    environment: dict[str, str] = {}
    autoscaling: AutoscalingSpec = AutoscalingSpec()
    # `--serving cpu-endpoint`: the instance used when instance_type names a GPU (ml.g*, ml.p*, ml.inf*...)
    cpu_instance_type: str = Field("ml.m5.large", pattern=r"^ml\.[a-z0-9]+\.[a-z0-9]+$")
    serverless: ServerlessSpec = ServerlessSpec()
    vpc: VpcSpec | None = None
    log_retention_days: PositiveInt = 30

    def image(self, region: str, processor: str | None = None) -> str:
        """The inference image; `processor` (the serving option's) overrides the config's."""
        if self.image_uri:
            return self.image_uri
        suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
        return (
            f"{self.image_registry_account}.dkr.ecr.{region}.{suffix}/{self.image_repository}:"
            f"{self.framework_version}-{processor or self.processor}-{self.python_version}"
        )


class LambdaSpec(_Strict):
    runtime: Literal["python3.11", "python3.12", "python3.13"] = "python3.12"
    architecture: Literal["x86_64", "arm64"] = "x86_64"
    # None: 256 MB for the gateway in front of an endpoint, 2048 MB when the function holds the model
    memory_mb: Annotated[int, Field(ge=128, le=10240)] | None = None
    timeout_s: Annotated[int, Field(ge=1, le=900)] = 29
    reserved_concurrency: Annotated[int, Field(ge=0)] | None = None  # None: use the account's pool
    provisioned_concurrency: Annotated[int, Field(ge=0)] = 0  # warm instances, billed every hour
    log_retention_days: PositiveInt = 30
    vpc: VpcSpec | None = None
    url_input: bool = True  # accept {"url": ...} inputs (the Lambda fetches them)

    def memory_for(self, serving: ServingOption) -> int:
        """The memory the function gets: memory_mb, else the default for what the function does."""
        if self.memory_mb is not None:
            return self.memory_mb
        return FUNCTION_MEMORY_MB if serving == ServingOption.function else GATEWAY_MEMORY_MB


class CorsSpec(_Strict):
    allow_origins: list[str] = ["*"]
    allow_methods: list[str] = ["POST", "OPTIONS"]
    allow_headers: list[str] = ["content-type", "authorization", "x-amz-date", "x-amz-security-token"]
    max_age_s: Annotated[int, Field(ge=0, le=86400)] = 300


class ApiSpec(_Strict):
    auth: Literal["none", "iam"] = "none"
    throttling_rate_limit: Annotated[float, Field(gt=0)] = 10.0  # steady requests per second
    throttling_burst_limit: Annotated[int, Field(ge=1)] = 20
    integration_timeout_s: Annotated[int, Field(ge=1, le=APIGW_MAX_TIMEOUT_S)] = APIGW_MAX_TIMEOUT_S
    cors: CorsSpec | None = None
    access_log_retention_days: PositiveInt = 30


class LimitsSpec(_Strict):
    max_image_bytes: PositiveInt = 4 * MiB
    max_batch: Annotated[int, Field(ge=1, le=64)] = 8


class UsageSpec(_Strict):
    """Expected traffic, for the cost shown before deploying (nothing is enforced from it)."""

    requests_per_month: Annotated[int, Field(ge=0)] = 1_000_000
    avg_duration_ms: Annotated[int, Field(ge=0)] = 400  # one Lambda invocation, waiting on the endpoint
    avg_request_kb: Annotated[float, Field(ge=0)] = 90  # one PNG crop
    avg_response_kb: Annotated[float, Field(ge=0)] = 1
    # for the serving options' comparison in the plan (the serving-costs engine's traffic)
    p95_ms: Annotated[int, Field(ge=1, le=900_000)] = 2000  # latency target
    peak_to_average: Annotated[float, Field(ge=1, le=10_000)] = 5  # busiest hour vs the average
    model: Literal["report", "demo"] = "report"  # whose speed profiles price the options


class TriggerSpec(_Strict):
    """`--trigger s3`: a dedicated input bucket whose object-created events (under `input_prefix`, with one
    of `suffixes`) run a trigger Lambda that writes `<output_prefix><name>.txt/.json`; a failed image is
    retried `max_retry_attempts` times, then its event goes to an SQS dead-letter queue (and an
    `<error_prefix><name>.json` record is written)."""

    enabled: bool = False
    input_prefix: str = "incoming/"
    output_prefix: str = "results/"
    error_prefix: str = "errors/"
    suffixes: list[str] = [".png", ".jpg", ".jpeg"]
    max_retry_attempts: Annotated[int, Field(ge=0, le=2)] = 2  # Lambda's asynchronous retries (0-2)
    max_event_age_s: Annotated[int, Field(ge=60, le=21600)] = 21600  # then the event is dead-lettered
    memory_mb: Annotated[int, Field(ge=128, le=10240)] | None = None  # None: as lambda.memory_mb would be
    timeout_s: Annotated[int, Field(ge=1, le=900)] = 120
    reserved_concurrency: Annotated[int, Field(ge=1)] | None = None  # caps parallel images (None: pool)
    log_retention_days: PositiveInt = 30
    dlq_retention_days: Annotated[int, Field(ge=1, le=14)] = 14  # SQS keeps a message 14 days at most

    def rule(self) -> TriggerRule:
        """The shared trigger rule (prefixes disjoint, suffixes like '.png'); a ConfigError otherwise."""
        return TriggerRule(self.input_prefix, self.output_prefix, self.error_prefix, tuple(self.suffixes))


class AwsDeploySpec(DeploySpecBase):
    path_fields = ("weights",)

    region: str | None = None  # None: AWS_REGION / AWS_DEFAULT_REGION / the profile's region
    profile: str | None = None  # None: AWS_PROFILE / the default credential chain
    serving: ServingOption = DEFAULT_SERVING  # which architecture serves the model (--serving)
    weights: str | None = None  # model checkpoint (.pt); else --weights, $OCRKIT_WEIGHTS, the demo checkpoint
    bucket: BucketSpec = BucketSpec()
    sagemaker: SageMakerSpec = SageMakerSpec()
    lambda_: LambdaSpec = Field(LambdaSpec(), alias="lambda")
    api: ApiSpec = ApiSpec()
    limits: LimitsSpec = LimitsSpec()
    usage: UsageSpec = UsageSpec()
    trigger: TriggerSpec = TriggerSpec()


def request_hops(serving: ServingOption = DEFAULT_SERVING) -> list[Hop]:
    endpoint = (
        Hop("SageMaker Serverless Inference", SERVERLESS_MAX_PAYLOAD)
        if serving == ServingOption.serverless_endpoint
        else Hop("SageMaker real-time endpoint", SAGEMAKER_MAX_PAYLOAD)
    )
    return [
        Hop("API Gateway (HTTP API)", APIGW_MAX_BODY),
        Hop("Lambda (synchronous invoke)", LAMBDA_MAX_PAYLOAD, Fraction(4, 3), LAMBDA_EVENT_OVERHEAD),
        endpoint,
    ]


def max_request_bytes(serving: ServingOption = DEFAULT_SERVING) -> int:
    """The largest raw request body every hop carries (Lambda's, once API Gateway base64-encodes it; a
    serverless endpoint's 4 MB when it is the tighter)."""
    return tightest(request_hops(serving)).max_raw_bytes


def backend_timeout_s(spec: AwsDeploySpec) -> int:
    """The gateway's deadline in the Lambda: the endpoint's, and always before the Lambda is stopped."""
    return min(spec.sagemaker.invocation_timeout_s, spec.lambda_.timeout_s - 1)


def gateway_environment(spec: AwsDeploySpec, endpoint_name: str) -> dict[str, str]:
    """The Lambda's environment: which endpoint to call and the gateway limits from the tightest hop."""
    return {
        "OCRKIT_ENDPOINT_NAME": endpoint_name,
        "OCRKIT_MAX_REQUEST_BYTES": str(max_request_bytes(spec.serving)),
        "OCRKIT_MAX_IMAGE_BYTES": str(spec.limits.max_image_bytes),
        "OCRKIT_MAX_BATCH": str(spec.limits.max_batch),
        "OCRKIT_BACKEND_TIMEOUT_S": str(backend_timeout_s(spec)),
        "OCRKIT_URL_INPUT": "true" if spec.lambda_.url_input else "false",
    }


DEFAULT_FORWARD_BATCH = 32  # the container's OCRKIT_BATCH_SIZE default (images per forward pass)


def function_environment(spec: AwsDeploySpec, model_uri: str, model_sha256: str) -> dict[str, str]:
    """The model function's environment: where its model is, the gateway limits, the engine's threads."""
    vcpus = spec.lambda_.memory_for(spec.serving) / 1769  # Lambda: 1,769 MB = 1 vCPU
    return {
        "OCRKIT_MODEL_URI": model_uri,
        "OCRKIT_MODEL_SHA256": model_sha256,
        "OCRKIT_ONNX_THREADS": str(max(1, round(vcpus))),
        "OCRKIT_MAX_REQUEST_BYTES": str(max_request_bytes()),
        "OCRKIT_MAX_IMAGE_BYTES": str(spec.limits.max_image_bytes),
        "OCRKIT_MAX_BATCH": str(spec.limits.max_batch),
        "OCRKIT_BACKEND_TIMEOUT_S": str(spec.lambda_.timeout_s - 1),
        "OCRKIT_URL_INPUT": "true" if spec.lambda_.url_input else "false",
    }


def trigger_environment(spec: AwsDeploySpec, base: dict[str, str], rule: TriggerRule) -> dict[str, str]:
    """The trigger Lambda's environment: the main function's (which endpoint or model, the limits) with the
    trigger's rule and a backend deadline inside the trigger's own timeout."""
    env = {k: v for k, v in base.items() if k not in ("OCRKIT_URL_INPUT", "OCRKIT_MAX_REQUEST_BYTES")}
    deadline = spec.trigger.timeout_s - 1
    if spec.serving != ServingOption.function:
        deadline = min(spec.sagemaker.invocation_timeout_s, deadline)
    env["OCRKIT_BACKEND_TIMEOUT_S"] = str(max(1, deadline))
    env.update(rule.to_env())
    return env


def model_environment(spec: AwsDeploySpec, processor: str | None = None) -> dict[str, str]:
    """The SageMaker container's environment: ocrkit's settings and the serving toolkit's timeout
    (`processor`: the serving option's, when it overrides the config's)."""
    processor = processor or spec.sagemaker.processor
    env = {
        "SAGEMAKER_PROGRAM": "inference.py",
        "SAGEMAKER_MODEL_SERVER_TIMEOUT": str(spec.sagemaker.invocation_timeout_s),
        "OCRKIT_MAX_IMAGE_BYTES": str(spec.limits.max_image_bytes),
        "OCRKIT_MAX_BATCH": str(spec.limits.max_batch),
        # every image of one invocation (the gateway sends up to max_batch) in one forward pass
        "OCRKIT_BATCH_SIZE": str(max(DEFAULT_FORWARD_BATCH, spec.limits.max_batch)),
        "OCRKIT_DEVICE": "cuda" if processor == "gpu" else "cpu",
    }
    env.update(spec.sagemaker.environment)
    return env


def check_aws_spec(spec: AwsDeploySpec, path: Path | str) -> None:
    """The checks across fields that pydantic cannot make; raises ConfigError naming the field."""
    sm, fn, api, lim = spec.sagemaker, spec.lambda_, spec.api, spec.limits
    if spec.region is not None and not REGION_RE.match(spec.region):
        raise ConfigError(path, "region", f"'{spec.region}' is not an AWS region name (e.g. us-east-1)")

    # sizes: the image must fit every hop
    check_image_fits(lim.max_image_bytes, request_hops(spec.serving), path, "limits.max_image_bytes")
    if spec.serving == ServingOption.serverless_endpoint:
        check_serverless(sm.serverless, path)

    # timeouts: each hop answers before the one in front of it gives up
    if sm.invocation_timeout_s > SAGEMAKER_MAX_TIMEOUT_S:
        raise ConfigError(
            path,
            "sagemaker.invocation_timeout_s",
            f"{sm.invocation_timeout_s} s is over SageMaker's {SAGEMAKER_MAX_TIMEOUT_S} s invocation limit",
        )
    problem = timeout_problem(
        [
            Timeout("api.integration_timeout_s", "API Gateway integration", api.integration_timeout_s),
            Timeout("lambda.timeout_s", "Lambda", fn.timeout_s),
            Timeout("sagemaker.invocation_timeout_s", "SageMaker invocation", sm.invocation_timeout_s),
        ]
    )
    if problem:
        raise ConfigError(path, problem[0], problem[1])

    # scaling and concurrency agree with each other
    auto = sm.autoscaling
    if auto.enabled:
        if auto.min_instances > auto.max_instances:
            raise ConfigError(
                path,
                "sagemaker.autoscaling.min_instances",
                f"{auto.min_instances} is more than max_instances ({auto.max_instances})",
            )
        if not auto.min_instances <= sm.instance_count <= auto.max_instances:
            raise ConfigError(
                path,
                "sagemaker.instance_count",
                f"{sm.instance_count} is outside autoscaling's {auto.min_instances}-{auto.max_instances}",
            )
    if fn.reserved_concurrency is not None and fn.provisioned_concurrency > fn.reserved_concurrency:
        raise ConfigError(
            path,
            "lambda.provisioned_concurrency",
            f"{fn.provisioned_concurrency} is more than lambda.reserved_concurrency "
            f"({fn.reserved_concurrency})",
        )
    if fn.reserved_concurrency == 0:
        raise ConfigError(
            path, "lambda.reserved_concurrency", "0 would stop the function from running at all"
        )
    if spec.bucket.encryption == "aws:kms" and not spec.bucket.kms_key_arn:
        raise ConfigError(path, "bucket.kms_key_arn", "required when bucket.encryption is aws:kms")
    if spec.bucket.kms_key_arn and not spec.bucket.kms_key_arn.startswith("arn:"):
        raise ConfigError(path, "bucket.kms_key_arn", "must be a KMS key ARN (arn:aws:kms:...:key/...)")
    if api.cors is not None and api.cors.allow_origins == []:
        raise ConfigError(path, "api.cors.allow_origins", "list at least one origin, or remove api.cors")
    if spec.trigger.enabled:
        check_trigger(spec, path)


def check_trigger(spec: AwsDeploySpec, path: Path | str) -> None:
    """The trigger's rule (disjoint prefixes, image suffixes) and a timeout that outlasts the endpoint's."""
    try:
        spec.trigger.rule()
    except ConfigError as exc:
        raise ConfigError(path, f"trigger.{exc.field}", exc.problem) from None
    if (
        spec.serving != ServingOption.function
        and spec.trigger.timeout_s <= spec.sagemaker.invocation_timeout_s
    ):
        raise ConfigError(
            path,
            "trigger.timeout_s",
            f"{spec.trigger.timeout_s} s must be more than sagemaker.invocation_timeout_s "
            f"({spec.sagemaker.invocation_timeout_s} s): the function waits on the endpoint",
        )


def check_serverless(sv: ServerlessSpec, path: Path | str) -> None:
    """Serverless Inference's documented ranges (API_ProductionVariantServerlessConfig)."""
    if sv.memory_mb not in SERVERLESS_MEMORY_MB:
        raise ConfigError(
            path,
            "sagemaker.serverless.memory_mb",
            f"{sv.memory_mb} is not a Serverless Inference memory size "
            f"(one of {', '.join(str(m) for m in SERVERLESS_MEMORY_MB)} MB)",
        )
    if not 1 <= sv.max_concurrency <= SERVERLESS_MAX_CONCURRENCY:
        raise ConfigError(
            path,
            "sagemaker.serverless.max_concurrency",
            f"{sv.max_concurrency} is outside Serverless Inference's 1-{SERVERLESS_MAX_CONCURRENCY}",
        )
    pc = sv.provisioned_concurrency
    if pc is not None and not 1 <= pc <= sv.max_concurrency:
        raise ConfigError(
            path,
            "sagemaker.serverless.provisioned_concurrency",
            f"{pc} must be 1-{sv.max_concurrency} (at most max_concurrency), or null for none",
        )


def load_aws_spec(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> LoadedSpec:
    loaded = load_spec(AwsDeploySpec, "aws", path, overrides)
    check_aws_spec(loaded.spec, loaded.path)
    return loaded
