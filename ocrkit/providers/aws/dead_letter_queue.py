"""The bucket trigger's dead-letter queue (`--trigger s3`): SQS, SSE-SQS, tagged. A failed image's event
ends up here after the function's retries (the on-failure destination of its asynchronous invocations).

Plan, apply, delete, describe and ownership for `sqs:queue`; part of the trigger family
(ocrkit.providers.aws.trigger).
"""

from __future__ import annotations

from typing import Any

from ocrkit.deploy.plan import Context, Step, StepResult
from ocrkit.deploy.records import Events, ResourceRecord
from ocrkit.deploy.resource import Described
from ocrkit.providers.aws.planning import AwsAccess, AwsPlanContext, gone, owned_by_tags
from ocrkit.providers.aws.session import error_code

QUEUE_KIND = "sqs:queue"
QUEUE_MISSING = ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist")


def find_queue_url(sqs: Any, name: str) -> str | None:
    try:
        return sqs.get_queue_url(QueueName=name)["QueueUrl"]
    except Exception as exc:
        if error_code(exc) in QUEUE_MISSING or gone(exc):
            return None
        raise


def _queue_attributes(p: AwsPlanContext) -> dict[str, str]:
    return {
        "SqsManagedSseEnabled": "true",
        "MessageRetentionPeriod": str(p.spec.trigger.dlq_retention_days * 86400),
    }


def plan_trigger_queue(p: AwsPlanContext) -> Step:
    sqs, n = p.c("sqs"), p.n
    want = _queue_attributes(p)
    summary = (
        f"{n.trigger_queue}: SQS dead-letter queue for failed images, SSE-SQS, messages kept "
        f"{p.spec.trigger.dlq_retention_days} days, tagged"
    )
    url = find_queue_url(sqs, n.trigger_queue)
    changes: list[str] = []
    if url is not None:
        have = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"]).get("Attributes", {})
        changes += [k for k, v in want.items() if have.get(k) != v]
        tags = sqs.list_queue_tags(QueueUrl=url).get("Tags") or {}
        if any(tags.get(k) != v for k, v in n.tag_map.items()):
            changes.append("tags")
    outputs = {"trigger_queue_arn": n.trigger_queue_arn}

    def record(queue_url: str) -> ResourceRecord:
        return ResourceRecord(QUEUE_KIND, n.trigger_queue, {"url": queue_url, "arn": n.trigger_queue_arn})

    if url is not None and not changes:
        rec = record(url)
        return p.step("trigger_queue", QUEUE_KIND, "noop", summary, lambda ctx: StepResult(rec, outputs))

    def run(ctx: Context) -> StepResult:
        client = p.c("sqs")
        queue_url = url
        if queue_url is None:
            queue_url = client.create_queue(QueueName=n.trigger_queue, Attributes=want, tags=n.tag_map)[
                "QueueUrl"
            ]
        else:
            if set(changes) - {"tags"}:
                client.set_queue_attributes(QueueUrl=queue_url, Attributes=want)
            if "tags" in changes:
                client.tag_queue(QueueUrl=queue_url, Tags=n.tag_map)
        return StepResult(record(queue_url), outputs)

    if url is None:
        action, calls = "create", ["sqs.CreateQueue"]
    else:
        action = "update"
        calls = (["sqs.SetQueueAttributes"] if set(changes) - {"tags"} else []) + (
            ["sqs.TagQueue"] if "tags" in changes else []
        )
        summary += f" (change: {', '.join(changes)})"
    return p.step("trigger_queue", QUEUE_KIND, action, summary, run, calls=calls, attributes=want)


def delete_trigger_queue(a: AwsAccess, rec: ResourceRecord, events: Events) -> None:
    sqs = a.c("sqs")
    url = find_queue_url(sqs, rec.id)
    if url is not None:
        sqs.delete_queue(QueueUrl=url)


def describe_trigger_queue(a: AwsAccess, rec: ResourceRecord) -> Described:
    sqs = a.c("sqs")
    url = find_queue_url(sqs, rec.id)
    if url is None:
        return Described("missing", healthy=False)
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    waiting = int(attrs.get("Attributes", {}).get("ApproximateNumberOfMessages", 0))
    return Described(f"{waiting} failed image event(s) waiting", healthy=waiting == 0)


def owner_trigger_queue(a: AwsAccess, rec: ResourceRecord) -> bool | None:
    sqs = a.c("sqs")

    def read() -> dict[str, str] | None:
        url = find_queue_url(sqs, rec.id)
        if url is None:
            raise _Missing()
        return sqs.list_queue_tags(QueueUrl=url).get("Tags")

    try:
        return owned_by_tags(a, read)
    except _Missing:
        return None


class _Missing(Exception):
    pass
