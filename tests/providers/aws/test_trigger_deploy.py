"""`--trigger s3` against the moto server: the input bucket, the dead-letter queue, the trigger Lambda with
its retries and on-failure destination, S3's permission, the notification configuration with the exact
filters, the role's policy parsed for least privilege; a redeploy changes nothing; a failure half-way
resumes; teardown removes it all, keeping a bucket that still holds the user's objects."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from ocrkit.deploy.executor import StepFailed
from ocrkit.deploy.pipeline import destroy
from ocrkit.deploy.progress import RecordingEvents
from ocrkit.deploy.state import load_state
from ocrkit.errors import ConfigError
from ocrkit.providers.aws import policies
from ocrkit.providers.aws.package import TRIGGER_HANDLER
from ocrkit.providers.aws.provider import AwsProvider
from tests.providers.aws.conftest import Deployer, policy_doc
from tests.providers.aws.test_deploy_e2e import ACCOUNT, NAME, TAG, assert_nothing_left, client, tags_of
from tests.providers.helpers import failing_once

pytestmark = pytest.mark.slow

IN_BUCKET = f"{NAME}-in-{ACCOUNT}-us-east-1"
TRIGGER_FN = f"{NAME}-s3-trigger"
QUEUE = f"{NAME}-trigger-dlq"
QUEUE_ARN = f"arn:aws:sqs:us-east-1:{ACCOUNT}:{QUEUE}"
FN_ARN = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{TRIGGER_FN}"
ON = {"trigger.enabled": True}
TRIGGER_KEYS = {
    "trigger_bucket",
    "trigger_queue",
    "trigger_log_group",
    "trigger_role",
    "trigger_function",
    "trigger_async",
    "trigger_permission",
    "trigger_notification",
}


def expected_rules() -> list[tuple[str, str, str]]:
    """(Id, prefix, suffix) of each notification configuration ocrkit makes."""
    suffixes = [".png", ".PNG", ".jpg", ".JPG", ".jpeg", ".JPEG"]
    return [(f"ocrkit-{NAME}-{s}", "incoming/", s) for s in suffixes]


def notification_rules(bucket: str = IN_BUCKET) -> dict:
    got = client("s3").get_bucket_notification_configuration(Bucket=bucket)
    got.pop("ResponseMetadata", None)
    return got


def ours(config: dict) -> list[tuple[str, str, str]]:
    out = []
    for c in config.get("LambdaFunctionConfigurations", []):
        if not c["Id"].startswith(f"ocrkit-{NAME}-"):
            continue
        assert c["LambdaFunctionArn"] == FN_ARN
        assert c["Events"] == ["s3:ObjectCreated:*"]
        rules = {r["Name"].lower(): r["Value"] for r in c["Filter"]["Key"]["FilterRules"]}
        assert set(rules) == {"prefix", "suffix"}
        out.append((c["Id"], rules["prefix"], rules["suffix"]))
    return out


def test_trigger_deploy_redeploy_teardown(deployer: Deployer) -> None:
    plan, state, _ = deployer.deploy(0, **ON)
    assert set(state.resources) >= TRIGGER_KEYS
    assert {c.resource: c.action for c in plan.calls if c.resource in TRIGGER_KEYS} == dict.fromkeys(
        TRIGGER_KEYS, "create"
    )
    assert any("S3 trigger is not priced" in w for w in plan.warnings)

    # the input bucket: private, encrypted, tagged, apart from the model bucket
    s3 = client("s3")
    pab = s3.get_public_access_block(Bucket=IN_BUCKET)["PublicAccessBlockConfiguration"]
    assert all(pab.values()) and len(pab) == 4
    enc = s3.get_bucket_encryption(Bucket=IN_BUCKET)["ServerSideEncryptionConfiguration"]["Rules"]
    assert enc[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert tags_of(s3.get_bucket_tagging(Bucket=IN_BUCKET)["TagSet"]) == TAG

    # the dead-letter queue: encrypted (SSE-SQS), tagged, 14 days
    sqs = client("sqs")
    url = sqs.get_queue_url(QueueName=QUEUE)["QueueUrl"]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["SqsManagedSseEnabled"] == "true" and attrs["MessageRetentionPeriod"] == str(14 * 86400)
    assert attrs["QueueArn"] == QUEUE_ARN
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == TAG

    # the function: the deployment's zip with the trigger handler, the rule in its environment
    lam = client("lambda")
    fn = lam.get_function(FunctionName=TRIGGER_FN)
    conf = fn["Configuration"]
    assert conf["Handler"] == TRIGGER_HANDLER and conf["Timeout"] == 120
    gateway = lam.get_function(FunctionName=f"{NAME}-gateway")["Configuration"]
    assert conf["CodeSha256"] == gateway["CodeSha256"]
    env = conf["Environment"]["Variables"]
    assert env["OCRKIT_TRIGGER_INPUT_PREFIX"] == "incoming/"
    assert env["OCRKIT_TRIGGER_OUTPUT_PREFIX"] == "results/"
    assert env["OCRKIT_TRIGGER_ERROR_PREFIX"] == "errors/"
    assert env["OCRKIT_ENDPOINT_NAME"] == f"{NAME}-endpoint"
    assert fn["Tags"] == TAG

    # retries, then the queue
    cfg = lam.get_function_event_invoke_config(FunctionName=TRIGGER_FN)
    assert cfg["MaximumRetryAttempts"] == 2 and cfg["MaximumEventAgeInSeconds"] == 21600
    assert cfg["DestinationConfig"]["OnFailure"]["Destination"] == QUEUE_ARN

    # S3 may invoke it, for this bucket and this account only
    [statement] = json.loads(lam.get_policy(FunctionName=TRIGGER_FN)["Policy"])["Statement"]
    assert statement["Principal"] == {"Service": "s3.amazonaws.com"}
    assert statement["Action"] == "lambda:InvokeFunction"
    assert statement["Condition"]["ArnLike"]["AWS:SourceArn"] == f"arn:aws:s3:::{IN_BUCKET}"
    assert statement["Condition"]["StringEquals"]["AWS:SourceAccount"] == ACCOUNT

    # the notification configuration: one per suffix (and its upper-case twin), prefix + suffix
    assert sorted(ours(notification_rules())) == sorted(expected_rules())

    # the role: exactly the least privilege the brief names, parsed
    iam = client("iam")
    role = f"{NAME}-trigger-role"
    doc = policy_doc(
        iam.get_role_policy(RoleName=role, PolicyName=f"{NAME}-least-privilege")["PolicyDocument"]
    )
    assert policies.findings(doc) == []
    grants = {}
    for s in doc["Statement"]:
        assert s["Effect"] == "Allow"
        actions = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
        resources = s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]
        for a in actions:
            grants.setdefault(a, set()).update(resources)
    group = f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/aws/lambda/{TRIGGER_FN}"
    logs = {group, f"{group}:*"}
    assert grants == {
        "s3:GetObject": {f"arn:aws:s3:::{IN_BUCKET}/incoming/*"},
        "s3:PutObject": {f"arn:aws:s3:::{IN_BUCKET}/results/*", f"arn:aws:s3:::{IN_BUCKET}/errors/*"},
        "sqs:SendMessage": {QUEUE_ARN},
        "sagemaker:InvokeEndpoint": {f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:endpoint/{NAME}-endpoint"},
        "logs:CreateLogGroup": logs,
        "logs:CreateLogStream": logs,
        "logs:DescribeLogStreams": logs,
        "logs:PutLogEvents": logs,
    }
    assert tags_of(iam.list_role_tags(RoleName=role)["Tags"]) == TAG

    # a configuration that is not ocrkit's, added by hand, survives a redeploy and the teardown
    config = notification_rules()
    foreign = {
        "Id": "someone-elses",
        "LambdaFunctionArn": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:other",
        "Events": ["s3:ObjectRemoved:*"],
    }
    config["LambdaFunctionConfigurations"].append(foreign)
    s3.put_bucket_notification_configuration(Bucket=IN_BUCKET, NotificationConfiguration=config)

    # deploy again: nothing to do
    deployer.calls.clear()
    _, plan, _ = deployer.plan(0, **ON)
    assert plan.changes == [], [(c.resource, c.summary) for c in plan.changes]

    # a changed setting updates only what it touches
    _, plan, _ = deployer.plan(0, **ON, **{"trigger.max_retry_attempts": 0})
    assert [c.resource for c in plan.changes] == ["trigger_async"]

    # the user uploads something: teardown keeps that bucket (and says so), removes everything else
    s3.put_object(Bucket=IN_BUCKET, Key="incoming/a.png", Body=b"not really an image")
    provider = deployer.provider(0)
    events = RecordingEvents()
    report = destroy(provider, NAME, load_state(NAME, "aws"), events)
    assert report.remaining == [f"s3:input-bucket {IN_BUCKET}"]
    assert not any(IN_BUCKET in d and "input-bucket" in d for d in report.deleted)
    assert any(f"kept s3://{IN_BUCKET}" in m and "--recursive" in m for m in events.infos)
    remaining = notification_rules()
    assert ours(remaining) == []
    assert [c["Id"] for c in remaining.get("LambdaFunctionConfigurations", [])] == ["someone-elses"]
    assert sqs.list_queues().get("QueueUrls", []) == []
    assert lam.list_functions()["Functions"] == []
    assert s3.get_object(Bucket=IN_BUCKET, Key="incoming/a.png")["Body"].read() == b"not really an image"

    # once emptied, the teardown deletes it too
    s3.delete_object(Bucket=IN_BUCKET, Key="incoming/a.png")
    s3.put_bucket_notification_configuration(Bucket=IN_BUCKET, NotificationConfiguration={})
    report = destroy(provider, NAME, load_state(NAME, "aws"), RecordingEvents())
    assert report.remaining == []
    assert_nothing_left()
    assert client("sqs").list_queues().get("QueueUrls", []) == []


def test_trigger_resumes_after_a_failure_and_tears_down_from_tags(deployer: Deployer) -> None:
    provider, plan, state = deployer.plan(0, **ON)
    faulty = replace(
        plan,
        steps=tuple(failing_once(s) if s.call.resource == "trigger_permission" else s for s in plan.steps),
    )
    with pytest.raises(StepFailed):
        provider.apply(deployer.spec(0, **ON), faulty, state, RecordingEvents())
    saved = load_state(NAME, "aws")
    assert {"trigger_bucket", "trigger_queue", "trigger_function", "trigger_async"} <= set(saved.resources)
    assert "trigger_permission" not in saved.resources and "trigger_notification" not in saved.resources

    provider, plan, state = deployer.plan(0, **ON)
    actions = {c.resource: c.action for c in plan.calls}
    assert actions["trigger_function"] == actions["trigger_queue"] == actions["trigger_async"] == "noop"
    assert actions["trigger_permission"] == actions["trigger_notification"] == "create"
    provider.apply(deployer.spec(0, **ON), plan, state, RecordingEvents())
    assert sorted(ours(notification_rules())) == sorted(expected_rules())

    # the state file lost: teardown finds every trigger resource by tag and by name
    load_state(NAME, "aws").remove_file()
    report = destroy(deployer.provider(0), NAME, None, RecordingEvents())
    assert report.remaining == []
    assert_nothing_left()
    assert client("sqs").list_queues().get("QueueUrls", []) == []


def test_foreign_same_named_queue_is_refused(deployer: Deployer) -> None:
    client("sqs").create_queue(QueueName=QUEUE)  # not tagged: not ocrkit's
    _, plan, _ = deployer.plan(0, **ON)
    assert f"sqs:queue {QUEUE}" in plan.foreign


def test_overlapping_prefixes_are_one_line(aws) -> None:
    with pytest.raises(ConfigError, match=r"trigger\.error_prefix: 'incoming/errors/' lies inside"):
        AwsProvider.load_spec(None, {**ON, "trigger.error_prefix": "incoming/errors/"})


def test_turning_the_trigger_off_removes_it_and_keeps_the_rest(deployer: Deployer) -> None:
    _, state, _ = deployer.deploy(0, **ON)
    # `ocrkit status` describes each trigger resource
    rows = {key: words for key, _, words in deployer.provider(0).status(state).resources}
    assert rows["trigger_bucket"] == "exists, 0 object(s)"
    assert rows["trigger_queue"] == "0 failed image event(s) waiting"
    assert rows["trigger_async"] == f"2 retries, on failure -> {QUEUE}"
    assert rows["trigger_notification"] == "6 rule(s)"
    plan, state, events = deployer.deploy(0)  # the config's default: trigger.enabled false
    deleted = {c.resource for c in plan.calls if c.action == "delete"}
    assert deleted == TRIGGER_KEYS
    assert not any(c.action != "delete" and c.action != "noop" for c in plan.calls)
    assert not set(state.resources) & TRIGGER_KEYS
    assert [b["Name"] for b in client("s3").list_buckets()["Buckets"]] == [f"{NAME}-{ACCOUNT}-us-east-1"]
    assert [f["FunctionName"] for f in client("lambda").list_functions()["Functions"]] == [f"{NAME}-gateway"]
    assert client("sqs").list_queues().get("QueueUrls", []) == []
