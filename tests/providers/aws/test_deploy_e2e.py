"""End to end against the moto server: deploy -> every resource as configured -> deploy again changes
nothing -> new weights replace model and endpoint config -> teardown leaves nothing."""

from __future__ import annotations

import json

import boto3
import pytest

from ocrkit.deploy.pipeline import destroy
from ocrkit.deploy.progress import RecordingEvents
from ocrkit.deploy.state import load_state
from ocrkit.providers.aws import policies
from ocrkit.providers.aws.names import TAG_KEY
from ocrkit.providers.aws.spec import max_request_bytes
from tests.providers.aws.conftest import REGION, Deployer, policy_doc

pytestmark = pytest.mark.slow

ACCOUNT = "123456789012"
NAME = "demo"
BUCKET = f"{NAME}-{ACCOUNT}-{REGION}"
ENDPOINT = f"{NAME}-endpoint"
FUNCTION = f"{NAME}-gateway"
TAG = {TAG_KEY: NAME}


def client(service: str):
    return boto3.client(service, region_name=REGION)


def tags_of(items: list[dict]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in items}


def check_bucket(state) -> None:
    s3 = client("s3")
    pab = s3.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"]
    assert pab == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }
    rules = s3.get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert s3.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"
    assert tags_of(s3.get_bucket_tagging(Bucket=BUCKET)["TagSet"]) == TAG
    # The policy document itself (moto cannot show that AWS enforces it).
    doc = json.loads(s3.get_bucket_policy(Bucket=BUCKET)["Policy"])
    [statement] = doc["Statement"]
    assert statement["Effect"] == "Deny" and statement["Principal"] == "*" and statement["Action"] == "s3:*"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert sorted(statement["Resource"]) == [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"]
    key = state.outputs["artifact_key"]
    head = s3.head_object(Bucket=BUCKET, Key=key)
    assert head["Metadata"]["sha256"] == state.artifact_sha256
    assert key == f"{NAME}/model-{state.artifact_sha256}.tar.gz"


def check_roles(state) -> None:
    iam = client("iam")
    key = state.outputs["artifact_key"]
    for role, service in ((f"{NAME}-sagemaker-role", "sagemaker"), (f"{NAME}-lambda-role", "lambda")):
        got = iam.get_role(RoleName=role)["Role"]
        trust = policy_doc(got["AssumeRolePolicyDocument"])
        assert trust["Statement"][0]["Principal"] == {"Service": f"{service}.amazonaws.com"}
        assert tags_of(iam.list_role_tags(RoleName=role)["Tags"]) == TAG
        assert iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"] == []  # no *FullAccess
        names = iam.list_role_policies(RoleName=role)["PolicyNames"]
        assert names == [f"{NAME}-least-privilege"]
        doc = policy_doc(iam.get_role_policy(RoleName=role, PolicyName=names[0])["PolicyDocument"])
        assert policies.findings(doc) == [], doc
        by_sid = {s["Sid"]: s for s in doc["Statement"]}
        for s in doc["Statement"]:
            if s["Resource"] == "*":
                assert s["Action"] == "ecr:GetAuthorizationToken"
        if service == "sagemaker":
            assert by_sid["ReadTheModelArtifact"]["Action"] == "s3:GetObject"
            assert by_sid["ReadTheModelArtifact"]["Resource"] == f"arn:aws:s3:::{BUCKET}/{key}"
            assert by_sid["PullTheInferenceImage"]["Resource"] == (
                "arn:aws:ecr:us-east-1:763104351884:repository/pytorch-inference"
            )
            log_arn = f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/aws/sagemaker/Endpoints/{ENDPOINT}"
            assert by_sid["WriteTheEndpointLogs"]["Resource"] == [log_arn, f"{log_arn}:*"]
        else:
            assert set(by_sid) == {"InvokeTheOneEndpoint", "WriteTheFunctionLogs"}
            assert by_sid["InvokeTheOneEndpoint"]["Action"] == "sagemaker:InvokeEndpoint"
            assert by_sid["InvokeTheOneEndpoint"]["Resource"] == (
                f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:endpoint/{ENDPOINT}"
            )


def check_sagemaker(state) -> None:
    sm = client("sagemaker")
    model = sm.describe_model(ModelName=state.outputs["model_name"])
    container = model["PrimaryContainer"]
    assert (
        container["Image"] == "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.3.0-gpu-py311"
    )
    assert container["ModelDataUrl"] == f"s3://{BUCKET}/{state.outputs['artifact_key']}"
    assert container["Environment"]["SAGEMAKER_PROGRAM"] == "inference.py"
    assert model["ExecutionRoleArn"] == f"arn:aws:iam::{ACCOUNT}:role/{NAME}-sagemaker-role"
    config = sm.describe_endpoint_config(EndpointConfigName=state.outputs["endpoint_config_name"])
    [variant] = config["ProductionVariants"]
    assert (variant["InstanceType"], variant["InitialInstanceCount"]) == ("ml.g4dn.xlarge", 1)
    assert variant["ModelName"] == state.outputs["model_name"]
    endpoint = sm.describe_endpoint(EndpointName=ENDPOINT)
    assert endpoint["EndpointStatus"] == "InService"
    assert endpoint["EndpointConfigName"] == state.outputs["endpoint_config_name"]
    assert tags_of(sm.list_tags(ResourceArn=endpoint["EndpointArn"])["Tags"]) == TAG
    assert tags_of(sm.list_tags(ResourceArn=model["ModelArn"])["Tags"]) == TAG

    aas = client("application-autoscaling")
    rid = f"endpoint/{ENDPOINT}/variant/AllTraffic"
    [target] = aas.describe_scalable_targets(ServiceNamespace="sagemaker", ResourceIds=[rid])[
        "ScalableTargets"
    ]
    assert (target["MinCapacity"], target["MaxCapacity"]) == (1, 3)
    assert target["ScalableDimension"] == "sagemaker:variant:DesiredInstanceCount"
    [policy] = aas.describe_scaling_policies(ServiceNamespace="sagemaker", ResourceId=rid)["ScalingPolicies"]
    tracking = policy["TargetTrackingScalingPolicyConfiguration"]
    assert policy["PolicyType"] == "TargetTrackingScaling"
    assert tracking["PredefinedMetricSpecification"]["PredefinedMetricType"] == (
        "SageMakerVariantInvocationsPerInstance"
    )
    assert tracking["TargetValue"] == 100.0


def check_lambda_and_api(state) -> None:
    lam = client("lambda")
    got = lam.get_function(FunctionName=FUNCTION)
    conf = got["Configuration"]
    assert conf["Runtime"] == "python3.12"
    assert conf["Handler"] == "ocrkit.runtime.lambda_entry.handler"
    assert (conf["MemorySize"], conf["Timeout"]) == (512, 29)
    env = conf["Environment"]["Variables"]
    assert env["OCRKIT_ENDPOINT_NAME"] == ENDPOINT
    assert env["OCRKIT_BACKEND_TIMEOUT_S"] == "25"  # the endpoint's, under the Lambda's 29 s
    assert int(env["OCRKIT_MAX_REQUEST_BYTES"]) == max_request_bytes()  # Lambda's 6 MB after base64
    assert env["OCRKIT_MAX_IMAGE_BYTES"] == str(4 * 1024 * 1024)
    assert got["Concurrency"]["ReservedConcurrentExecutions"] == 5
    assert got["Tags"][TAG_KEY] == NAME
    alias = lam.get_alias(FunctionName=FUNCTION, Name="live")
    assert alias["FunctionVersion"] == state.outputs["function_version"]

    apigw = client("apigatewayv2")
    api_id = state.outputs["api_id"]
    api = apigw.get_api(ApiId=api_id)
    assert api["ProtocolType"] == "HTTP" and api["Tags"] == TAG
    [route] = apigw.get_routes(ApiId=api_id)["Items"]
    assert route["RouteKey"] == "POST /predict" and route["AuthorizationType"] == "NONE"
    [integration] = apigw.get_integrations(ApiId=api_id)["Items"]
    assert route["Target"] == f"integrations/{integration['IntegrationId']}"
    assert integration["IntegrationType"] == "AWS_PROXY"
    assert integration["PayloadFormatVersion"] == "2.0"
    assert integration["IntegrationUri"] == f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{FUNCTION}:live"
    assert integration["TimeoutInMillis"] == 30000
    [stage] = apigw.get_stages(ApiId=api_id)["Items"]
    assert stage["StageName"] == "$default" and stage["AutoDeploy"] is True
    assert stage["DefaultRouteSettings"]["ThrottlingRateLimit"] == 7.0
    assert stage["DefaultRouteSettings"]["ThrottlingBurstLimit"] == 14
    access = stage["AccessLogSettings"]
    assert access["DestinationArn"] == f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:{NAME}-api-access-logs"
    assert "$context.requestId" in access["Format"]

    policy = json.loads(lam.get_policy(FunctionName=FUNCTION, Qualifier="live")["Policy"])
    [statement] = policy["Statement"]
    assert statement["Principal"] == {"Service": "apigateway.amazonaws.com"}
    assert statement["Condition"]["ArnLike"]["AWS:SourceArn"] == (
        f"arn:aws:execute-api:us-east-1:{ACCOUNT}:{api_id}/*/POST/predict"
    )
    assert state.outputs["url"] == api["ApiEndpoint"]
    assert state.outputs["invoke_url"] == f"{api['ApiEndpoint']}/predict"

    logs = client("logs")
    for group, days in (
        (f"/aws/sagemaker/Endpoints/{ENDPOINT}", 30),
        (f"/aws/lambda/{FUNCTION}", 30),
        (f"{NAME}-api-access-logs", 30),
    ):
        [found] = [g for g in logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]]
        assert found["logGroupName"] == group and found["retentionInDays"] == days


def assert_nothing_left() -> None:
    assert [b["Name"] for b in client("s3").list_buckets()["Buckets"]] == []
    assert [
        r["RoleName"] for r in client("iam").list_roles()["Roles"] if r["RoleName"].startswith(NAME)
    ] == []
    sm = client("sagemaker")
    assert sm.list_models()["Models"] == []
    assert sm.list_endpoint_configs()["EndpointConfigs"] == []
    assert sm.list_endpoints()["Endpoints"] == []
    assert client("lambda").list_functions()["Functions"] == []
    assert client("apigatewayv2").get_apis()["Items"] == []
    aas = client("application-autoscaling")
    assert aas.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"] == []
    assert aas.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"] == []
    assert client("logs").describe_log_groups()["logGroups"] == []
    tagged = client("resourcegroupstaggingapi").get_resources(TagFilters=[{"Key": TAG_KEY, "Values": [NAME]}])
    assert tagged["ResourceTagMappingList"] == []


OVERRIDES = {
    "lambda.memory_mb": 512,
    "lambda.reserved_concurrency": 5,
    "api.throttling_rate_limit": 7,
    "api.throttling_burst_limit": 14,
    "sagemaker.autoscaling.max_instances": 3,
}


def test_deploy_redeploy_new_weights_teardown(deployer: Deployer) -> None:
    # 1. deploy: everything is created, in order, with progress for the upload
    plan, state, events = deployer.deploy(0, **OVERRIDES)
    assert {c.action for c in plan.calls} == {"create"}
    assert plan.hourly_cost is not None and plan.hourly_cost > 0
    assert any("public" in w for w in plan.warnings)
    assert any("could not check the Service Quotas" in w for w in plan.warnings)  # moto has no quota API
    upload = events.progress_of("upload model.tar.gz")
    assert upload[-1][0] == upload[-1][1] == state.resources["artifact"].attrs["size"]
    saved = load_state(NAME, "aws")
    assert saved is not None and set(saved.resources) == set(state.resources)
    assert saved.config_hash and saved.artifact_sha256
    check_bucket(saved)
    check_roles(saved)
    check_sagemaker(saved)
    check_lambda_and_api(saved)

    # 2. the same config again: all noop, and no call that writes anything
    deployer.calls.clear()
    plan, state, _ = deployer.deploy(0, **OVERRIDES)
    assert plan.changes == []
    assert deployer.writes() == []

    # 3. new weights: new model + endpoint config, update_endpoint, the old ones removed
    old_model, old_config = state.outputs["model_name"], state.outputs["endpoint_config_name"]
    old_key = state.outputs["artifact_key"]
    deployer.calls.clear()
    plan, state, events = deployer.deploy(1, **OVERRIDES)
    changes = {(c.resource, c.action) for c in plan.changes}
    assert {("model", "create"), ("endpoint_config", "create"), ("endpoint", "update")} <= changes
    assert (f"model@{old_model}", "delete") in changes
    assert (f"endpoint_config@{old_config}", "delete") in changes
    assert ("function", "update") not in changes  # the gateway did not change
    assert "sagemaker.UpdateEndpoint" in deployer.calls
    assert "sagemaker.DeleteEndpoint" not in deployer.calls  # no downtime: the endpoint is switched
    sm = client("sagemaker")
    assert [m["ModelName"] for m in sm.list_models()["Models"]] == [state.outputs["model_name"]]
    assert [c["EndpointConfigName"] for c in sm.list_endpoint_configs()["EndpointConfigs"]] == [
        state.outputs["endpoint_config_name"]
    ]
    assert (
        sm.describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"]
        == state.outputs["endpoint_config_name"]
    )
    keys = [o["Key"] for o in client("s3").list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    assert keys == [state.outputs["artifact_key"]] and old_key not in keys
    assert not any("@" in key for key in state.resources)  # nothing retired is left in the state
    check_roles(load_state(NAME, "aws"))  # the role now reads the new artifact only

    # 4. teardown: everything goes, a listing proves it, the state file is removed
    provider = deployer.provider(1)
    events = RecordingEvents()
    report = destroy(provider, NAME, load_state(NAME, "aws"), events)
    assert report.remaining == []
    assert len(report.deleted) >= 19
    assert_nothing_left()
    assert load_state(NAME, "aws") is None
    again = destroy(provider, NAME, None, RecordingEvents())  # idempotent
    assert again.deleted == [] and again.remaining == []
