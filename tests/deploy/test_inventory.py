"""The guardrail's pure part: the metric window, the last busy bucket, the idle verdict, the teardown
command, the JSON document. No cloud: records and a clock in, verdicts out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from ocrkit.deploy.inventory import (
    ACTIVE,
    IDLE,
    UNKNOWN,
    FoundDeployment,
    Inventory,
    judge,
    last_busy,
    metric_window,
    teardown_command,
    to_dict,
)

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def dep(**changes) -> FoundDeployment:
    base = dict(
        cloud="aws",
        name="demo",
        region="us-east-1",
        serving="gpu-endpoint",
        serving_from="inferred",
        hourly=Decimal("0.736"),
        running="ml.g4dn.xlarge x 1",
        window=metric_window(NOW, 24),
    )
    return FoundDeployment(**{**base, **changes})


def test_the_window_proves_idleness_and_fits_one_call() -> None:
    w = metric_window(NOW, 24)
    assert w.end == NOW and w.start == NOW - timedelta(days=14)
    assert w.period_s % 60 == 0 and (w.end - w.start).total_seconds() / w.period_s <= 1440
    long = metric_window(NOW, 24 * 30)  # past 15 days: 5-minute multiples (CloudWatch retention)
    assert long.start == NOW - timedelta(days=31) and long.period_s % 300 == 0
    assert (long.end - long.start).total_seconds() / long.period_s <= 1440
    assert metric_window(NOW, 24 * 90).period_s % 3600 == 0


def test_the_last_busy_bucket_ends_the_search() -> None:
    w = metric_window(NOW, 24)
    p = timedelta(seconds=w.period_s)
    buckets = [
        (NOW - timedelta(hours=5), 3.0),
        (NOW - timedelta(hours=2), 0.0),
        (NOW - timedelta(hours=9), 1),
    ]
    assert last_busy(buckets, w) == NOW - timedelta(hours=5) + p
    assert last_busy([(NOW - p / 2, 1.0)], w) == NOW  # never past the end of the window
    assert last_busy([(NOW, 0.0)], w) is None and last_busy([], w) is None


def test_idle_after_the_threshold_with_the_teardown_command() -> None:
    v = judge(dep(last_invocation=NOW - timedelta(hours=25)), NOW, 24)
    assert v.state == IDLE and round(v.idle_hours, 1) == 25.0 and not v.at_least
    assert v.teardown == "ocrkit teardown --cloud aws --name demo --region us-east-1 --yes"
    v = judge(dep(last_invocation=NOW - timedelta(hours=23)), NOW, 24)
    assert v.state == ACTIVE and v.teardown is None


def test_never_invoked_counts_from_creation_else_from_the_window_start() -> None:
    young = judge(dep(created=NOW - timedelta(hours=3)), NOW, 24)
    assert young.state == ACTIVE and "never invoked" in young.reason
    old = judge(dep(created=NOW - timedelta(hours=30)), NOW, 24)
    assert old.state == IDLE and round(old.idle_hours) == 30
    ancient = judge(dep(created=NOW - timedelta(days=100)), NOW, 24)
    assert ancient.state == IDLE and ancient.at_least and round(ancient.idle_hours) == 14 * 24
    assert "over" in ancient.reason


def test_left_overs_are_idle_and_unmeasured_targets_unknown() -> None:
    left = judge(dep(serving=None, hourly=Decimal(0)), NOW, 24)
    assert left.state == IDLE and "left-over" in left.reason and left.teardown
    local = dep(cloud="local", region="this machine", serving="local", window=None)
    assert judge(local, NOW, 24).state == UNKNOWN
    assert teardown_command(local) == "ocrkit teardown --cloud local --name demo --yes"
    gcp = dep(cloud="gcp", region="us-east4", project="p1")
    assert teardown_command(gcp) == (
        "GOOGLE_CLOUD_PROJECT=p1 ocrkit teardown --cloud gcp --name demo --region us-east4 --yes"
    )


def test_the_json_document_sums_money_as_decimal_strings() -> None:
    inv = Inventory(now=NOW, idle_hours=24)
    inv.deployments = [
        dep(name="b", last_invocation=NOW - timedelta(hours=1)),
        dep(name="a", last_invocation=NOW - timedelta(hours=48)),
        dep(name="f", serving="function", hourly=Decimal(0), last_invocation=NOW),
        dep(name="u", hourly=None, last_invocation=NOW),  # unpriced: left out of the sum, shown as null
    ]
    doc = to_dict(inv)
    assert [r["name"] for r in doc["deployments"]] == ["a", "b", "f", "u"]
    assert doc["idle"] == ["a"] and doc["hourly_cost"] == "1.472"
    assert doc["monthly_run_rate"] == str(Decimal("1.472") * 720)
    row = doc["deployments"][0]
    assert row["monthly_run_rate"] == str(Decimal("0.736") * 720)
    assert row["last_invocation"] == (NOW - timedelta(hours=48)).isoformat()
    assert row["metric_period_s"] == 840 and row["verdict"] == "idle"
    assert doc["deployments"][3]["hourly_cost"] is None
