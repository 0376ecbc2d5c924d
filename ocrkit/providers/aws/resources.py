"""The AWS resources of one deployment: their models, the plan stage (describe/list calls only) and the
calls that create or update each one.

Resources, in dependency order (each names what it needs first):

    bucket -> artifact -> bucket_policy              S3: private, encrypted, versioned, TLS only
    endpoint_log_group, lambda_log_group, api_log_group
    sagemaker_role -> model -> endpoint_config -> endpoint -> autoscaling
    lambda_role -> function -> function_alias        Lambda: gateway zip, `live` alias
    api -> integration -> route, stage -> invoke_permission

The planner describes each resource and returns a `Step`: the `PlannedCall` shown to the user (create,
update or noop, with key settings) and the function that makes the calls at apply time. Noop steps make
no calls; they pass on values (ids, ARNs) read while planning. Resource names come from `Names`; what each
resource should look like comes from `Desired`, built locally from the spec and the build outputs.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ocrkit.deploy.artifact import BuiltArchive
from ocrkit.deploy.plan import Context, ResourceModel, Step, StepResult
from ocrkit.deploy.provider import PlannedCall, ResourceRecord, StateLike
from ocrkit.errors import OcrkitError
from ocrkit.providers.aws import policies
from ocrkit.providers.aws.names import ALIAS, ROUTE_KEY, SCALABLE_DIMENSION, STAGE, VARIANT, Names
from ocrkit.providers.aws.quotas import QuotaCheck
from ocrkit.providers.aws.session import AwsSession, error_code, error_message, is_not_found
from ocrkit.providers.aws.spec import AwsDeploySpec, gateway_environment, model_environment
from ocrkit.providers.aws.waiters import wait_for_endpoint

ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "ip": "$context.identity.sourceIp",
        "requestTime": "$context.requestTime",
        "routeKey": "$context.routeKey",
        "status": "$context.status",
        "responseLength": "$context.responseLength",
        "latencyMs": "$context.responseLatency",
        "integrationLatencyMs": "$context.integration.latency",
        "integrationError": "$context.integrationErrorMessage",
    },
    separators=(",", ":"),
)

MODELS = [
    ResourceModel("bucket", "s3:bucket"),
    ResourceModel("artifact", "s3:object", ("bucket",)),
    ResourceModel("bucket_policy", "s3:bucket-policy", ("bucket", "artifact")),
    ResourceModel("endpoint_log_group", "logs:log-group"),
    ResourceModel("lambda_log_group", "logs:log-group"),
    ResourceModel("api_log_group", "logs:log-group"),
    ResourceModel("sagemaker_role", "iam:role", ("artifact", "endpoint_log_group")),
    ResourceModel("model", "sagemaker:model", ("sagemaker_role", "artifact")),
    ResourceModel("endpoint_config", "sagemaker:endpoint-config", ("model",)),
    ResourceModel("endpoint", "sagemaker:endpoint", ("endpoint_config", "endpoint_log_group")),
    ResourceModel("autoscaling", "autoscaling:scalable-target", ("endpoint",)),
    ResourceModel("lambda_role", "iam:role", ("lambda_log_group",)),
    ResourceModel("function", "lambda:function", ("lambda_role", "lambda_log_group", "endpoint")),
    ResourceModel("function_alias", "lambda:alias", ("function",)),
    ResourceModel("api", "apigateway:api"),
    ResourceModel("integration", "apigateway:integration", ("api", "function_alias")),
    ResourceModel("route", "apigateway:route", ("integration",)),
    ResourceModel("stage", "apigateway:stage", ("api", "api_log_group", "route")),
    ResourceModel("invoke_permission", "lambda:permission", ("function_alias", "api")),
]

# Deletion order: what depends on others goes first (teardown and the sweeper).
RANK = {
    "lambda:permission": 0,
    "apigateway:stage": 1,
    "apigateway:route": 2,
    "apigateway:integration": 3,
    "apigateway:api": 4,
    "lambda:alias": 5,
    "lambda:function": 6,
    "autoscaling:scalable-target": 7,
    "sagemaker:endpoint": 8,
    "sagemaker:endpoint-config": 9,
    "sagemaker:model": 10,
    "iam:role": 11,
    "logs:log-group": 12,
    "s3:bucket-policy": 13,
    "s3:object": 14,
    "s3:bucket": 15,
}


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

    @property
    def artifact_key(self) -> str:
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
        if self.spec.sagemaker.autoscaling.enabled:
            out["autoscaling"] = n.scaling_resource_id
        return out


def _vpc(spec_vpc) -> tuple[list[str], list[str]] | None:
    return (list(spec_vpc.subnet_ids), list(spec_vpc.security_group_ids)) if spec_vpc else None


def desired_state(
    spec: AwsDeploySpec, names: Names, artifact: BuiltArchive, function_zip: BuiltArchive
) -> Desired:
    image = spec.sagemaker.image(names.region)
    key = names.artifact_key(artifact.sha256)
    model_env = model_environment(spec)
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
    config_digest = digest(
        {
            "model": model_name,
            "instance_type": spec.sagemaker.instance_type,
            "count": spec.sagemaker.instance_count,
            "download_s": spec.sagemaker.model_data_download_timeout_s,
            "startup_s": spec.sagemaker.startup_health_check_timeout_s,
            "kms": spec.bucket.kms_key_arn,
        }
    )
    return Desired(
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
    )


def _repository(image_uri: str, *, tag: bool = False) -> str:
    """`<registry>/pytorch-inference:2.3.0-gpu-py311` -> `pytorch-inference` (with tag: the whole name)."""
    name = image_uri.split("/", 1)[-1]
    return name if tag else name.split("@", 1)[0].rsplit(":", 1)[0]


def _mb(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB" if n >= 100_000 else f"{n / 1000:.1f} KB"


@dataclass
class Options:
    """Timing knobs (tests shorten them): waits, polls and the retry window for IAM propagation."""

    sleep: Callable[[float], None] = time.sleep
    endpoint_poll_s: float = 15.0
    endpoint_timeout_s: float = 3600.0
    iam_retry_s: float = 120.0
    lambda_poll_s: int = 2


@dataclass
class Planner:
    aws: AwsSession
    d: Desired
    state: StateLike | None
    quota: Callable[[int], QuotaCheck]
    options: Options = field(default_factory=Options)
    warnings: list[str] = field(default_factory=list)

    # -- helpers ------------------------------------------------------------------------------------

    @property
    def n(self) -> Names:
        return self.d.names

    @property
    def spec(self) -> AwsDeploySpec:
        return self.d.spec

    def c(self, service: str) -> Any:
        return self.aws.client(service)

    def _record(self, key: str) -> ResourceRecord | None:
        return self.state.resources.get(key) if self.state is not None else None

    def _describe(self, fn: Callable[..., Any], **kwargs: Any) -> Any:
        """The description, or None when the thing does not exist."""
        try:
            return fn(**kwargs)
        except Exception as exc:
            if is_not_found(exc):
                return None
            raise

    def _retry_iam(self, call: Callable[[], Any], what: str) -> Any:
        """Retry while a just-created role has not reached the service yet (IAM is eventually consistent)."""
        deadline = time.monotonic() + self.options.iam_retry_s
        delay = 2.0
        while True:
            try:
                return call()
            except Exception as exc:
                message = error_message(exc).lower()
                propagating = error_code(exc) in (
                    "ValidationException",
                    "InvalidParameterValueException",
                ) and ("assume" in message or "role" in message and "permission" in message)
                if not propagating or time.monotonic() > deadline:
                    raise
                self.options.sleep(delay)
                delay = min(delay * 2, 10.0)

    @staticmethod
    def step(key: str, kind: str, action: str, summary: str, run, **details: Any) -> Step:
        return Step(PlannedCall(key, kind, action, summary, details), run)  # type: ignore[arg-type]

    # -- the plan -----------------------------------------------------------------------------------

    def steps(self) -> list[Step]:
        makers = {
            "bucket": self.bucket,
            "artifact": self.artifact,
            "bucket_policy": self.bucket_policy,
            "endpoint_log_group": lambda: self.log_group(
                "endpoint_log_group", self.n.endpoint_log_group, self.spec.sagemaker.log_retention_days
            ),
            "lambda_log_group": lambda: self.log_group(
                "lambda_log_group", self.n.lambda_log_group, self.spec.lambda_.log_retention_days
            ),
            "api_log_group": lambda: self.log_group(
                "api_log_group", self.n.api_log_group, self.spec.api.access_log_retention_days
            ),
            "sagemaker_role": lambda: self.role(
                "sagemaker_role",
                self.n.sagemaker_role,
                "sagemaker.amazonaws.com",
                self.d.sagemaker_policy,
                f"may read the artifact, pull {_repository(self.d.image_uri)}, write the endpoint's logs",
            ),
            "model": self.model,
            "endpoint_config": self.endpoint_config,
            "endpoint": self.endpoint,
            "autoscaling": self.autoscaling,
            "lambda_role": lambda: self.role(
                "lambda_role",
                self.n.lambda_role,
                "lambda.amazonaws.com",
                self.d.lambda_policy,
                f"may invoke {self.n.endpoint} and write the function's logs",
            ),
            "function": self.function,
            "function_alias": self.function_alias,
            "api": self.api,
            "integration": self.integration,
            "route": self.route,
            "stage": self.stage,
            "invoke_permission": self.invoke_permission,
        }
        from ocrkit.deploy.plan import order

        self._actions: dict[str, str] = {}
        out = []
        for model in order(MODELS):
            if model.key == "autoscaling" and not self.spec.sagemaker.autoscaling.enabled:
                continue
            step = makers[model.key]()
            self._actions[model.key] = step.call.action
            out.append(step)
        return out

    def _creating(self, key: str) -> bool:
        return self._actions.get(key) == "create"

    # -- S3 -----------------------------------------------------------------------------------------

    def bucket(self) -> Step:
        s3 = self.c("s3")
        n, b = self.n, self.spec.bucket
        encryption = "SSE-KMS" if b.encryption == "aws:kms" else "SSE-S3"
        summary = f"s3://{n.bucket}: private, {encryption}, versioned, tagged"
        exists = self._bucket_exists(s3, n.bucket)
        if not exists:
            return self.step(
                "bucket",
                "s3:bucket",
                "create",
                summary,
                self._apply_bucket(create=True),
                name=n.bucket,
                encryption=encryption,
            )
        drift = self._bucket_drift(s3)
        if drift:
            return self.step(
                "bucket",
                "s3:bucket",
                "update",
                f"{summary} (fix: {', '.join(drift)})",
                self._apply_bucket(create=False),
                name=n.bucket,
                drift=drift,
            )
        return self.step("bucket", "s3:bucket", "noop", summary, self._bucket_noop(), name=n.bucket)

    def _bucket_noop(self):
        rec = ResourceRecord("s3:bucket", self.n.bucket, {"region": self.n.region})
        return lambda ctx: StepResult(rec, {"bucket": self.n.bucket})

    def _bucket_exists(self, s3, name: str) -> bool:
        try:
            s3.head_bucket(Bucket=name)
            return True
        except Exception as exc:
            code = error_code(exc)
            if code in ("404", "NoSuchBucket", "NotFound"):
                return False
            if code in ("403", "AccessDenied"):
                raise OcrkitError(
                    f"bucket {name} exists but this account cannot use it",
                    hint="bucket names are global: it belongs to another account, or your identity lacks "
                    "s3:ListBucket on it; pick another deployment name with --name",
                ) from None
            raise

    def _encryption_rule(self) -> dict[str, Any]:
        b = self.spec.bucket
        if b.encryption == "aws:kms":
            return {
                "ApplyServerSideEncryptionByDefault": {
                    "SSEAlgorithm": "aws:kms",
                    "KMSMasterKeyID": b.kms_key_arn,
                },
                "BucketKeyEnabled": True,
            }
        return {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": False}

    def _lifecycle_rules(self) -> list[dict[str, Any]]:
        days = self.spec.bucket.noncurrent_version_expiry_days
        if days is None:
            return []
        return [
            {
                "ID": "expire-old-artifact-versions",
                "Status": "Enabled",
                "Filter": {"Prefix": self.n.artifact_prefix},
                "NoncurrentVersionExpiration": {"NoncurrentDays": days},
                "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
            }
        ]

    def _bucket_drift(self, s3) -> list[str]:
        n = self.n
        drift = []
        pab = self._describe(s3.get_public_access_block, Bucket=n.bucket)
        conf = (pab or {}).get("PublicAccessBlockConfiguration") or {}
        if not all(
            conf.get(k)
            for k in ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
        ):
            drift.append("public access block")
        enc = self._describe(s3.get_bucket_encryption, Bucket=n.bucket)
        rules = ((enc or {}).get("ServerSideEncryptionConfiguration") or {}).get("Rules") or []
        want = self._encryption_rule()["ApplyServerSideEncryptionByDefault"]
        have = (rules[0].get("ApplyServerSideEncryptionByDefault") or {}) if rules else {}
        if have.get("SSEAlgorithm") != want["SSEAlgorithm"] or (
            want.get("KMSMasterKeyID") and have.get("KMSMasterKeyID") != want["KMSMasterKeyID"]
        ):
            drift.append("encryption")
        if s3.get_bucket_versioning(Bucket=n.bucket).get("Status") != "Enabled":
            drift.append("versioning")
        tags = self._describe(s3.get_bucket_tagging, Bucket=n.bucket)
        if {t["Key"]: t["Value"] for t in (tags or {}).get("TagSet", [])}.get(
            next(iter(n.tag_map))
        ) != n.deployment:
            drift.append("tags")
        if self._lifecycle_rules():
            lc = self._describe(s3.get_bucket_lifecycle_configuration, Bucket=n.bucket)
            ids = {r.get("ID") for r in (lc or {}).get("Rules", [])}
            if "expire-old-artifact-versions" not in ids:
                drift.append("lifecycle")
        return drift

    def _apply_bucket(self, *, create: bool):
        n = self.n

        def run(ctx: Context) -> StepResult:
            s3 = self.c("s3")
            if create:
                kwargs: dict[str, Any] = {"Bucket": n.bucket, "ObjectOwnership": "BucketOwnerEnforced"}
                if n.region != "us-east-1":
                    kwargs["CreateBucketConfiguration"] = {"LocationConstraint": n.region}
                try:
                    s3.create_bucket(**kwargs)
                except Exception as exc:
                    if error_code(exc) != "BucketAlreadyOwnedByYou":
                        raise
                s3.get_waiter("bucket_exists").wait(
                    Bucket=n.bucket, WaiterConfig={"Delay": 2, "MaxAttempts": 30}
                )
            s3.put_public_access_block(
                Bucket=n.bucket,
                PublicAccessBlockConfiguration={
                    "BlockPublicAcls": True,
                    "IgnorePublicAcls": True,
                    "BlockPublicPolicy": True,
                    "RestrictPublicBuckets": True,
                },
            )
            s3.put_bucket_encryption(
                Bucket=n.bucket, ServerSideEncryptionConfiguration={"Rules": [self._encryption_rule()]}
            )
            s3.put_bucket_versioning(Bucket=n.bucket, VersioningConfiguration={"Status": "Enabled"})
            s3.put_bucket_tagging(Bucket=n.bucket, Tagging={"TagSet": n.tag_list()})
            rules = self._lifecycle_rules()
            if rules:
                s3.put_bucket_lifecycle_configuration(
                    Bucket=n.bucket, LifecycleConfiguration={"Rules": rules}
                )
            return StepResult(
                ResourceRecord("s3:bucket", n.bucket, {"region": n.region}), {"bucket": n.bucket}
            )

        return run

    def artifact(self) -> Step:
        s3 = self.c("s3")
        key, art = self.d.artifact_key, self.d.artifact
        summary = f"model.tar.gz, {_mb(art.size)}, sha256 {art.sha256[:12]}..., to s3://{self.n.bucket}/"
        present = False
        if not self._creating("bucket"):
            listing = s3.list_objects_v2(Bucket=self.n.bucket, Prefix=key, MaxKeys=1)
            present = any(o.get("Key") == key for o in listing.get("Contents", []))
        attrs = {"bucket": self.n.bucket, "sha256": art.sha256, "size": art.size}
        if present:
            # the key holds the full sha256: the same key is the same bytes
            rec = ResourceRecord("s3:object", key, attrs)
            return self.step(
                "artifact", "s3:object", "noop", summary, lambda ctx: StepResult(rec, {"artifact_key": key})
            )
        previous = self._record("artifact")
        action = "update" if previous is not None else "create"

        def run(ctx: Context) -> StepResult:
            done = 0

            def progress(chunk: int) -> None:
                nonlocal done
                done += chunk
                ctx.events.progress("upload model.tar.gz", done, art.size)

            ctx.events.progress("upload model.tar.gz", 0, art.size)
            extra: dict[str, Any] = {
                "Metadata": {"sha256": art.sha256},
                "Tagging": f"ocrkit%3Adeployment={self.n.deployment}",
                "ContentType": "application/gzip",
            }
            self.c("s3").upload_file(str(art.path), self.n.bucket, key, ExtraArgs=extra, Callback=progress)
            return StepResult(ResourceRecord("s3:object", key, attrs), {"artifact_key": key})

        return self.step(
            "artifact", "s3:object", action, f"upload {summary}", run, size=art.size, sha256=art.sha256
        )

    def bucket_policy(self) -> Step:
        s3 = self.c("s3")
        n, doc = self.n, self.d.bucket_policy
        summary = "deny every request made without TLS (aws:SecureTransport false)"
        rec = ResourceRecord("s3:bucket-policy", n.bucket)
        current = None
        if not self._creating("bucket"):
            got = self._describe(s3.get_bucket_policy, Bucket=n.bucket)
            current = json.loads(got["Policy"]) if got else None
        if current is not None and policies.canonical(current) == policies.canonical(doc):
            return self.step(
                "bucket_policy", "s3:bucket-policy", "noop", summary, lambda ctx: StepResult(rec)
            )

        def run(ctx: Context) -> StepResult:
            self.c("s3").put_bucket_policy(Bucket=n.bucket, Policy=json.dumps(doc))
            return StepResult(rec)

        return self.step(
            "bucket_policy",
            "s3:bucket-policy",
            "create" if current is None else "update",
            summary,
            run,
            policy=doc,
        )

    # -- CloudWatch Logs ----------------------------------------------------------------------------

    def log_group(self, key: str, name: str, retention: int) -> Step:
        logs = self.c("logs")
        summary = f"{name}, kept {retention} days"
        rec = ResourceRecord("logs:log-group", name, {"retention_days": retention})
        found = None
        for page in logs.get_paginator("describe_log_groups").paginate(logGroupNamePrefix=name):
            for group in page.get("logGroups", []):
                if group.get("logGroupName") == name:
                    found = group
        if found is not None and found.get("retentionInDays") == retention:
            return self.step(key, "logs:log-group", "noop", summary, lambda ctx: StepResult(rec))

        def run(ctx: Context) -> StepResult:
            client = self.c("logs")
            if found is None:
                try:
                    client.create_log_group(logGroupName=name, tags=self.n.tag_map)
                except Exception as exc:
                    if error_code(exc) != "ResourceAlreadyExistsException":
                        raise
            client.put_retention_policy(logGroupName=name, retentionInDays=retention)
            return StepResult(rec)

        return self.step(key, "logs:log-group", "create" if found is None else "update", summary, run)

    # -- IAM ----------------------------------------------------------------------------------------

    def role(self, key: str, name: str, service: str, policy: dict[str, Any], words: str) -> Step:
        iam = self.c("iam")
        trust = policies.trust_policy(service)
        arn = self.n.role_arn(name)
        summary = f"{name}: {words} (inline policy, no managed ones)"
        got = self._describe(iam.get_role, RoleName=name)
        changes: list[str] = []
        if got is not None:
            role = got["Role"]
            arn = role["Arn"]
            if policies.canonical(_doc(role.get("AssumeRolePolicyDocument"))) != policies.canonical(trust):
                changes.append("trust")
            current = self._describe(iam.get_role_policy, RoleName=name, PolicyName=self.n.role_policy)
            if current is None or policies.canonical(_doc(current["PolicyDocument"])) != policies.canonical(
                policy
            ):
                changes.append("policy")
            tags = {t["Key"]: t["Value"] for t in iam.list_role_tags(RoleName=name).get("Tags", [])}
            if any(tags.get(k) != v for k, v in self.n.tag_map.items()):
                changes.append("tags")
        outputs = {f"{key}_arn": arn}
        rec = ResourceRecord("iam:role", name, {"arn": arn, "policy": self.n.role_policy})
        if got is not None and not changes:
            return self.step(key, "iam:role", "noop", summary, lambda ctx: StepResult(rec, outputs))

        def run(ctx: Context) -> StepResult:
            client = self.c("iam")
            role_arn = arn
            if got is None:
                created = client.create_role(
                    RoleName=name,
                    AssumeRolePolicyDocument=json.dumps(trust),
                    Description=f"ocrkit deployment {self.n.deployment}: {words}",
                    Tags=self.n.tag_list(),
                )
                role_arn = created["Role"]["Arn"]
            else:
                if "trust" in changes:
                    client.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(trust))
                if "tags" in changes:
                    client.tag_role(RoleName=name, Tags=self.n.tag_list())
            if got is None or "policy" in changes:
                client.put_role_policy(
                    RoleName=name, PolicyName=self.n.role_policy, PolicyDocument=json.dumps(policy)
                )
            return StepResult(
                ResourceRecord("iam:role", name, {"arn": role_arn, "policy": self.n.role_policy}),
                {f"{key}_arn": role_arn},
            )

        action = "create" if got is None else "update"
        detail = summary if got is None else f"{summary} (change: {', '.join(changes)})"
        return self.step(key, "iam:role", action, detail, run, policy=policy, trust=trust)

    # -- SageMaker ----------------------------------------------------------------------------------

    def model(self) -> Step:
        sm = self.c("sagemaker")
        name = self.d.model_name
        summary = f"{name}: {_repository(self.d.image_uri, tag=True)}"
        rec = ResourceRecord("sagemaker:model", name, {"artifact_sha256": self.d.artifact.sha256})
        if self._describe(sm.describe_model, ModelName=name) is not None:
            return self.step(
                "model", "sagemaker:model", "noop", summary, lambda ctx: StepResult(rec, {"model_name": name})
            )

        def run(ctx: Context) -> StepResult:
            kwargs: dict[str, Any] = {
                "ModelName": name,
                "PrimaryContainer": {
                    "Image": self.d.image_uri,
                    "ModelDataUrl": f"s3://{self.n.bucket}/{self.d.artifact_key}",
                    "Environment": self.d.model_env,
                },
                "ExecutionRoleArn": ctx.get("sagemaker_role_arn"),
                "Tags": self.n.tag_list(),
            }
            vpc = self.spec.sagemaker.vpc
            if vpc:
                kwargs["VpcConfig"] = {"Subnets": vpc.subnet_ids, "SecurityGroupIds": vpc.security_group_ids}
            self._retry_iam(lambda: self.c("sagemaker").create_model(**kwargs), "create the model")
            return StepResult(rec, {"model_name": name})

        previous = self._record("model")
        if previous is not None and previous.id != name:
            summary += f" (replaces {previous.id}, removed once the endpoint has switched)"
        return self.step("model", "sagemaker:model", "create", summary, run, image=self.d.image_uri)

    def endpoint_config(self) -> Step:
        sm = self.c("sagemaker")
        name, s = self.d.config_name, self.spec.sagemaker
        summary = f"{name}: {s.instance_type} x {s.instance_count}, model {self.d.model_name}"
        rec = ResourceRecord("sagemaker:endpoint-config", name, {"instance_type": s.instance_type})
        if self._describe(sm.describe_endpoint_config, EndpointConfigName=name) is not None:
            return self.step(
                "endpoint_config",
                "sagemaker:endpoint-config",
                "noop",
                summary,
                lambda ctx: StepResult(rec, {"endpoint_config_name": name}),
            )

        def run(ctx: Context) -> StepResult:
            variant = {
                "VariantName": VARIANT,
                "ModelName": ctx.get("model_name"),
                "InstanceType": s.instance_type,
                "InitialInstanceCount": s.instance_count,
                "InitialVariantWeight": 1.0,
                "ModelDataDownloadTimeoutInSeconds": s.model_data_download_timeout_s,
                "ContainerStartupHealthCheckTimeoutInSeconds": s.startup_health_check_timeout_s,
            }
            kwargs: dict[str, Any] = {
                "EndpointConfigName": name,
                "ProductionVariants": [variant],
                "Tags": self.n.tag_list(),
            }
            if self.spec.bucket.kms_key_arn:
                kwargs["KmsKeyId"] = self.spec.bucket.kms_key_arn
            self.c("sagemaker").create_endpoint_config(**kwargs)
            return StepResult(rec, {"endpoint_config_name": name})

        previous = self._record("endpoint_config")
        if previous is not None and previous.id != name:
            summary += f" (replaces {previous.id})"
        action = "create"
        return self.step(
            "endpoint_config",
            "sagemaker:endpoint-config",
            action,
            summary,
            run,
            instance_type=s.instance_type,
            instance_count=s.instance_count,
        )

    def endpoint(self) -> Step:
        sm = self.c("sagemaker")
        n, s = self.n, self.spec.sagemaker
        auto = s.autoscaling
        scaling = (
            f"autoscaling {auto.min_instances}-{auto.max_instances}" if auto.enabled else "no autoscaling"
        )
        summary = f"{n.endpoint}: {s.instance_type} x {s.instance_count}, {scaling}"
        got = self._describe(sm.describe_endpoint, EndpointName=n.endpoint)
        outputs = {"endpoint_name": n.endpoint}
        rec = ResourceRecord("sagemaker:endpoint", n.endpoint, {"config": self.d.config_name})
        quota = None
        if got is None:
            quota = self.quota(s.instance_count)
            if quota.known and not quota.enough or not quota.known:
                self.warnings.append(quota.message)
        status = (got or {}).get("EndpointStatus")
        if got is not None and got.get("EndpointConfigName") == self.d.config_name and status == "InService":
            return self.step(
                "endpoint",
                "sagemaker:endpoint",
                "noop",
                f"{summary}, InService",
                lambda ctx: StepResult(rec, outputs),
            )

        old_type = None
        if got is not None and got.get("EndpointConfigName") != self.d.config_name:
            old = self._describe(sm.describe_endpoint_config, EndpointConfigName=got["EndpointConfigName"])
            variants = (old or {}).get("ProductionVariants") or [{}]
            old_type = variants[0].get("InstanceType")
        self._instance_type_changes = old_type is not None and old_type != s.instance_type

        def run(ctx: Context) -> StepResult:
            client = self.c("sagemaker")
            config = ctx.get("endpoint_config_name")
            if got is None:
                if quota is not None:
                    if not quota.enough:
                        raise OcrkitError(quota.message)
                    if quota.known:  # "could not check" was said with the plan already
                        ctx.events.info(quota.message)
                client.create_endpoint(EndpointName=n.endpoint, EndpointConfigName=config, Tags=n.tag_list())
            elif status == "Failed":
                ctx.events.info(f"endpoint {n.endpoint} is Failed ({got.get('FailureReason')}); replacing it")
                client.delete_endpoint(EndpointName=n.endpoint)
                self._wait_gone(client, n.endpoint)
                client.create_endpoint(EndpointName=n.endpoint, EndpointConfigName=config, Tags=n.tag_list())
            elif got.get("EndpointConfigName") != config:
                if status not in ("InService",):
                    self._wait(client, ctx)
                if self._instance_type_changes:
                    self._deregister_scaling()
                client.update_endpoint(EndpointName=n.endpoint, EndpointConfigName=config)
            info = self._wait(client, ctx)
            return StepResult(
                ResourceRecord("sagemaker:endpoint", n.endpoint, {"config": config}),
                {**outputs, "endpoint_arn": info.get("EndpointArn", n.endpoint_arn)},
            )

        if got is None:
            action, detail = "create", summary
        elif status == "Failed":
            action, detail = "update", f"{summary} (replace the Failed endpoint)"
        elif got.get("EndpointConfigName") != self.d.config_name:
            action, detail = "update", f"{summary} (switch to {self.d.config_name})"
        else:
            action, detail = "update", f"{summary} (wait: now {status})"
        return self.step(
            "endpoint",
            "sagemaker:endpoint",
            action,
            detail,
            run,
            quota=None if quota is None else quota.message,
        )

    def _wait(self, client, ctx: Context) -> dict:
        n = self.n
        return wait_for_endpoint(
            lambda: client.describe_endpoint(EndpointName=n.endpoint),
            name=n.endpoint,
            log_group=n.endpoint_log_group,
            region=n.region,
            events=ctx.events,
            timeout_s=self.options.endpoint_timeout_s,
            interval_s=self.options.endpoint_poll_s,
            sleep=self.options.sleep,
        )

    def _wait_gone(self, client, endpoint: str) -> None:
        deadline = time.monotonic() + self.options.endpoint_timeout_s
        while self._describe(client.describe_endpoint, EndpointName=endpoint) is not None:
            if time.monotonic() > deadline:
                raise OcrkitError(f"endpoint {endpoint} is still being deleted")
            self.options.sleep(self.options.endpoint_poll_s)

    def _deregister_scaling(self) -> None:
        aas = self.c("application-autoscaling")
        n = self.n
        try:
            aas.delete_scaling_policy(
                PolicyName=n.scaling_policy,
                ServiceNamespace="sagemaker",
                ResourceId=n.scaling_resource_id,
                ScalableDimension=SCALABLE_DIMENSION,
            )
        except Exception as exc:
            if not is_not_found(exc) and error_code(exc) != "ObjectNotFoundException":
                raise
        try:
            aas.deregister_scalable_target(
                ServiceNamespace="sagemaker",
                ResourceId=n.scaling_resource_id,
                ScalableDimension=SCALABLE_DIMENSION,
            )
        except Exception as exc:
            if not is_not_found(exc) and error_code(exc) != "ObjectNotFoundException":
                raise

    def autoscaling(self) -> Step:
        aas = self.c("application-autoscaling")
        n, a = self.n, self.spec.sagemaker.autoscaling
        summary = (
            f"{a.min_instances}-{a.max_instances} instances, target tracking "
            f"{a.target_invocations_per_instance} invocations/instance/minute"
        )
        rec = ResourceRecord(
            "autoscaling:scalable-target", n.scaling_resource_id, {"policy": n.scaling_policy}
        )
        config = {
            "TargetValue": float(a.target_invocations_per_instance),
            "PredefinedMetricSpecification": {
                "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"
            },
            "ScaleInCooldown": a.scale_in_cooldown_s,
            "ScaleOutCooldown": a.scale_out_cooldown_s,
        }
        changes = ["target", "policy"]
        if not self._creating("endpoint"):
            targets = aas.describe_scalable_targets(
                ServiceNamespace="sagemaker",
                ResourceIds=[n.scaling_resource_id],
                ScalableDimension=SCALABLE_DIMENSION,
            ).get("ScalableTargets", [])
            changes = []
            if not targets or (targets[0].get("MinCapacity"), targets[0].get("MaxCapacity")) != (
                a.min_instances,
                a.max_instances,
            ):
                changes.append("target")
            found = aas.describe_scaling_policies(
                ServiceNamespace="sagemaker",
                ResourceId=n.scaling_resource_id,
                ScalableDimension=SCALABLE_DIMENSION,
                PolicyNames=[n.scaling_policy],
            ).get("ScalingPolicies", [])
            have = (found[0].get("TargetTrackingScalingPolicyConfiguration") if found else None) or {}
            if (
                float(have.get("TargetValue", -1)) != config["TargetValue"]
                or (have.get("PredefinedMetricSpecification") or {}).get("PredefinedMetricType")
                != "SageMakerVariantInvocationsPerInstance"
                or have.get("ScaleInCooldown") != a.scale_in_cooldown_s
                or have.get("ScaleOutCooldown") != a.scale_out_cooldown_s
            ):
                changes.append("policy")
            if getattr(self, "_instance_type_changes", False):
                changes = ["target", "policy"]
        if not changes:
            return self.step("autoscaling", rec.kind, "noop", summary, lambda ctx: StepResult(rec))

        def run(ctx: Context) -> StepResult:
            client = self.c("application-autoscaling")
            client.register_scalable_target(
                ServiceNamespace="sagemaker",
                ResourceId=n.scaling_resource_id,
                ScalableDimension=SCALABLE_DIMENSION,
                MinCapacity=a.min_instances,
                MaxCapacity=a.max_instances,
                Tags=n.tag_map,
            )
            client.put_scaling_policy(
                PolicyName=n.scaling_policy,
                ServiceNamespace="sagemaker",
                ResourceId=n.scaling_resource_id,
                ScalableDimension=SCALABLE_DIMENSION,
                PolicyType="TargetTrackingScaling",
                TargetTrackingScalingPolicyConfiguration=config,
            )
            return StepResult(rec)

        action = (
            "create" if changes == ["target", "policy"] and self._record("autoscaling") is None else "update"
        )
        return self.step("autoscaling", rec.kind, action, summary, run, policy=config)

    # -- Lambda -------------------------------------------------------------------------------------

    def _function_config(self) -> dict[str, Any]:
        f = self.spec.lambda_
        cfg: dict[str, Any] = {
            "Runtime": f.runtime,
            "Handler": "ocrkit.providers.aws.lambda_entry.handler",
            "Role": self.n.role_arn(self.n.lambda_role),
            "MemorySize": f.memory_mb,
            "Timeout": f.timeout_s,
            "Environment": {"Variables": self.d.gateway_env},
        }
        cfg["VpcConfig"] = (
            {"SubnetIds": f.vpc.subnet_ids, "SecurityGroupIds": f.vpc.security_group_ids}
            if f.vpc
            else {"SubnetIds": [], "SecurityGroupIds": []}
        )
        return cfg

    def _config_changes(self, have: dict[str, Any]) -> list[str]:
        want = self._function_config()
        changes = [k for k in ("Runtime", "Handler", "MemorySize", "Timeout") if have.get(k) != want[k]]
        if have.get("Role") != want["Role"]:
            changes.append("Role")
        if ((have.get("Environment") or {}).get("Variables") or {}) != want["Environment"]["Variables"]:
            changes.append("Environment")
        vpc = have.get("VpcConfig") or {}
        if sorted(vpc.get("SubnetIds") or []) != sorted(want["VpcConfig"]["SubnetIds"]) or sorted(
            vpc.get("SecurityGroupIds") or []
        ) != sorted(want["VpcConfig"]["SecurityGroupIds"]):
            changes.append("VpcConfig")
        return changes

    def function(self) -> Step:
        lam = self.c("lambda")
        n, f = self.n, self.spec.lambda_
        reserved = "none" if f.reserved_concurrency is None else str(f.reserved_concurrency)
        summary = (
            f"{n.function}: {f.runtime}, {f.memory_mb} MB, {f.timeout_s} s, reserved concurrency {reserved}, "
            f"zip {_mb(self.d.function_zip.size)}"
        )
        got = self._describe(lam.get_function, FunctionName=n.function)
        changes: list[str] = []
        if got is not None:
            conf = got["Configuration"]
            if conf.get("CodeSha256") != self.d.code_sha256:
                changes.append("code")
            changes += self._config_changes(conf)
            if any((got.get("Tags") or {}).get(k) != v for k, v in n.tag_map.items()):
                changes.append("tags")
            have_reserved = (got.get("Concurrency") or {}).get("ReservedConcurrentExecutions")
            if have_reserved != f.reserved_concurrency:
                changes.append("reserved concurrency")
        outputs = {"function_arn": n.function_arn}
        rec = ResourceRecord("lambda:function", n.function, {"code_sha256": self.d.code_sha256})
        if got is not None and not changes:
            return self.step(
                "function",
                "lambda:function",
                "noop",
                summary,
                lambda ctx: StepResult(rec, outputs),
            )

        def run(ctx: Context) -> StepResult:
            client = self.c("lambda")
            zipped = self.d.function_zip.path.read_bytes()
            cfg = self._function_config()
            cfg["Role"] = ctx.get("lambda_role_arn")
            if got is None:
                kwargs = dict(cfg)
                if not f.vpc:
                    kwargs.pop("VpcConfig")
                self._retry_iam(
                    lambda: client.create_function(
                        FunctionName=n.function,
                        Code={"ZipFile": zipped},
                        Description=f"ocrkit gateway for SageMaker endpoint {n.endpoint}",
                        Architectures=[f.architecture],
                        Tags=n.tag_map,
                        Publish=False,
                        **kwargs,
                    ),
                    "create the function",
                )
                self._lambda_wait(client, "function_active_v2")
            else:
                if "code" in changes:
                    client.update_function_code(FunctionName=n.function, ZipFile=zipped, Publish=False)
                    self._lambda_wait(client, "function_updated_v2")
                if set(changes) & {
                    "Runtime",
                    "Handler",
                    "MemorySize",
                    "Timeout",
                    "Role",
                    "Environment",
                    "VpcConfig",
                }:
                    self._retry_iam(
                        lambda: client.update_function_configuration(FunctionName=n.function, **cfg),
                        "update the function",
                    )
                    self._lambda_wait(client, "function_updated_v2")
                if "tags" in changes:
                    client.tag_resource(Resource=n.function_arn, Tags=n.tag_map)
            if got is None or "reserved concurrency" in changes:
                if f.reserved_concurrency is None:
                    if got is not None:
                        client.delete_function_concurrency(FunctionName=n.function)
                else:
                    client.put_function_concurrency(
                        FunctionName=n.function, ReservedConcurrentExecutions=f.reserved_concurrency
                    )
            return StepResult(rec, outputs)

        action = "create" if got is None else "update"
        detail = summary if got is None else f"{summary} (change: {', '.join(changes)})"
        return self.step(
            "function",
            "lambda:function",
            action,
            detail,
            run,
            environment=self.d.gateway_env,
            changes=changes,
        )

    def _lambda_wait(self, client, waiter: str) -> None:
        client.get_waiter(waiter).wait(
            FunctionName=self.n.function,
            WaiterConfig={"Delay": self.options.lambda_poll_s, "MaxAttempts": 150},
        )

    def function_alias(self) -> Step:
        lam = self.c("lambda")
        n, f = self.n, self.spec.lambda_
        summary = (
            f"{n.function}:{ALIAS} -> the latest published version, "
            f"provisioned concurrency {f.provisioned_concurrency}"
        )
        alias_id = f"{n.function}:{ALIAS}"
        got = None
        if not self._creating("function"):
            got = self._describe(lam.get_alias, FunctionName=n.function, Name=ALIAS)
        provisioned_now = 0
        previous = self._record("function_alias")
        if got is not None and (
            f.provisioned_concurrency or (previous and previous.attrs.get("provisioned"))
        ):
            pc = self._describe(
                lam.get_provisioned_concurrency_config, FunctionName=n.function, Qualifier=ALIAS
            )
            provisioned_now = int((pc or {}).get("RequestedProvisionedConcurrentExecutions") or 0)
        function_changes = self._actions.get("function") != "noop"
        outputs = {"alias_arn": n.alias_arn}
        if got is not None:
            outputs["function_version"] = got.get("FunctionVersion")
        attrs = {"provisioned": f.provisioned_concurrency}
        if got is not None and not function_changes and provisioned_now == f.provisioned_concurrency:
            rec = ResourceRecord("lambda:alias", alias_id, {**attrs, "version": got.get("FunctionVersion")})
            return self.step(
                "function_alias", "lambda:alias", "noop", summary, lambda ctx: StepResult(rec, outputs)
            )

        def run(ctx: Context) -> StepResult:
            client = self.c("lambda")
            version = got.get("FunctionVersion") if got else None
            if got is None or function_changes:  # a new version of the changed code and settings
                version = client.publish_version(FunctionName=n.function)["Version"]
                if got is None:
                    client.create_alias(FunctionName=n.function, Name=ALIAS, FunctionVersion=version)
                else:
                    client.update_alias(FunctionName=n.function, Name=ALIAS, FunctionVersion=version)
            if f.provisioned_concurrency:
                client.put_provisioned_concurrency_config(
                    FunctionName=n.function,
                    Qualifier=ALIAS,
                    ProvisionedConcurrentExecutions=f.provisioned_concurrency,
                )
                ctx.events.info(
                    f"provisioned concurrency {f.provisioned_concurrency} requested on {n.function}:{ALIAS}; "
                    "it takes a few minutes to be ready"
                )
            elif provisioned_now:
                client.delete_provisioned_concurrency_config(FunctionName=n.function, Qualifier=ALIAS)
            rec = ResourceRecord("lambda:alias", alias_id, {**attrs, "version": version})
            return StepResult(rec, {**outputs, "function_version": version})

        action = "create" if got is None else "update"
        return self.step("function_alias", "lambda:alias", action, summary, run)

    # -- API Gateway --------------------------------------------------------------------------------

    def _cors(self) -> dict[str, Any] | None:
        c = self.spec.api.cors
        if c is None:
            return None
        return {
            "AllowOrigins": list(c.allow_origins),
            "AllowMethods": list(c.allow_methods),
            "AllowHeaders": list(c.allow_headers),
            "MaxAge": c.max_age_s,
        }

    def _find_api(self, apigw) -> dict | None:
        rec = self._record("api")
        if rec is not None:
            got = self._describe(apigw.get_api, ApiId=rec.id)
            if got is not None:
                return got
        for page in apigw.get_paginator("get_apis").paginate():
            for item in page.get("Items", []):
                if item.get("Name") == self.n.api and (item.get("Tags") or {}).get(
                    next(iter(self.n.tag_map))
                ) == (self.n.deployment):
                    return item
        return None

    def api(self) -> Step:
        apigw = self.c("apigatewayv2")
        n = self.n
        cors = self._cors()
        summary = f"{n.api}: HTTP API, CORS {'for ' + ', '.join(cors['AllowOrigins']) if cors else 'off'}"
        got = self._find_api(apigw)
        self._api = got
        if got is not None:
            outputs = self._api_outputs(got)
            rec = ResourceRecord("apigateway:api", got["ApiId"], {"endpoint": got.get("ApiEndpoint")})
            have = _cors_norm(got.get("CorsConfiguration"))
            if have == _cors_norm(cors):
                return self.step(
                    "api", "apigateway:api", "noop", summary, lambda ctx: StepResult(rec, outputs)
                )

            def update(ctx: Context) -> StepResult:
                client = self.c("apigatewayv2")
                if cors is None:
                    client.delete_cors_configuration(ApiId=got["ApiId"])
                else:
                    client.update_api(ApiId=got["ApiId"], CorsConfiguration=cors)
                return StepResult(rec, outputs)

            return self.step("api", "apigateway:api", "update", f"{summary} (change: CORS)", update)

        def create(ctx: Context) -> StepResult:
            kwargs: dict[str, Any] = {
                "Name": n.api,
                "ProtocolType": "HTTP",
                "Description": f"ocrkit deployment {n.deployment}: POST /predict",
                "Tags": n.tag_map,
            }
            if cors:
                kwargs["CorsConfiguration"] = cors
            created = self.c("apigatewayv2").create_api(**kwargs)
            rec = ResourceRecord("apigateway:api", created["ApiId"], {"endpoint": created.get("ApiEndpoint")})
            return StepResult(rec, self._api_outputs(created))

        return self.step("api", "apigateway:api", "create", summary, create)

    def _api_outputs(self, api: dict) -> dict[str, Any]:
        endpoint = api.get("ApiEndpoint") or (
            f"https://{api['ApiId']}.execute-api.{self.n.region}.amazonaws.com"
        )
        return {"api_id": api["ApiId"], "url": endpoint, "invoke_url": f"{endpoint}/predict"}

    def integration(self) -> Step:
        apigw = self.c("apigatewayv2")
        timeout_ms = self.spec.api.integration_timeout_s * 1000
        uri = self.n.alias_arn
        summary = (
            f"AWS_PROXY -> {self.n.function}:{ALIAS}, payload 2.0, "
            f"timeout {self.spec.api.integration_timeout_s} s"
        )
        want = {
            "IntegrationType": "AWS_PROXY",
            "IntegrationUri": uri,
            "PayloadFormatVersion": "2.0",
            "TimeoutInMillis": timeout_ms,
        }
        found = None
        if self._api is not None:
            items = apigw.get_integrations(ApiId=self._api["ApiId"]).get("Items", [])
            found = next((i for i in items if i.get("IntegrationUri") == uri), None) or (
                items[0] if items else None
            )
        self._integration = found
        if found is not None:
            rec = ResourceRecord(
                "apigateway:integration", found["IntegrationId"], {"api_id": self._api["ApiId"]}
            )
            outputs = {"integration_id": found["IntegrationId"]}
            if all(found.get(k) == v for k, v in want.items()):
                return self.step(
                    "integration", rec.kind, "noop", summary, lambda ctx: StepResult(rec, outputs)
                )

            def update(ctx: Context) -> StepResult:
                self.c("apigatewayv2").update_integration(
                    ApiId=self._api["ApiId"], IntegrationId=found["IntegrationId"], **want
                )
                return StepResult(rec, outputs)

            return self.step("integration", rec.kind, "update", summary, update)

        def create(ctx: Context) -> StepResult:
            api_id = ctx.get("api_id")
            created = self.c("apigatewayv2").create_integration(ApiId=api_id, **want)
            rec = ResourceRecord("apigateway:integration", created["IntegrationId"], {"api_id": api_id})
            return StepResult(rec, {"integration_id": created["IntegrationId"]})

        return self.step("integration", "apigateway:integration", "create", summary, create)

    def route(self) -> Step:
        apigw = self.c("apigatewayv2")
        auth = "AWS_IAM" if self.spec.api.auth == "iam" else "NONE"
        summary = f"{ROUTE_KEY}, auth {'IAM (SigV4)' if auth == 'AWS_IAM' else 'none (public)'}"
        found = None
        if self._api is not None:
            items = apigw.get_routes(ApiId=self._api["ApiId"]).get("Items", [])
            found = next((r for r in items if r.get("RouteKey") == ROUTE_KEY), None)
        if found is not None:
            rec = ResourceRecord("apigateway:route", found["RouteId"], {"api_id": self._api["ApiId"]})
            target_ok = self._integration is not None and found.get("Target") == (
                f"integrations/{self._integration['IntegrationId']}"
            )
            if target_ok and found.get("AuthorizationType", "NONE") == auth:
                return self.step("route", rec.kind, "noop", summary, lambda ctx: StepResult(rec))

            def update(ctx: Context) -> StepResult:
                self.c("apigatewayv2").update_route(
                    ApiId=self._api["ApiId"],
                    RouteId=found["RouteId"],
                    AuthorizationType=auth,
                    Target=f"integrations/{ctx.get('integration_id')}",
                )
                return StepResult(rec)

            return self.step("route", rec.kind, "update", summary, update)

        def create(ctx: Context) -> StepResult:
            api_id = ctx.get("api_id")
            created = self.c("apigatewayv2").create_route(
                ApiId=api_id,
                RouteKey=ROUTE_KEY,
                AuthorizationType=auth,
                Target=f"integrations/{ctx.get('integration_id')}",
            )
            return StepResult(ResourceRecord("apigateway:route", created["RouteId"], {"api_id": api_id}))

        return self.step("route", "apigateway:route", "create", summary, create, authorization=auth)

    def stage(self) -> Step:
        apigw = self.c("apigatewayv2")
        a = self.spec.api
        log_arn = self.n.log_group_arn(self.n.api_log_group)
        summary = (
            f"{STAGE}: auto-deploy, throttling {a.throttling_rate_limit:g} requests/s (burst "
            f"{a.throttling_burst_limit}), access logs -> {self.n.api_log_group}"
        )
        settings = {
            "ThrottlingRateLimit": float(a.throttling_rate_limit),
            "ThrottlingBurstLimit": a.throttling_burst_limit,
            "DetailedMetricsEnabled": False,
        }
        access = {"DestinationArn": log_arn, "Format": ACCESS_LOG_FORMAT}
        found = None
        if self._api is not None:
            items = apigw.get_stages(ApiId=self._api["ApiId"]).get("Items", [])
            found = next((s for s in items if s.get("StageName") == STAGE), None)
        if found is not None:
            api_id = self._api["ApiId"]
            rec = ResourceRecord("apigateway:stage", f"{api_id}/{STAGE}", {"api_id": api_id})
            have = found.get("DefaultRouteSettings") or {}
            same = (
                float(have.get("ThrottlingRateLimit", -1)) == settings["ThrottlingRateLimit"]
                and have.get("ThrottlingBurstLimit") == settings["ThrottlingBurstLimit"]
                and (found.get("AccessLogSettings") or {}).get("DestinationArn") == log_arn
                and (found.get("AccessLogSettings") or {}).get("Format") == ACCESS_LOG_FORMAT
                and found.get("AutoDeploy") is True
            )
            if same:
                return self.step("stage", rec.kind, "noop", summary, lambda ctx: StepResult(rec))

            def update(ctx: Context) -> StepResult:
                self.c("apigatewayv2").update_stage(
                    ApiId=api_id,
                    StageName=STAGE,
                    AutoDeploy=True,
                    DefaultRouteSettings=settings,
                    AccessLogSettings=access,
                )
                return StepResult(rec)

            return self.step("stage", rec.kind, "update", summary, update, throttling=settings)

        def create(ctx: Context) -> StepResult:
            api_id = ctx.get("api_id")
            self.c("apigatewayv2").create_stage(
                ApiId=api_id,
                StageName=STAGE,
                AutoDeploy=True,
                DefaultRouteSettings=settings,
                AccessLogSettings=access,
                Tags=self.n.tag_map,
            )
            return StepResult(ResourceRecord("apigateway:stage", f"{api_id}/{STAGE}", {"api_id": api_id}))

        return self.step("stage", "apigateway:stage", "create", summary, create, throttling=settings)

    def invoke_permission(self) -> Step:
        lam = self.c("lambda")
        n = self.n
        sid = n.permission_sid
        api_id = self._api["ApiId"] if self._api is not None else None
        where = n.execute_api_arn(api_id) if api_id else n.execute_api_arn("<api-id>")
        summary = f"API Gateway may invoke {n.function}:{ALIAS}, from this API's POST /predict only"
        rec = ResourceRecord("lambda:permission", sid, {"function": n.function, "qualifier": ALIAS})
        current = None
        if api_id and not self._creating("function_alias"):
            got = self._describe(lam.get_policy, FunctionName=n.function, Qualifier=ALIAS)
            if got is not None:
                doc = json.loads(got["Policy"])
                current = next((s for s in doc.get("Statement", []) if s.get("Sid") == sid), None)
        if current is not None and _source_arn(current) == where:
            return self.step("invoke_permission", rec.kind, "noop", summary, lambda ctx: StepResult(rec))

        def run(ctx: Context) -> StepResult:
            client = self.c("lambda")
            source = n.execute_api_arn(ctx.get("api_id"))
            if current is not None:
                client.remove_permission(FunctionName=n.function, StatementId=sid, Qualifier=ALIAS)
            client.add_permission(
                FunctionName=n.function,
                Qualifier=ALIAS,
                StatementId=sid,
                Action="lambda:InvokeFunction",
                Principal="apigateway.amazonaws.com",
                SourceArn=source,
                SourceAccount=n.account,
            )
            return StepResult(rec, {"permission_source_arn": source})

        action = "create" if current is None else "update"
        return self.step("invoke_permission", rec.kind, action, summary, run)


def _doc(value: Any) -> Any:
    if isinstance(value, str):
        from urllib.parse import unquote

        text = value if value.lstrip().startswith("{") else unquote(value)
        return json.loads(text)
    return value


def _source_arn(statement: dict) -> str | None:
    condition = statement.get("Condition") or {}
    for op in ("ArnLike", "ArnEquals", "StringEquals"):
        block = condition.get(op) or {}
        for key, value in block.items():
            if key.lower() == "aws:sourcearn":
                return value
    return None


def _cors_norm(cors: dict | None) -> Any:
    if not cors:
        return None
    out = {}
    for key in ("AllowOrigins", "AllowMethods", "AllowHeaders"):
        out[key] = sorted(str(v).lower() for v in (cors.get(key) or []))
    out["MaxAge"] = cors.get("MaxAge")
    return out
