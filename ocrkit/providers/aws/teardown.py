"""Deleting a deployment's AWS resources, and finding them without the state file.

`discover(names)` lists what exists for one deployment: by tag through the Resource Groups Tagging API
(`ocrkit:deployment=<name>`), and by name through each service's own listing, since the tagging API does
not cover IAM roles or Application Auto Scaling targets, and emulators cover less. Names are matched
exactly (`<name>-model-<12 hex>`), never by a bare prefix, so that deployment `foo` never touches
`foo-model`'s resources.

`delete(record)` removes one resource and whatever only it holds (a role's inline policies, a bucket's
object versions and delete markers); each deletion is idempotent, so a teardown that stopped half-way can
simply run again.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ocrkit.deploy.provider import Events, ResourceRecord
from ocrkit.providers.aws.names import ALIAS, SCALABLE_DIMENSION, STAGE, TAG_KEY, Names
from ocrkit.providers.aws.resources import RANK
from ocrkit.providers.aws.session import AwsSession, error_code, is_not_found


def _gone(exc: BaseException) -> bool:
    return is_not_found(exc) or error_code(exc) in ("ObjectNotFoundException", "NoSuchBucket")


@dataclass
class Remover:
    aws: AwsSession
    names: Names
    sleep: Callable[[float], None] = time.sleep
    poll_s: float = 10.0
    timeout_s: float = 1800.0
    notes: list[str] = field(default_factory=list)

    def c(self, service: str) -> Any:
        return self.aws.client(service)

    # -- discovery ----------------------------------------------------------------------------------

    def discover(self) -> list[tuple[str, ResourceRecord]]:
        """Everything of this deployment that exists now, as (state key, record), in deletion order."""
        found: dict[tuple[str, str], tuple[str, ResourceRecord]] = {}

        def add(key: str, rec: ResourceRecord) -> None:
            found.setdefault((rec.kind, rec.id), (key, rec))

        for key, rec in self._by_tag():
            add(key, rec)
        for key, rec in self._by_name():
            add(key, rec)
        return sort_for_deletion(list(found.values()))

    def _by_tag(self) -> list[tuple[str, ResourceRecord]]:
        n = self.names
        out: list[tuple[str, ResourceRecord]] = []
        try:
            paginator = self.c("resourcegroupstaggingapi").get_paginator("get_resources")
            arns = [
                m["ResourceARN"]
                for page in paginator.paginate(TagFilters=[{"Key": TAG_KEY, "Values": [n.deployment]}])
                for m in page.get("ResourceTagMappingList", [])
            ]
        except Exception as exc:
            self.notes.append(
                f"the tagging API could not be used ({error_code(exc) or type(exc).__name__}); "
                "listed each service instead"
            )
            return out
        for arn in arns:
            parsed = _from_arn(arn, n)
            if parsed is not None:
                out.append(parsed)
        return out

    def _by_name(self) -> list[tuple[str, ResourceRecord]]:
        n = self.names
        out: list[tuple[str, ResourceRecord]] = []
        # S3: the bucket's name is fixed by deployment, account and region
        try:
            self.c("s3").head_bucket(Bucket=n.bucket)
            out.append(("bucket", ResourceRecord("s3:bucket", n.bucket)))
        except Exception as exc:
            if error_code(exc) not in ("404", "NoSuchBucket", "NotFound"):
                raise
        # SageMaker
        sm = self.c("sagemaker")
        model_re, config_re = _model_re(n), _config_re(n)
        for page in sm.get_paginator("list_models").paginate(NameContains=n.model_prefix):
            for m in page.get("Models", []):
                if model_re.match(m["ModelName"]):
                    out.append((f"model@{m['ModelName']}", ResourceRecord("sagemaker:model", m["ModelName"])))
        for page in sm.get_paginator("list_endpoint_configs").paginate(NameContains=n.endpoint_config_prefix):
            for c in page.get("EndpointConfigs", []):
                if config_re.match(c["EndpointConfigName"]):
                    name = c["EndpointConfigName"]
                    out.append((f"endpoint_config@{name}", ResourceRecord("sagemaker:endpoint-config", name)))
        for page in sm.get_paginator("list_endpoints").paginate(NameContains=n.endpoint):
            for e in page.get("Endpoints", []):
                if e["EndpointName"] == n.endpoint:
                    out.append(("endpoint", ResourceRecord("sagemaker:endpoint", n.endpoint)))
        # Application Auto Scaling
        targets = self.c("application-autoscaling").describe_scalable_targets(
            ServiceNamespace="sagemaker",
            ResourceIds=[n.scaling_resource_id],
            ScalableDimension=SCALABLE_DIMENSION,
        )
        if targets.get("ScalableTargets"):
            out.append(
                (
                    "autoscaling",
                    ResourceRecord(
                        "autoscaling:scalable-target",
                        n.scaling_resource_id,
                        {"policy": n.scaling_policy},
                    ),
                )
            )
        # Lambda
        try:
            self.c("lambda").get_function(FunctionName=n.function)
            out.append(("function", ResourceRecord("lambda:function", n.function)))
        except Exception as exc:
            if not _gone(exc):
                raise
        # IAM
        for key, role in (("sagemaker_role", n.sagemaker_role), ("lambda_role", n.lambda_role)):
            try:
                self.c("iam").get_role(RoleName=role)
                out.append((key, ResourceRecord("iam:role", role)))
            except Exception as exc:
                if not _gone(exc):
                    raise
        # API Gateway
        apigw = self.c("apigatewayv2")
        for page in apigw.get_paginator("get_apis").paginate():
            for api in page.get("Items", []):
                if api.get("Name") == n.api and (api.get("Tags") or {}).get(TAG_KEY) == n.deployment:
                    out.append((f"api@{api['ApiId']}", ResourceRecord("apigateway:api", api["ApiId"])))
        # CloudWatch Logs
        logs = self.c("logs")
        for group in n.log_groups:
            for page in logs.get_paginator("describe_log_groups").paginate(logGroupNamePrefix=group):
                for g in page.get("logGroups", []):
                    if g.get("logGroupName") == group:
                        out.append((f"log_group@{group}", ResourceRecord("logs:log-group", group)))
        return out

    # -- deletion -----------------------------------------------------------------------------------

    def delete(self, rec: ResourceRecord, events: Events) -> None:
        handler = getattr(self, "_delete_" + rec.kind.split(":", 1)[1].replace("-", "_"), None)
        if handler is None:
            raise ValueError(f"no deleter for {rec.kind}")
        try:
            handler(rec, events)
        except Exception as exc:
            if not _gone(exc):
                raise

    def _delete_permission(self, rec: ResourceRecord, events: Events) -> None:
        self.c("lambda").remove_permission(
            FunctionName=rec.attrs.get("function", self.names.function),
            StatementId=rec.id,
            Qualifier=rec.attrs.get("qualifier", ALIAS),
        )

    def _delete_stage(self, rec: ResourceRecord, events: Events) -> None:
        api_id = rec.attrs.get("api_id") or rec.id.split("/", 1)[0]
        self.c("apigatewayv2").delete_stage(ApiId=api_id, StageName=STAGE)

    def _delete_route(self, rec: ResourceRecord, events: Events) -> None:
        self.c("apigatewayv2").delete_route(ApiId=rec.attrs["api_id"], RouteId=rec.id)

    def _delete_integration(self, rec: ResourceRecord, events: Events) -> None:
        self.c("apigatewayv2").delete_integration(ApiId=rec.attrs["api_id"], IntegrationId=rec.id)

    def _delete_api(self, rec: ResourceRecord, events: Events) -> None:
        self.c("apigatewayv2").delete_api(ApiId=rec.id)

    def _delete_alias(self, rec: ResourceRecord, events: Events) -> None:
        function, _, alias = rec.id.partition(":")
        client = self.c("lambda")
        if rec.attrs.get("provisioned"):
            try:
                client.delete_provisioned_concurrency_config(FunctionName=function, Qualifier=alias or ALIAS)
            except Exception as exc:
                if not _gone(exc):
                    raise
        client.delete_alias(FunctionName=function, Name=alias or ALIAS)

    def _delete_function(self, rec: ResourceRecord, events: Events) -> None:
        self.c("lambda").delete_function(FunctionName=rec.id)

    def _delete_scalable_target(self, rec: ResourceRecord, events: Events) -> None:
        client = self.c("application-autoscaling")
        try:
            client.delete_scaling_policy(
                PolicyName=rec.attrs.get("policy", self.names.scaling_policy),
                ServiceNamespace="sagemaker",
                ResourceId=rec.id,
                ScalableDimension=SCALABLE_DIMENSION,
            )
        except Exception as exc:
            if not _gone(exc):
                raise
        client.deregister_scalable_target(
            ServiceNamespace="sagemaker", ResourceId=rec.id, ScalableDimension=SCALABLE_DIMENSION
        )

    def _delete_endpoint(self, rec: ResourceRecord, events: Events) -> None:
        client = self.c("sagemaker")
        client.delete_endpoint(EndpointName=rec.id)
        deadline = time.monotonic() + self.timeout_s
        while True:
            try:
                client.describe_endpoint(EndpointName=rec.id)
            except Exception as exc:
                if _gone(exc):
                    return
                raise
            if time.monotonic() > deadline:
                raise TimeoutError(f"endpoint {rec.id} is still being deleted")
            events.info(f"waiting for endpoint {rec.id} to be deleted")
            self.sleep(self.poll_s)

    def _delete_endpoint_config(self, rec: ResourceRecord, events: Events) -> None:
        self.c("sagemaker").delete_endpoint_config(EndpointConfigName=rec.id)

    def _delete_model(self, rec: ResourceRecord, events: Events) -> None:
        self.c("sagemaker").delete_model(ModelName=rec.id)

    def _delete_role(self, rec: ResourceRecord, events: Events) -> None:
        iam = self.c("iam")
        for page in iam.get_paginator("list_role_policies").paginate(RoleName=rec.id):
            for policy in page.get("PolicyNames", []):
                iam.delete_role_policy(RoleName=rec.id, PolicyName=policy)
        for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=rec.id):
            for policy in page.get("AttachedPolicies", []):
                iam.detach_role_policy(RoleName=rec.id, PolicyArn=policy["PolicyArn"])
        iam.delete_role(RoleName=rec.id)

    def _delete_log_group(self, rec: ResourceRecord, events: Events) -> None:
        self.c("logs").delete_log_group(logGroupName=rec.id)

    def _delete_bucket_policy(self, rec: ResourceRecord, events: Events) -> None:
        self.c("s3").delete_bucket_policy(Bucket=rec.id)

    def _delete_object(self, rec: ResourceRecord, events: Events) -> None:
        bucket = rec.attrs.get("bucket", self.names.bucket)
        self._delete_versions(bucket, prefix=rec.id, exact=True)

    def _delete_bucket(self, rec: ResourceRecord, events: Events) -> None:
        s3 = self.c("s3")
        try:
            s3.delete_bucket_policy(Bucket=rec.id)  # first: a TLS-only Deny must not stand in the way
        except Exception as exc:
            if not _gone(exc):
                raise
        count = self._delete_versions(rec.id)
        if count:
            events.info(f"deleted {count} object version(s) and delete marker(s) from {rec.id}")
        s3.delete_bucket(Bucket=rec.id)

    def _delete_versions(self, bucket: str, prefix: str = "", exact: bool = False) -> int:
        s3 = self.c("s3")
        count = 0
        paginator = s3.get_paginator("list_object_versions")
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            items = [
                {"Key": v["Key"], "VersionId": v["VersionId"]}
                for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
                if not exact or v["Key"] == prefix
            ]
            for start in range(0, len(items), 1000):
                batch = items[start : start + 1000]
                result = s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
                errors = result.get("Errors") or []
                if errors:
                    first = errors[0]
                    where = f"s3://{bucket}/{first.get('Key')}"
                    raise RuntimeError(
                        f"could not delete {where}: {first.get('Code')} {first.get('Message')}"
                    )
                count += len(batch)
        return count


def _model_re(n: Names) -> re.Pattern[str]:
    return re.compile(rf"^{re.escape(n.deployment)}-model-[0-9a-f]{{12}}$")


def _config_re(n: Names) -> re.Pattern[str]:
    return re.compile(rf"^{re.escape(n.deployment)}-config-[0-9a-f]{{12}}$")


def sort_for_deletion(items: list[tuple[str, ResourceRecord]]) -> list[tuple[str, ResourceRecord]]:
    return sorted(items, key=lambda kr: RANK.get(kr[1].kind, 99))


def _from_arn(arn: str, n: Names) -> tuple[str, ResourceRecord] | None:
    """A tagged resource's ARN as (state key, record), for the kinds ocrkit creates."""
    parts = arn.split(":", 5)
    if len(parts) < 6:
        return None
    service, resource = parts[2], parts[5]
    if service == "s3" and "/" not in resource:
        return "bucket", ResourceRecord("s3:bucket", resource)
    if service == "sagemaker":
        # SageMaker ARNs hold names in lower case; ocrkit's names are lower case already
        kind, _, name = resource.partition("/")
        if kind == "model" and _model_re(n).match(name):
            return f"model@{name}", ResourceRecord("sagemaker:model", name)
        if kind == "endpoint-config" and _config_re(n).match(name):
            return f"endpoint_config@{name}", ResourceRecord("sagemaker:endpoint-config", name)
        if kind == "endpoint" and name == n.endpoint:
            return "endpoint", ResourceRecord("sagemaker:endpoint", name)
        return None
    if service == "lambda" and resource.startswith("function:"):
        name = resource.split(":")[1]
        return ("function", ResourceRecord("lambda:function", name)) if name == n.function else None
    if service == "logs" and resource.startswith("log-group:"):
        group = resource[len("log-group:") :].removesuffix(":*")
        if group not in n.log_groups:
            return None
        return f"log_group@{group}", ResourceRecord("logs:log-group", group)
    if service == "apigateway" and resource.startswith("/apis/"):
        api_id = resource.split("/")[2]
        return f"api@{api_id}", ResourceRecord("apigateway:api", api_id)
    return None
