"""The bucket trigger's dead-letter topic (`--trigger gcs`): Pub/Sub `projects/P/topics/<name>-dead-letter`,
labelled `ocrkit-deployment=<name>`. The trigger function publishes a failed image's event to it (bucket,
key, error, attempt) after writing the errors/ record (ocrkit.runtime.gcs_trigger_entry); the user reads
it with a subscription of their own (ocrkit makes none: who reads dead letters, and how long they are
kept, is the user's choice). Only the function's service account may publish (ocrkit.providers.gcp.
trigger_iam).

Plan, apply, delete, describe and find-by-label for `pubsub:topic`.
"""

from __future__ import annotations

import os

from ocrkit.deploy.plan import Context, ResourceModel, Step, StepResult
from ocrkit.deploy.records import Events, PlannedCall, ResourceRecord
from ocrkit.deploy.resource import Described, Family, Found
from ocrkit.providers.gcp.planning import GcpAccess, GcpPlanContext, labelled
from ocrkit.providers.gcp.session import PUBSUB_EMULATOR_ENV, is_not_found

KIND = "pubsub:topic"


def _get(gcp, name: str):
    try:
        return gcp.pubsub().get_topic(request={"topic": name})
    except Exception as exc:
        if not is_not_found(exc):
            raise
        return None


def plan_dead_letter(p: GcpPlanContext) -> Step:
    name = p.names.dead_letter_topic
    p.wanted["dead-letter"] = name
    summary = f"{name}: the trigger's dead letters (failed images' events), labelled {p.names.name}"
    record = ResourceRecord(KIND, name, {})
    existing = _get(p.gcp, name)
    if existing is not None:
        return Step(
            PlannedCall("dead-letter", KIND, "noop", summary),
            lambda ctx: StepResult(record=record, outputs={"dead_letter_topic": name}),
        )

    def run(ctx: Context) -> StepResult:
        p.gcp.pubsub().create_topic(request={"name": name, "labels": dict(p.names.labels)})
        return StepResult(record=record, outputs={"dead_letter_topic": name})

    calls = ("pubsub.topics.create",)
    want = {"name": name, "labels": dict(p.names.labels)}
    return Step(PlannedCall("dead-letter", KIND, "create", summary, want, calls), run)


def delete_topic(a: GcpAccess, rec: ResourceRecord, events: Events) -> None:
    a.gcp.pubsub().delete_topic(request={"topic": rec.id})


def describe_topic(a: GcpAccess, rec: ResourceRecord) -> Described:
    got = _get(a.gcp, rec.id)
    return Described("exists" if got is not None else "missing", healthy=got is not None)


def owner_topic(a: GcpAccess, rec: ResourceRecord) -> bool | None:
    got = _get(a.gcp, rec.id)
    return None if got is None else labelled(got, a.names.name)


def pubsub_reachable(gcp) -> bool:
    """False with the emulators' anonymous credentials and no Pub/Sub emulator: there is nothing to ask
    (a deployment without --trigger, tested locally); on Google it is always asked."""
    return not gcp.anonymous or bool((os.environ.get(PUBSUB_EMULATOR_ENV) or "").strip())


def discover(a: GcpAccess) -> Found:
    if not pubsub_reachable(a.gcp):
        return []
    topics = a.gcp.pubsub().list_topics(request={"project": f"projects/{a.names.project}"})
    return [("dead-letter", ResourceRecord(KIND, t.name, {})) for t in topics if labelled(t, a.names.name)]


FAMILY = Family[GcpPlanContext, GcpAccess](
    name="dead-letter",
    models=(ResourceModel("dead-letter", KIND),),
    plan={"dead-letter": plan_dead_letter},
    delete={KIND: delete_topic},
    describe={KIND: describe_topic},
    discover=discover,
    rank={KIND: 4},
    owner={KIND: owner_topic},
    delete_calls={KIND: ("pubsub.topics.delete",)},
)
