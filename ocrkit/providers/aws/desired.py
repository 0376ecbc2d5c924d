"""What every AWS resource should look like, computed locally from the spec and the build (no calls).

Names and ids that carry a content digest (the SageMaker model, the endpoint config) change exactly when
what they hold changes, so that the plan can compare ids instead of settings.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, replace
from typing import Any

from ocrkit.batch.trigger import TriggerRule
from ocrkit.deploy.artifact import BuiltArchive
from ocrkit.deploy.serving import ServingOption
from ocrkit.providers.aws import policies
from ocrkit.providers.aws.function_package import FUNCTION_HANDLER
from ocrkit.providers.aws.names import ALIAS, Names
from ocrkit.providers.aws.package import LAMBDA_HANDLER
from ocrkit.providers.aws.serving import EndpointShape, endpoint_shape
from ocrkit.providers.aws.spec import (
    AwsDeploySpec,
    function_environment,
    gateway_environment,
    model_environment,
    trigger_environment,
)

# What `--serving function` leaves out: no SageMaker resource at all.
SAGEMAKER_KEYS = (
    "endpoint_log_group",
    "sagemaker_role",
    "model",
    "endpoint_config",
    "endpoint",
    "autoscaling",
)


def digest(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def lambda_code_sha256(archive: BuiltArchive) -> str:
    """Lambda's CodeSha256: base64 of the zip's sha256 digest."""
    return base64.b64encode(bytes.fromhex(archive.sha256)).decode("ascii")


@dataclass(frozen=True)
class Desired:
    """What every resource should look like, computed locally (no calls)."""

    spec: AwsDeploySpec
    names: Names
    artifact: BuiltArchive
    function_zip: BuiltArchive
    image_uri: str
    model_env: dict[str, str]
    gateway_env: dict[str, str]
    sagemaker_policy: dict[str, Any]
    lambda_policy: dict[str, Any]
    bucket_policy: dict[str, Any]
    model_name: str
    config_name: str
    shape: EndpointShape  # what the serving option runs: instances or Serverless Inference
    handler: str = LAMBDA_HANDLER
    memory_mb: int = 256
    artifact_label: str = "model.tar.gz"  # what the bucket's model object is, in the plan's words
    function_words: str = "gateway"  # the Lambda role's and function's description
    trigger: TriggerRule | None = None  # --trigger s3: the rule (None: no trigger)
    trigger_env: dict[str, str] | None = None
    trigger_policy: dict[str, Any] | None = None

    @property
    def model_function(self) -> bool:
        """`--serving function`: the Lambda holds the ONNX engine and the model; no endpoint."""
        return self.spec.serving == ServingOption.function

    @property
    def artifact_key(self) -> str:
        if self.model_function:
            return function_model_key(self.names, self.artifact.sha256)
        return self.names.artifact_key(self.artifact.sha256)

    @property
    def code_sha256(self) -> str:
        return lambda_code_sha256(self.function_zip)

    def wanted(self) -> dict[str, str | None]:
        """Each wanted state key and the id it will have (None: any)."""
        n = self.names
        out: dict[str, str | None] = {
            "bucket": n.bucket,
            "artifact": self.artifact_key,
            "bucket_policy": n.bucket,
            "endpoint_log_group": n.endpoint_log_group,
            "lambda_log_group": n.lambda_log_group,
            "api_log_group": n.api_log_group,
            "sagemaker_role": n.sagemaker_role,
            "model": self.model_name,
            "endpoint_config": self.config_name,
            "endpoint": n.endpoint,
            "lambda_role": n.lambda_role,
            "function": n.function,
            "function_alias": f"{n.function}:{ALIAS}",
            "api": None,
            "integration": None,
            "route": None,
            "stage": None,
            "invoke_permission": n.permission_sid,
        }
        if self.spec.sagemaker.autoscaling.enabled and self.shape.autoscaling:
            out["autoscaling"] = n.scaling_resource_id
        if self.model_function:
            for key in SAGEMAKER_KEYS:
                out.pop(key, None)
        if self.trigger is not None:
            out.update(
                {
                    "trigger_bucket": n.trigger_bucket,
                    "trigger_queue": n.trigger_queue,
                    "trigger_log_group": n.trigger_log_group,
                    "trigger_role": n.trigger_role,
                    "trigger_function": n.trigger_function,
                    "trigger_async": n.trigger_function,
                    "trigger_permission": n.trigger_permission_sid,
                    "trigger_notification": n.trigger_bucket,
                }
            )
        return out

    @property
    def trigger_memory_mb(self) -> int:
        t = self.spec.trigger
        return t.memory_mb if t.memory_mb is not None else self.memory_mb


def function_model_key(names: Names, sha256: str) -> str:
    """The ONNX model archive's key: the full sha256, so that the same key is the same bytes."""
    return f"{names.deployment}/onnx-{sha256}.tar.gz"


def _vpc(spec_vpc) -> tuple[list[str], list[str]] | None:
    return (list(spec_vpc.subnet_ids), list(spec_vpc.security_group_ids)) if spec_vpc else None


def desired_state(
    spec: AwsDeploySpec, names: Names, artifact: BuiltArchive, function_zip: BuiltArchive
) -> Desired:
    shape = endpoint_shape(spec)
    image = spec.sagemaker.image(names.region, shape.processor)
    key = names.artifact_key(artifact.sha256)
    model_env = model_environment(spec, shape.processor)
    sm_vpc = _vpc(spec.sagemaker.vpc)
    model_digest = digest(
        {
            "artifact": artifact.sha256,
            "image": image,
            "env": model_env,
            "role": names.role_arn(names.sagemaker_role),
            "vpc": sm_vpc,
        }
    )
    model_name = names.model(model_digest)
    if shape.serverless is not None:
        config_digest = digest(
            {"model": model_name, "serverless": shape.serverless.model_dump(), "kms": spec.bucket.kms_key_arn}
        )
    else:
        config_digest = digest(
            {
                "model": model_name,
                "instance_type": shape.instance_type,
                "count": shape.instance_count,
                "download_s": spec.sagemaker.model_data_download_timeout_s,
                "startup_s": spec.sagemaker.startup_health_check_timeout_s,
                "kms": spec.bucket.kms_key_arn,
            }
        )
    desired = Desired(
        spec=spec,
        names=names,
        artifact=artifact,
        function_zip=function_zip,
        image_uri=image,
        model_env=model_env,
        gateway_env=gateway_environment(spec, names.endpoint),
        sagemaker_policy=policies.sagemaker_role_policy(
            names, artifact_key=key, image_uri=image, kms_key_arn=spec.bucket.kms_key_arn, vpc=sm_vpc
        ),
        lambda_policy=policies.lambda_role_policy(names, vpc=_vpc(spec.lambda_.vpc)),
        bucket_policy=policies.tls_only_bucket_policy(names),
        model_name=model_name,
        config_name=names.endpoint_config(config_digest),
        shape=shape,
        memory_mb=spec.lambda_.memory_for(spec.serving),
    )
    if spec.serving != ServingOption.function:
        return with_trigger(desired)
    # `artifact` is the ONNX model archive and `function_zip` the model function (function_package)
    model_key = function_model_key(names, artifact.sha256)
    return with_trigger(
        replace(
            desired,
            handler=FUNCTION_HANDLER,
            gateway_env=function_environment(spec, f"s3://{names.bucket}/{model_key}", artifact.sha256),
            lambda_policy=policies.function_model_role_policy(
                names, model_key=model_key, kms_key_arn=spec.bucket.kms_key_arn, vpc=_vpc(spec.lambda_.vpc)
            ),
            artifact_label="ONNX model (model-onnx.tar.gz)",
            function_words="model function (gateway + ONNX engine)",
        )
    )


def with_trigger(d: Desired) -> Desired:
    """`--trigger s3`: the trigger's rule, environment (the main function's backend settings plus the
    rule) and least-privilege policy; unchanged when the trigger is off."""
    spec, n = d.spec, d.names
    if not spec.trigger.enabled:
        return d
    rule = spec.trigger.rule()
    model_key = d.artifact_key if d.model_function else None
    policy = policies.trigger_role_policy(
        n,
        rule=rule,
        endpoint=not d.model_function,
        model_key=model_key,
        kms_key_arn=spec.bucket.kms_key_arn if d.model_function else None,
        vpc=_vpc(spec.lambda_.vpc),
    )
    return replace(
        d, trigger=rule, trigger_env=trigger_environment(spec, d.gateway_env, rule), trigger_policy=policy
    )
