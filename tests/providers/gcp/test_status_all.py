"""`ocrkit status --all --cloud gcp`: Cloud Monitoring at the client-library boundary (it has no emulator: a
fake MetricServiceClient records each ListTimeSeries request and answers points the test chooses), and
discovery by label against drongo (Vertex AI, Cloud Functions) and gcp-storage-emulator."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from ocrkit.deploy.inventory import metric_window
from ocrkit.providers.gcp import inventory
from tests.providers.gcp.conftest import PROJECT, REGION
from tests.providers.helpers import run


class FakeMonitoring:
    """MetricServiceClient.list_time_series: records the requests; answers `points[metric type]`, each a
    list of (end time, value) as one aggregated series (int64 or double values, as the API gives them)."""

    def __init__(self, points: dict[str, list[tuple[datetime, float]]] | None = None) -> None:
        self.points = points or {}
        self.requests: list = []

    def list_time_series(self, request):
        from google.cloud import monitoring_v3

        self.requests.append(request)
        metric = request.filter.split('"')[1]
        series = monitoring_v3.TimeSeries()
        for end, value in self.points.get(metric, []):
            typed = {"int64_value": int(value)} if float(value).is_integer() else {"double_value": value}
            series.points.append(
                monitoring_v3.Point(
                    interval=monitoring_v3.TimeInterval(end_time=end, start_time=end - timedelta(minutes=15)),
                    value=monitoring_v3.TypedValue(**typed),
                )
            )
        return [series] if series.points else []


# -- the client boundary (no emulator) -------------------------------------------------------------------


def test_the_request_asks_for_the_sum_per_period_over_the_window() -> None:
    now = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    window = metric_window(now, 24)
    fake = FakeMonitoring()
    flt = inventory.metric_filter(inventory.VERTEX_METRIC, endpoint_id="123")
    assert flt == (
        'metric.type = "aiplatform.googleapis.com/prediction/online/prediction_count" '
        'AND resource.labels.endpoint_id = "123"'
    )
    assert inventory.last_invocation(fake, "p1", flt, window) is None
    (request,) = fake.requests
    assert request.name == "projects/p1" and request.filter == flt
    assert request.interval.start_time == window.start and request.interval.end_time == now
    assert request.aggregation.alignment_period.total_seconds() == window.period_s == 840  # 14 d / 1440
    assert request.aggregation.per_series_aligner.name == "ALIGN_SUM"
    assert request.aggregation.cross_series_reducer.name == "REDUCE_SUM"
    assert request.view.name == "FULL"


def test_the_last_non_zero_point_is_the_last_invocation() -> None:
    now = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    window = metric_window(now, 24)
    metric = inventory.RUN_METRIC
    fake = FakeMonitoring(
        {
            metric: [
                (now - timedelta(hours=40), 7),
                (now - timedelta(hours=30), 0.5),  # a double value counts
                (now - timedelta(hours=3), 0),  # an aligned zero does not
            ]
        }
    )
    got = inventory.last_invocation(fake, "p1", inventory.metric_filter(metric, service_name="s"), window)
    assert got == now - timedelta(hours=30)


# -- discovery against drongo + gcp-storage-emulator ---------------------------------------------------


def status_all(capsys, *extra: str) -> tuple[int, dict, str]:
    code, out, err = run(capsys, "status", "--all", "--cloud", "gcp", "--format", "json", *extra)
    return code, (json.loads(out) if out.strip() else {}), err


def test_nothing_labelled_is_an_empty_list_and_no_metric_read(gcp, capsys, monkeypatch) -> None:
    made = []
    monkeypatch.setattr(inventory, "monitoring_client", lambda session: made.append(session))
    code, doc, err = status_all(capsys, "--fail-on-idle")
    assert code == 0, err
    assert doc["deployments"] == [] and made == []


def test_a_labelled_left_over_bucket_is_idle(gcp, capsys, monkeypatch) -> None:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    client = storage.Client(project=PROJECT, credentials=AnonymousCredentials())
    for name, labels in (
        (f"half-{PROJECT}", {"ocrkit-deployment": "half"}),
        ("someone-elses", {"team": "x"}),
    ):
        client.create_bucket(name, location=REGION.upper())
        bucket = client.get_bucket(name)
        bucket.labels = labels
        bucket.patch()  # the emulator keeps only the labels a patch sets (as in gcs.py)
    monkeypatch.setattr(inventory, "monitoring_client", lambda session: FakeMonitoring())
    code, doc, _ = status_all(capsys, "--fail-on-idle")
    assert code == 1
    (row,) = doc["deployments"]
    assert row["name"] == "half" and row["serving"] is None and row["verdict"] == "idle"
    assert row["resources"] == [f"bucket half-{PROJECT}"]
    assert row["teardown"] == (
        f"GOOGLE_CLOUD_PROJECT={PROJECT} ocrkit teardown --cloud gcp --name half --region {REGION} --yes"
    )


@pytest.mark.slow
@pytest.mark.model
def test_a_deployment_is_found_by_its_labels_and_its_endpoint_metric_read(
    deployer, gcp, iam_emulator, policies, capsys, monkeypatch
) -> None:
    _, state, _ = deployer.deploy(0)
    state.remove_file()  # found by labels alone
    now = datetime.now(UTC)
    fake = FakeMonitoring({inventory.VERTEX_METRIC: [(now - timedelta(hours=30), 4)]})
    monkeypatch.setattr(inventory, "monitoring_client", lambda session: fake)

    code, doc, err = status_all(capsys, "--fail-on-idle")
    assert code == 1, err
    (row,) = doc["deployments"]
    assert row["name"] == "demo" and row["project"] == PROJECT and row["region"] == REGION
    assert row["serving"] == "gpu-endpoint" and row["serving_from"] == "inferred"  # the T4 of gcp.yaml
    assert Decimal(row["hourly_cost"]) > 0 and "NVIDIA_TESLA_T4" in row["running"]
    assert row["verdict"] == "idle" and 29 < row["idle_hours"] < 31
    assert row["teardown"] == (
        f"GOOGLE_CLOUD_PROJECT={PROJECT} ocrkit teardown --cloud gcp --name demo --region {REGION} --yes"
    )
    endpoint_id = state.outputs["endpoint"].rsplit("/", 1)[-1]
    filters = [r.filter for r in fake.requests]
    assert inventory.metric_filter(inventory.VERTEX_METRIC, endpoint_id=endpoint_id) in filters
    assert any(inventory.RUN_METRIC in f and "demo-gateway" in f for f in filters)
    assert any(inventory.FUNCTION_METRIC in f and "demo-gateway" in f for f in filters)
    assert all(r.name == f"projects/{PROJECT}" for r in fake.requests)

    fake.points[inventory.RUN_METRIC] = [(now - timedelta(hours=1), 2)]  # the function answered an hour ago
    code, doc, _ = status_all(capsys, "--fail-on-idle")
    assert code == 0 and doc["deployments"][0]["verdict"] == "active"
