"""The bucket-triggered pipeline (`--trigger s3`): the input bucket, the dead-letter queue, the trigger
Lambda with its asynchronous-invoke settings, the permission that lets S3 invoke it, and the bucket's
notification configuration.

    trigger_bucket                      private, SSE-S3, public access blocked, tagged; kept at teardown
                                        while it holds objects (the uploads and their results are the user's)
    trigger_queue                       SQS, SSE-SQS, tagged: where a failed image's event ends up
    trigger_log_group, trigger_role     the function's logs; least privilege (policies.trigger_role_policy)
    trigger_function -> trigger_async   the deployment's zip with the s3_trigger_entry handler; retries
                                        (max_retry_attempts), then the on-failure destination = the queue
    trigger_permission                  s3.amazonaws.com may invoke it, for this bucket and account only
    trigger_notification                one LambdaFunctionConfiguration per suffix (prefix + suffix filter),
                                        s3:ObjectCreated:*; other configurations on the bucket are kept

The resources' plan, apply, delete and describe live in trigger_bucket, dead_letter_queue,
trigger_function and trigger_notification; this module puts them together: the family's models,
their order, and finding them by name.
"""

from __future__ import annotations

import json

from ocrkit.deploy.plan import ResourceModel
from ocrkit.deploy.records import ResourceRecord
from ocrkit.deploy.resource import Described, Family, Found
from ocrkit.providers.aws import iam, logs
from ocrkit.providers.aws.dead_letter_queue import (
    QUEUE_KIND,
    delete_trigger_queue,
    describe_trigger_queue,
    find_queue_url,
    owner_trigger_queue,
    plan_trigger_queue,
)
from ocrkit.providers.aws.planning import AwsAccess, AwsPlanContext, describe_or_none
from ocrkit.providers.aws.s3 import bucket_exists
from ocrkit.providers.aws.trigger_bucket import (
    BUCKET_KIND,
    counted,
    delete_trigger_bucket,
    describe_trigger_bucket,
    owner_trigger_bucket,
    plan_trigger_bucket,
)
from ocrkit.providers.aws.trigger_function import (
    ASYNC_KIND,
    delete_trigger_async,
    describe_trigger_async,
    discover_function,
    plan_trigger_async,
    plan_trigger_function,
    plan_trigger_log_group,
    plan_trigger_role,
)
from ocrkit.providers.aws.trigger_notification import (
    NOTIFICATION_KIND,
    PERMISSION_KIND,
    current_configuration,
    delete_trigger_notification,
    delete_trigger_permission,
    describe_trigger_notification,
    plan_trigger_notification,
    plan_trigger_permission,
    split_ours,
)

__all__ = ["BUCKET_KIND", "FAMILY", "QUEUE_KIND", "counted", "discover"]


def discover(a: AwsAccess) -> Found:
    """The trigger's resources by their fixed names (the tagging API does not list every kind)."""
    n, out = a.names, []
    if bucket_exists(a.c("s3"), n.trigger_bucket):
        out.append(("trigger_bucket", ResourceRecord(BUCKET_KIND, n.trigger_bucket)))
        ours, _ = split_ours(current_configuration(a.c("s3"), n.trigger_bucket), n.notification_id_prefix)
        if ours:
            ids = [c.get("Id") for c in ours]
            out.append(
                ("trigger_notification", ResourceRecord(NOTIFICATION_KIND, n.trigger_bucket, {"ids": ids}))
            )
    url = find_queue_url(a.c("sqs"), n.trigger_queue)
    if url is not None:
        out.append(("trigger_queue", ResourceRecord(QUEUE_KIND, n.trigger_queue, {"url": url})))
    found = discover_function(a)
    if found:
        out += found
        lam = a.c("lambda")
        if describe_or_none(lam.get_function_event_invoke_config, FunctionName=n.trigger_function):
            out.append(("trigger_async", ResourceRecord(ASYNC_KIND, n.trigger_function)))
        got = describe_or_none(lam.get_policy, FunctionName=n.trigger_function)
        sids = [s.get("Sid") for s in json.loads(got["Policy"]).get("Statement", [])] if got else []
        if n.trigger_permission_sid in sids:
            rec = ResourceRecord(PERMISSION_KIND, n.trigger_permission_sid, {"function": n.trigger_function})
            out.append(("trigger_permission", rec))
    return out


FAMILY = Family[AwsPlanContext, AwsAccess](
    name="trigger",
    models=(
        ResourceModel("trigger_bucket", BUCKET_KIND),
        ResourceModel("trigger_queue", QUEUE_KIND),
        ResourceModel("trigger_log_group", logs.KIND),
        ResourceModel("trigger_role", iam.KIND, ("trigger_log_group", "trigger_queue", "trigger_bucket")),
        ResourceModel("trigger_function", "lambda:function", ("trigger_role", "artifact", "endpoint")),
        ResourceModel("trigger_async", ASYNC_KIND, ("trigger_function", "trigger_queue")),
        ResourceModel("trigger_permission", PERMISSION_KIND, ("trigger_function", "trigger_bucket")),
        ResourceModel("trigger_notification", NOTIFICATION_KIND, ("trigger_permission", "trigger_async")),
    ),
    plan={
        "trigger_bucket": plan_trigger_bucket,
        "trigger_queue": plan_trigger_queue,
        "trigger_log_group": plan_trigger_log_group,
        "trigger_role": plan_trigger_role,
        "trigger_function": plan_trigger_function,
        "trigger_async": plan_trigger_async,
        "trigger_permission": plan_trigger_permission,
        "trigger_notification": plan_trigger_notification,
    },
    delete={
        NOTIFICATION_KIND: delete_trigger_notification,
        PERMISSION_KIND: delete_trigger_permission,
        ASYNC_KIND: delete_trigger_async,
        QUEUE_KIND: delete_trigger_queue,
        BUCKET_KIND: delete_trigger_bucket,
    },
    describe={
        BUCKET_KIND: describe_trigger_bucket,
        QUEUE_KIND: describe_trigger_queue,
        ASYNC_KIND: describe_trigger_async,
        PERMISSION_KIND: lambda a, rec: Described("granted to S3 for the input bucket"),
        NOTIFICATION_KIND: describe_trigger_notification,
    },
    discover=discover,
    # the notification first (no new events), then the permission and retries, the function (lambda's
    # rank), the queue after the function, the bucket last of all (kept while it holds objects)
    rank={NOTIFICATION_KIND: 0, PERMISSION_KIND: 1, ASYNC_KIND: 2, QUEUE_KIND: 10, BUCKET_KIND: 16},
    owner={BUCKET_KIND: owner_trigger_bucket, QUEUE_KIND: owner_trigger_queue},
    delete_calls={
        NOTIFICATION_KIND: ("s3.PutBucketNotificationConfiguration",),
        PERMISSION_KIND: ("lambda.RemovePermission",),
        ASYNC_KIND: ("lambda.DeleteFunctionEventInvokeConfig",),
        QUEUE_KIND: ("sqs.DeleteQueue",),
        BUCKET_KIND: ("s3.DeleteBucket",),
    },
)
