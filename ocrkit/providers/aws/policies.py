"""IAM and bucket policy documents, least privilege, built locally (no calls).

- The SageMaker execution role may read the one artifact object, pull the inference image (ECR actions on
  that image's repository; `ecr:GetAuthorizationToken` has no resource-level scope, so it needs `*`) and
  write to the endpoint's own log group.
- The Lambda role may call `sagemaker:InvokeEndpoint` on the one endpoint and write to its own log group.
- `--serving function`: the Lambda role may `s3:GetObject` the one ONNX model object (plus `kms:Decrypt` on
  the bucket's key under aws:kms) and write to its own log group; no SageMaker action at all.
- `--trigger s3`: the trigger Lambda may read the input prefix, write the output and error prefixes of the
  input bucket, send to its dead-letter queue, write its logs, plus the endpoint or model object above.
- The bucket refuses any request not made over TLS.

`findings()` checks a policy document for what least privilege rules out (managed `*FullAccess` policies are
never attached, so only inline documents need checking): `"Resource": "*"` for an action that can be scoped,
wildcard actions, and `NotAction`/`NotResource`.
"""

from __future__ import annotations

from typing import Any

from ocrkit.batch.trigger import TriggerRule
from ocrkit.providers.aws.names import Names, ecr_repository_arn

VERSION = "2012-10-17"

# Actions that AWS does not scope to a resource: "*" is the only Resource they take.
UNSCOPED_ACTIONS = frozenset(
    {
        "ecr:GetAuthorizationToken",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeVpcs",
        "ec2:DescribeSubnets",
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeDhcpOptions",
    }
)

ECR_PULL = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]


def trust_policy(service: str) -> dict[str, Any]:
    return {
        "Version": VERSION,
        "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
    }


def _log_statement(sid: str, names: Names, group: str) -> dict[str, Any]:
    arn = names.log_group_arn(group)
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Action": [
            "logs:CreateLogGroup",
            "logs:CreateLogStream",
            "logs:DescribeLogStreams",
            "logs:PutLogEvents",
        ],
        "Resource": [arn, f"{arn}:*"],
    }


def _vpc_statements(names: Names, subnets: list[str], groups: list[str]) -> list[dict[str, Any]]:
    return [
        {
            "Sid": "DescribeNetwork",
            "Effect": "Allow",
            "Action": sorted(a for a in UNSCOPED_ACTIONS if a.startswith("ec2:")),
            "Resource": "*",
        },
        {
            "Sid": "NetworkInterfacesInTheseSubnets",
            "Effect": "Allow",
            "Action": [
                "ec2:CreateNetworkInterface",
                "ec2:CreateNetworkInterfacePermission",
                "ec2:DeleteNetworkInterface",
                "ec2:DeleteNetworkInterfacePermission",
                "ec2:AssignPrivateIpAddresses",
                "ec2:UnassignPrivateIpAddresses",
            ],
            "Resource": [
                names.network_interfaces_arn,
                *(names.subnet_arn(s) for s in subnets),
                *(names.security_group_arn(g) for g in groups),
            ],
        },
    ]


def sagemaker_role_policy(
    names: Names,
    *,
    artifact_key: str,
    image_uri: str,
    kms_key_arn: str | None = None,
    vpc: tuple[list[str], list[str]] | None = None,
) -> dict[str, Any]:
    statements: list[dict[str, Any]] = [
        {
            "Sid": "ReadTheModelArtifact",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": names.object_arn(artifact_key),
        },
        {
            "Sid": "PullTheInferenceImage",
            "Effect": "Allow",
            "Action": ECR_PULL,
            "Resource": ecr_repository_arn(image_uri, names.partition),
        },
        {
            "Sid": "EcrLoginHasNoResourceScope",
            "Effect": "Allow",
            "Action": "ecr:GetAuthorizationToken",
            "Resource": "*",
        },
        _log_statement("WriteTheEndpointLogs", names, names.endpoint_log_group),
    ]
    return _with_key_and_vpc(statements, names, "DecryptTheArtifact", kms_key_arn, vpc)


def lambda_role_policy(names: Names, *, vpc: tuple[list[str], list[str]] | None = None) -> dict[str, Any]:
    statements: list[dict[str, Any]] = [
        {
            "Sid": "InvokeTheOneEndpoint",
            "Effect": "Allow",
            "Action": "sagemaker:InvokeEndpoint",
            "Resource": names.endpoint_arn,
        },
        _log_statement("WriteTheFunctionLogs", names, names.lambda_log_group),
    ]
    if vpc:
        statements += _vpc_statements(names, *vpc)
    return {"Version": VERSION, "Statement": statements}


def function_model_role_policy(
    names: Names,
    *,
    model_key: str,
    kms_key_arn: str | None = None,
    vpc: tuple[list[str], list[str]] | None = None,
) -> dict[str, Any]:
    """`--serving function`: read the one model object (and decrypt it under aws:kms), write the
    function's own logs. Nothing else: no SageMaker, no listing, no other object."""
    statements: list[dict[str, Any]] = [
        {
            "Sid": "ReadTheOneModelObject",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": names.object_arn(model_key),
        },
        _log_statement("WriteTheFunctionLogs", names, names.lambda_log_group),
    ]
    return _with_key_and_vpc(statements, names, "DecryptTheModelObject", kms_key_arn, vpc)


def trigger_role_policy(
    names: Names,
    *,
    rule: TriggerRule,
    endpoint: bool,
    model_key: str | None = None,
    kms_key_arn: str | None = None,
    vpc: tuple[list[str], list[str]] | None = None,
) -> dict[str, Any]:
    """The trigger Lambda: read `<input_prefix>*` of the input bucket, write `<output_prefix>*` and
    `<error_prefix>*` there, send to its own dead-letter queue, write its own logs, and either invoke the
    one endpoint (`endpoint`) or read the one ONNX model object (`--serving function`). Nothing else: no
    listing, no delete, no other prefix."""
    bucket = names.trigger_bucket_arn
    statements: list[dict[str, Any]] = [
        {
            "Sid": "ReadTheInputPrefix",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": f"{bucket}/{rule.input_prefix}*",
        },
        {
            "Sid": "WriteResultsAndErrors",
            "Effect": "Allow",
            "Action": "s3:PutObject",
            "Resource": [f"{bucket}/{rule.output_prefix}*", f"{bucket}/{rule.error_prefix}*"],
        },
        {
            "Sid": "DeadLetterToItsOwnQueue",
            "Effect": "Allow",
            "Action": "sqs:SendMessage",
            "Resource": names.trigger_queue_arn,
        },
        _log_statement("WriteTheTriggerLogs", names, names.trigger_log_group),
    ]
    if endpoint:
        statements.insert(
            0,
            {
                "Sid": "InvokeTheOneEndpoint",
                "Effect": "Allow",
                "Action": "sagemaker:InvokeEndpoint",
                "Resource": names.endpoint_arn,
            },
        )
    elif model_key is not None:
        statements.insert(
            0,
            {
                "Sid": "ReadTheOneModelObject",
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": names.object_arn(model_key),
            },
        )
    return _with_key_and_vpc(statements, names, "DecryptWithTheBucketKey", kms_key_arn, vpc)


def _with_key_and_vpc(
    statements: list[dict[str, Any]],
    names: Names,
    kms_sid: str,
    kms_key_arn: str | None,
    vpc: tuple[list[str], list[str]] | None,
) -> dict[str, Any]:
    """A role's policy: its own statements, decrypting the model's key under aws:kms, and the network
    interfaces a VPC needs."""
    if kms_key_arn:
        statements.append(
            {"Sid": kms_sid, "Effect": "Allow", "Action": "kms:Decrypt", "Resource": kms_key_arn}
        )
    if vpc:
        statements += _vpc_statements(names, *vpc)
    return {"Version": VERSION, "Statement": statements}


def tls_only_bucket_policy(names: Names) -> dict[str, Any]:
    return {
        "Version": VERSION,
        "Statement": [
            {
                "Sid": "DenyRequestsWithoutTls",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [names.bucket_arn, f"{names.bucket_arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def findings(document: dict[str, Any]) -> list[str]:
    """What least privilege rules out in a policy document; [] when it is clean."""
    problems = []
    for i, statement in enumerate(_as_list(document.get("Statement"))):
        sid = statement.get("Sid") or f"statement {i}"
        if statement.get("Effect") != "Allow":
            continue
        if "NotAction" in statement or "NotResource" in statement:
            problems.append(f"{sid}: NotAction/NotResource grants more than it names")
        actions = [str(a) for a in _as_list(statement.get("Action"))]
        for action in actions:
            if action == "*" or action.endswith(":*"):
                problems.append(f"{sid}: wildcard action {action}")
        resources = [str(r) for r in _as_list(statement.get("Resource"))]
        if "*" in resources:
            scoped = [a for a in actions if a not in UNSCOPED_ACTIONS]
            if scoped:
                problems.append(f"{sid}: Resource '*' for actions that can be scoped: {', '.join(scoped)}")
    return problems


def canonical(document: Any) -> Any:
    """A policy document in a form where equal documents compare equal (lists of one are scalars)."""
    if isinstance(document, dict):
        return {k: canonical(v) for k, v in sorted(document.items())}
    if isinstance(document, list):
        items = [canonical(v) for v in document]
        if len(items) == 1:
            return items[0]
        if all(isinstance(v, str) for v in items):
            return sorted(items)
        return items
    return document
