"""Every ocrkit deployment in one GCP project and region, found by its `ocrkit-deployment` label (any value),
with what it runs now, what that costs per hour, and when it last answered a request. List calls and
Cloud Monitoring reads only: with nothing deployed it costs nothing.

Found by: Vertex AI `ListEndpoints` and Cloud Functions `ListFunctions` in the region, and Cloud Storage
`ListBuckets` (project-wide: a labelled bucket of a deployment with nothing serving is listed with the
first region searched only), each checked for the label.

Serving option: the state file's (when there is one here), else the `ocrkit-serving` label, else inferred:
a Vertex endpoint whose deployed model has an accelerator -> gpu-endpoint, without -> cpu-endpoint; a
function and no endpoint -> function; nothing that serves -> none (left-overs).

Last invocation: Cloud Monitoring `projects.timeSeries.list` (google-cloud-monitoring's
`MetricServiceClient.list_time_series`), summed per alignment period (ALIGN_SUM, REDUCE_SUM), over the same
window as on AWS. Metric types, from Google's metrics list (https://cloud.google.com/monitoring/api/metrics_gcp,
as of 2026-12; the Cloud Run and Cloud Functions entries also in
https://docs.cloud.google.com/functions/1stgendocs/monitoring/metrics):
- Vertex AI endpoint: `aiplatform.googleapis.com/prediction/online/prediction_count` on the
  `aiplatform.googleapis.com/Endpoint` resource, matched by `resource.labels.endpoint_id`;
- Cloud Functions 2nd gen run as a Cloud Run service: `run.googleapis.com/request_count` on
  `cloud_run_revision`, matched by `resource.labels.service_name`; and, for functions that still report
  under Cloud Functions, `cloudfunctions.googleapis.com/function/execution_count` on `cloud_function`,
  matched by `resource.labels.function_name`. The later of the two counts.
Cloud Monitoring has no local emulator: the client is made by `monitoring_client` (the override
`OCRKIT_GCP_MONITORING_ENDPOINT` is a REST base URL, as the other overrides) and tests pass a fake one.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from ocrkit.deploy.inventory import FoundDeployment, MetricWindow, last_busy
from ocrkit.deploy.pricing import hourly_now
from ocrkit.deploy.serving import ServingOption
from ocrkit.providers.gcp.session import GcpSession, gcp_errors
from ocrkit.providers.gcp.spec import LABEL_KEY
from ocrkit.providers.gcp.usage import running_usage

SERVING_LABEL = "ocrkit-serving"
MONITORING_ENDPOINT_ENV = "OCRKIT_GCP_MONITORING_ENDPOINT"
VERTEX_METRIC = "aiplatform.googleapis.com/prediction/online/prediction_count"
RUN_METRIC = "run.googleapis.com/request_count"
FUNCTION_METRIC = "cloudfunctions.googleapis.com/function/execution_count"
ZERO = Decimal(0)


def monitoring_client(gcp: GcpSession) -> Any:
    """google-cloud-monitoring's MetricServiceClient (REST; the override's URL when it is set)."""
    from google.cloud import monitoring_v3

    override = (os.environ.get(MONITORING_ENDPOINT_ENV) or "").strip().rstrip("/")
    options = {"api_endpoint": override or "monitoring.googleapis.com"}
    return monitoring_v3.MetricServiceClient(
        transport="rest", client_options=options, credentials=gcp.credentials
    )


def metric_filter(metric_type: str, **resource_labels: str) -> str:
    """`metric.type = "T" AND resource.labels.K = "V" ...` (the Monitoring filter syntax)."""
    parts = [f'metric.type = "{metric_type}"']
    parts += [f'resource.labels.{key} = "{value}"' for key, value in resource_labels.items()]
    return " AND ".join(parts)


def last_invocation(client: Any, project: str, filter_: str, window: MetricWindow) -> datetime | None:
    """The end of the latest alignment period with a non-zero count for the series `filter_` selects."""
    from google.cloud import monitoring_v3
    from google.protobuf import duration_pb2, timestamp_pb2

    start, end = timestamp_pb2.Timestamp(), timestamp_pb2.Timestamp()
    start.FromDatetime(window.start)
    end.FromDatetime(window.end)
    request = monitoring_v3.ListTimeSeriesRequest(
        name=f"projects/{project}",
        filter=filter_,
        interval=monitoring_v3.TimeInterval(start_time=start, end_time=end),
        aggregation=monitoring_v3.Aggregation(
            alignment_period=duration_pb2.Duration(seconds=window.period_s),
            per_series_aligner=monitoring_v3.Aggregation.Aligner.ALIGN_SUM,
            cross_series_reducer=monitoring_v3.Aggregation.Reducer.REDUCE_SUM,
        ),
        view=monitoring_v3.ListTimeSeriesRequest.TimeSeriesView.FULL,
    )
    period = timedelta(seconds=window.period_s)
    buckets = []
    for series in client.list_time_series(request=request):
        for point in series.points:
            value = point.value
            count = float(value.int64_value or 0) or float(value.double_value or 0)
            buckets.append((_utc(point.interval.end_time) - period, count))
    return last_busy(buckets, window)


def _utc(value: Any) -> datetime:
    if not isinstance(value, datetime):  # a protobuf Timestamp
        value = value.ToDatetime(tzinfo=UTC)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _when(value: Any) -> datetime | None:
    """A create time, or None when unset (proto-plus gives None or the epoch)."""
    if value is None:
        return None
    got = _utc(value)
    return None if got.year <= 1970 else got


@dataclass
class _Group:
    name: str
    serving_label: str | None = None
    endpoints: list[Any] = field(default_factory=list)
    functions: list[Any] = field(default_factory=list)
    buckets: list[str] = field(default_factory=list)


def _labelled(groups: dict[str, _Group], labels: Any) -> _Group | None:
    labels = dict(labels or {})
    name = labels.get(LABEL_KEY)
    if not name:
        return None
    group = groups.setdefault(name, _Group(name))
    group.serving_label = group.serving_label or labels.get(SERVING_LABEL)
    return group


def find_deployments(
    gcp: GcpSession,
    window: MetricWindow,
    recorded: dict[str, str] | None = None,
    *,
    monitoring: Callable[[GcpSession], Any] | None = None,
    leftover_buckets: bool = True,
) -> list[FoundDeployment]:
    """Every ocrkit deployment in the session's project and region (`monitoring` makes the Cloud Monitoring
    client; default `monitoring_client`, looked up at call time)."""
    groups: dict[str, _Group] = {}
    with gcp_errors(f"list ocrkit's deployments in {gcp.project} {gcp.region}"):
        for endpoint in gcp.endpoints().list_endpoints(request={"parent": gcp.parent}):
            group = _labelled(groups, endpoint.labels)
            if group is not None:
                group.endpoints.append(endpoint)
        for function in gcp.functions().list_functions(request={"parent": gcp.parent}):
            group = _labelled(groups, function.labels)
            if group is not None:
                group.functions.append(function)
        for bucket in gcp.storage().list_buckets():
            name = dict(bucket.labels or {}).get(LABEL_KEY)
            # buckets are project-wide: one that serves nothing here is listed once, with the first region
            if name and (name in groups or leftover_buckets):
                group = _labelled(groups, bucket.labels)
                if group is not None:
                    group.buckets.append(bucket.name)
    if not groups:
        return []
    with gcp_errors("read the last invocations from Cloud Monitoring"):
        client = (monitoring or monitoring_client)(gcp)
        return [_describe(gcp, g, window, (recorded or {}).get(g.name), client) for g in groups.values()]


def _option(recorded: str | None, label: str | None) -> tuple[ServingOption | None, str, list[str]]:
    for value, source in ((recorded, "state"), (label, "label")):
        if value:
            try:
                return ServingOption(value), source, []
            except ValueError:
                return None, "none", [f"{source} names an unknown serving option '{value}'; inferred instead"]
    return None, "none", []


def _endpoint_cost(gcp: GcpSession, name: str, endpoint: Any) -> tuple[bool, Decimal | None, str]:
    """(has an accelerator, $/hour of the nodes running now, what runs in words)."""
    gpu, hourly, words = False, ZERO, []
    for deployed in endpoint.deployed_models:
        res = deployed.dedicated_resources
        spec = res.machine_spec
        accel = spec.accelerator_type.name if spec.accelerator_count else None
        gpu = gpu or bool(accel)
        nodes = int(res.min_replica_count or 0)
        usage = running_usage(name, gcp.region, spec.machine_type, accel, int(spec.accelerator_count), nodes)
        cost = hourly_now(usage)
        hourly = None if hourly is None or cost is None else hourly + cost
        extra = f" + {accel} x {spec.accelerator_count}" if accel else ""
        words.append(f"{spec.machine_type}{extra} x {nodes}")
    return gpu, hourly, ", ".join(words) or "no deployed model"


def _describe(
    gcp: GcpSession, g: _Group, window: MetricWindow, recorded: str | None, client: Any
) -> FoundDeployment:
    notes: list[str] = []
    chosen, source, why = _option(recorded, g.serving_label)
    notes += why
    hourly: Decimal | None = ZERO
    running, last, created, gpu = [], [], [], False
    for endpoint in g.endpoints:
        has_gpu, cost, words = _endpoint_cost(gcp, g.name, endpoint)
        gpu = gpu or has_gpu
        if cost is None:
            notes.append(f"endpoint {endpoint.display_name}: no price in the catalog for {words}")
        hourly = None if hourly is None or cost is None else hourly + cost
        running.append(words)
        endpoint_id = endpoint.name.rsplit("/", 1)[-1]
        last.append(
            last_invocation(
                client, gcp.project, metric_filter(VERTEX_METRIC, endpoint_id=endpoint_id), window
            )
        )
        created.append(_when(endpoint.create_time))
    for function in g.functions:
        function_id = function.name.rsplit("/", 1)[-1]
        service = (function.service_config.service or "").rsplit("/", 1)[-1] or function_id
        if not g.endpoints:
            running.append(f"function {function_id} {function.service_config.available_memory or ''}".strip())
            created.append(_when(function.create_time) or _when(function.update_time))
        run_filter = metric_filter(RUN_METRIC, service_name=service)
        last.append(
            last_invocation(
                client, gcp.project, f'{run_filter} AND resource.type = "cloud_run_revision"', window
            )
        )
        last.append(
            last_invocation(
                client, gcp.project, metric_filter(FUNCTION_METRIC, function_name=function_id), window
            )
        )
    if g.endpoints:
        inferred: ServingOption | None = ServingOption.gpu_endpoint if gpu else ServingOption.cpu_endpoint
    else:
        inferred = ServingOption.function if g.functions else None
    serving = chosen or inferred
    if chosen is None:
        source = "inferred" if inferred else "none"
    if serving is None:
        running.append(f"{len(g.buckets)} bucket(s), nothing that serves")
    seen = [t for t in last if t is not None]
    born = [t for t in created if t is not None]
    resources = (
        [f"vertex endpoint {e.display_name} ({e.name})" for e in g.endpoints]
        + [f"function {f.name}" for f in g.functions]
        + [f"bucket {b}" for b in g.buckets]
    )
    return FoundDeployment(
        cloud="gcp",
        name=g.name,
        region=gcp.region,
        project=gcp.project,
        serving=None if serving is None else serving.value,
        serving_from=source,
        hourly=hourly,
        running="; ".join(running),
        created=min(born) if born else None,
        last_invocation=max(seen) if seen else None,
        window=window,
        resources=tuple(resources),
        notes=tuple(notes),
    )
