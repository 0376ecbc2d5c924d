"""Names, ARNs and tags of one deployment's AWS resources, all derived from the deployment name.

Every name starts with the deployment name (log groups whose names AWS fixes, /aws/lambda/<function> and
/aws/sagemaker/Endpoints/<endpoint>, carry it right after the fixed part), and every resource that can hold
tags carries `ocrkit:deployment=<name>`. That is what lets teardown find everything when the state file is
lost. The bucket name adds the account and region, since bucket names are global.
"""

from __future__ import annotations

from dataclasses import dataclass

TAG_KEY = "ocrkit:deployment"
VARIANT = "AllTraffic"
ALIAS = "live"
ROUTE_KEY = "POST /predict"
STAGE = "$default"
SCALABLE_DIMENSION = "sagemaker:variant:DesiredInstanceCount"


@dataclass(frozen=True)
class Names:
    deployment: str
    account: str
    region: str
    partition: str = "aws"

    # -- names --------------------------------------------------------------------------------------

    @property
    def bucket(self) -> str:
        return f"{self.deployment}-{self.account}-{self.region}"

    def artifact_key(self, sha256: str) -> str:
        return f"{self.deployment}/model-{sha256}.tar.gz"

    @property
    def artifact_prefix(self) -> str:
        return f"{self.deployment}/"

    @property
    def sagemaker_role(self) -> str:
        return f"{self.deployment}-sagemaker-role"

    @property
    def lambda_role(self) -> str:
        return f"{self.deployment}-lambda-role"

    @property
    def role_policy(self) -> str:
        return f"{self.deployment}-least-privilege"

    def model(self, digest: str) -> str:
        return f"{self.deployment}-model-{digest[:12]}"

    @property
    def model_prefix(self) -> str:
        return f"{self.deployment}-model-"

    def endpoint_config(self, digest: str) -> str:
        return f"{self.deployment}-config-{digest[:12]}"

    @property
    def endpoint_config_prefix(self) -> str:
        return f"{self.deployment}-config-"

    @property
    def endpoint(self) -> str:
        return f"{self.deployment}-endpoint"

    @property
    def scaling_resource_id(self) -> str:
        return f"endpoint/{self.endpoint}/variant/{VARIANT}"

    @property
    def scaling_policy(self) -> str:
        return f"{self.deployment}-invocations-per-instance"

    @property
    def function(self) -> str:
        return f"{self.deployment}-gateway"

    @property
    def api(self) -> str:
        return f"{self.deployment}-api"

    @property
    def permission_sid(self) -> str:
        return f"{self.deployment}-apigw-invoke"

    @property
    def endpoint_log_group(self) -> str:
        return f"/aws/sagemaker/Endpoints/{self.endpoint}"

    @property
    def lambda_log_group(self) -> str:
        return f"/aws/lambda/{self.function}"

    @property
    def api_log_group(self) -> str:
        return f"{self.deployment}-api-access-logs"

    @property
    def log_groups(self) -> tuple[str, ...]:
        return (self.endpoint_log_group, self.lambda_log_group, self.api_log_group, self.trigger_log_group)

    # -- the bucket-triggered pipeline (--trigger s3) ---------------------------------------------------

    @property
    def trigger_bucket(self) -> str:
        """The input bucket: user uploads and their results, apart from the model artifacts."""
        return f"{self.deployment}-in-{self.account}-{self.region}"

    @property
    def trigger_function(self) -> str:
        return f"{self.deployment}-s3-trigger"

    @property
    def trigger_role(self) -> str:
        return f"{self.deployment}-trigger-role"

    @property
    def trigger_queue(self) -> str:
        return f"{self.deployment}-trigger-dlq"

    @property
    def trigger_log_group(self) -> str:
        return f"/aws/lambda/{self.trigger_function}"

    @property
    def trigger_permission_sid(self) -> str:
        return f"{self.deployment}-s3-invoke"

    @property
    def notification_id_prefix(self) -> str:
        """The Id prefix of the notification configurations ocrkit makes (others are left as they are)."""
        return f"ocrkit-{self.deployment}-"

    # -- ARNs ---------------------------------------------------------------------------------------

    def _arn(self, service: str, resource: str, *, region: bool = True, account: bool = True) -> str:
        return (
            f"arn:{self.partition}:{service}:{self.region if region else ''}:"
            f"{self.account if account else ''}:{resource}"
        )

    @property
    def bucket_arn(self) -> str:
        return f"arn:{self.partition}:s3:::{self.bucket}"

    def object_arn(self, key: str) -> str:
        return f"{self.bucket_arn}/{key}"

    @property
    def trigger_bucket_arn(self) -> str:
        return f"arn:{self.partition}:s3:::{self.trigger_bucket}"

    @property
    def trigger_function_arn(self) -> str:
        return self._arn("lambda", f"function:{self.trigger_function}")

    @property
    def trigger_queue_arn(self) -> str:
        return self._arn("sqs", self.trigger_queue)

    def role_arn(self, role: str) -> str:
        return self._arn("iam", f"role/{role}", region=False)

    @property
    def endpoint_arn(self) -> str:
        # SageMaker writes resource names in ARNs in lower case
        return self._arn("sagemaker", f"endpoint/{self.endpoint.lower()}")

    def log_group_arn(self, group: str) -> str:
        return self._arn("logs", f"log-group:{group}")

    @property
    def function_arn(self) -> str:
        return self._arn("lambda", f"function:{self.function}")

    @property
    def alias_arn(self) -> str:
        return f"{self.function_arn}:{ALIAS}"

    def execute_api_arn(self, api_id: str) -> str:
        return self._arn("execute-api", f"{api_id}/*/POST/predict")

    def subnet_arn(self, subnet: str) -> str:
        return self._arn("ec2", f"subnet/{subnet}")

    def security_group_arn(self, group: str) -> str:
        return self._arn("ec2", f"security-group/{group}")

    @property
    def network_interfaces_arn(self) -> str:
        return self._arn("ec2", "network-interface/*")

    # -- tags ---------------------------------------------------------------------------------------

    @property
    def tag_value(self) -> str:
        return self.deployment

    def tag_list(self, key_name: str = "Key", value_name: str = "Value") -> list[dict[str, str]]:
        return [{key_name: TAG_KEY, value_name: self.deployment}]

    @property
    def tag_map(self) -> dict[str, str]:
        return {TAG_KEY: self.deployment}


def ecr_repository_arn(image_uri: str, partition: str = "aws") -> str:
    """`<acct>.dkr.ecr.<region>.amazonaws.com/<repo>:<tag>` -> the repository's ARN."""
    host, _, rest = image_uri.partition("/")
    parts = host.split(".")
    if len(parts) < 4 or parts[1:3] != ["dkr", "ecr"]:
        raise ValueError(f"not an ECR image URI: {image_uri}")
    account, region = parts[0], parts[3]
    head, sep, last = rest.split("@", 1)[0].rpartition("/")
    last = last.split(":", 1)[0]
    repo = f"{head}/{last}" if sep else last
    return f"arn:{partition}:ecr:{region}:{account}:repository/{repo}"
