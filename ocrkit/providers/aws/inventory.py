"""Every ocrkit deployment in one AWS region, found by its `ocrkit:deployment` tag (any value), with what
it runs now, what that costs per hour, and when it last answered a request. Describe / list calls and
metric reads only: with nothing deployed it makes list calls alone, which cost nothing. A resource whose
tags this identity may not read is counted in a note, not fatal (the permissions: README, "Forgotten
deployments").

Found by: the Resource Groups Tagging API (`GetResources` with the tag key and no value: every deployment
at once), and each serving family's own listing (SageMaker `ListEndpoints`, Lambda `ListFunctions`, each
checked for the tag), since the tagging API misses some kinds and emulators cover less.

Serving option: the state file's (when there is one here), else the `ocrkit:serving` tag, else inferred
from what exists: an endpoint config with `ServerlessConfig` -> serverless-endpoint; an instance endpoint ->
gpu-endpoint on an accelerated instance family (ml.g*, ml.p*, ml.inf*, ml.trn*, ml.dl*), else
cpu-endpoint; a Lambda function and no endpoint -> function; nothing that serves -> none (left-overs).

Last invocation: CloudWatch `GetMetricStatistics`, metric `Invocations` (Sum):
- SageMaker endpoints: namespace `AWS/SageMaker`, dimensions `EndpointName` + `VariantName` (one per
  production variant) -- the endpoint invocation metrics listed in "Monitor Amazon SageMaker AI with
  Amazon CloudWatch", https://docs.aws.amazon.com/sagemaker/latest/dg/monitoring-cloudwatch.html (as of
  2026-12; also aws-cdk-lib's generated `SageMakerMetrics.invocationsSum`, dimensions EndpointName and
  VariantName).
- Lambda functions: namespace `AWS/Lambda`, dimension `FunctionName` (all versions and aliases together) --
  "Types of metrics for Lambda functions",
  https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html (as of 2026-12).
The latest bucket with a non-zero sum gives the last invocation, to within one period (its end is shown).

Creation: the endpoint's `CreationTime`; Lambda reports no creation time, so a function-only deployment
uses `LastModified` (its last deploy), which can only make it look younger, never idle sooner.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from ocrkit.deploy.inventory import FoundDeployment, MetricWindow, last_busy
from ocrkit.deploy.pricing import hourly_now
from ocrkit.deploy.serving import ServingOption
from ocrkit.providers.aws.names import TAG_KEY
from ocrkit.providers.aws.planning import describe_or_none
from ocrkit.providers.aws.session import ACCESS_DENIED, AwsSession, aws_errors, error_code
from ocrkit.providers.aws.usage import running_usage

SERVING_TAG = "ocrkit:serving"
ACCELERATED_FAMILIES = ("ml.g", "ml.p", "ml.inf", "ml.trn", "ml.dl")
ZERO = Decimal(0)


def accelerated(instance_type: str) -> bool:
    """ml.g4dn.xlarge -> True (a GPU), ml.c5.xlarge -> False."""
    family = instance_type.split(".")[1] if instance_type.count(".") >= 2 else instance_type
    return any(f"ml.{family}".startswith(prefix) for prefix in ACCELERATED_FAMILIES)


@dataclass
class _Group:
    """What carries one deployment's tag in this region."""

    name: str
    serving_tag: str | None = None
    endpoints: set[str] = field(default_factory=set)
    functions: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> ListFunctions entry
    others: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class _Endpoint:
    name: str
    serving: ServingOption
    running: str
    hourly: Decimal | None
    created: datetime | None
    variants: tuple[str, ...]
    notes: tuple[str, ...] = ()


def find_deployments(
    aws: AwsSession, window: MetricWindow, recorded: dict[str, str] | None = None
) -> tuple[list[FoundDeployment], list[str]]:
    """(every ocrkit deployment in the session's region, notes on what could not be searched).
    `recorded`: deployment name -> the serving option its state file here records."""
    groups: dict[str, _Group] = {}
    notes: list[str] = []
    with aws_errors(f"list ocrkit's deployments in {aws.region}"):
        notes += _by_tagging_api(aws, groups)
        notes += _by_endpoint_listing(aws, groups)
        notes += _by_function_listing(aws, groups)
        found = [_describe(aws, g, window, (recorded or {}).get(g.name)) for g in groups.values()]
    return found, notes


def _group(groups: dict[str, _Group], tags: dict[str, str]) -> _Group | None:
    name = tags.get(TAG_KEY)
    if not name:
        return None
    group = groups.setdefault(name, _Group(name))
    group.serving_tag = group.serving_tag or tags.get(SERVING_TAG)
    return group


def _tags(items: Iterable[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in items or []}


def _by_tagging_api(aws: AwsSession, groups: dict[str, _Group]) -> list[str]:
    try:
        paginator = aws.client("resourcegroupstaggingapi").get_paginator("get_resources")
        mappings = [
            m
            for page in paginator.paginate(TagFilters=[{"Key": TAG_KEY}])
            for m in page.get("ResourceTagMappingList", [])
        ]
    except Exception as exc:
        code = error_code(exc) or type(exc).__name__
        return [
            f"aws {aws.region}: the tagging API could not be used ({code}); listed endpoints and functions"
        ]
    for m in mappings:
        group = _group(groups, _tags(m.get("Tags")))
        if group is None:
            continue
        arn = m["ResourceARN"]
        parts = arn.split(":", 5)
        service, resource = (parts[2], parts[5]) if len(parts) == 6 else ("", "")
        if service == "sagemaker" and resource.startswith("endpoint/"):
            group.endpoints.add(resource.split("/", 1)[1])
        elif service == "lambda" and resource.startswith("function:"):
            group.functions.setdefault(resource.split(":")[1], {})
        else:
            group.others.add(arn)
    return []


def _denied(exc: BaseException) -> bool:
    return error_code(exc) in ACCESS_DENIED


def _by_endpoint_listing(aws: AwsSession, groups: dict[str, _Group]) -> list[str]:
    sm, hidden = aws.client("sagemaker"), 0
    for page in sm.get_paginator("list_endpoints").paginate():
        for e in page.get("Endpoints", []):
            try:
                tags = _tags(sm.list_tags(ResourceArn=e["EndpointArn"]).get("Tags"))
            except Exception as exc:
                if not _denied(exc):
                    raise
                hidden += 1
                continue
            group = _group(groups, tags)
            if group is not None:
                group.endpoints = {x for x in group.endpoints if x != e["EndpointName"].lower()}
                group.endpoints.add(e["EndpointName"])
    return [f"aws {aws.region}: not allowed to read the tags of {hidden} endpoint(s)"] if hidden else []


def _by_function_listing(aws: AwsSession, groups: dict[str, _Group]) -> list[str]:
    lam, hidden = aws.client("lambda"), 0
    for page in lam.get_paginator("list_functions").paginate():
        for f in page.get("Functions", []):
            try:
                tags = lam.list_tags(Resource=f["FunctionArn"]).get("Tags") or {}
            except Exception as exc:
                if not _denied(exc):
                    raise
                hidden += 1
                continue
            group = _group(groups, tags)
            if group is not None:
                group.functions[f["FunctionName"]] = f
    return [f"aws {aws.region}: not allowed to read the tags of {hidden} function(s)"] if hidden else []


def _describe_endpoint(aws: AwsSession, name: str, deployment: str) -> _Endpoint | None:
    sm = aws.client("sagemaker")
    got = describe_or_none(sm.describe_endpoint, EndpointName=name)
    if got is None:
        return None  # deleted between the listing and now
    config = describe_or_none(sm.describe_endpoint_config, EndpointConfigName=got["EndpointConfigName"]) or {}
    wanted = (config.get("ProductionVariants") or [{}])[0]
    variants = tuple(v["VariantName"] for v in got.get("ProductionVariants") or []) or (
        wanted.get("VariantName", "AllTraffic"),
    )
    status = got.get("EndpointStatus", "?")
    serverless = wanted.get("ServerlessConfig")
    if serverless:
        notes = []
        if serverless.get("ProvisionedConcurrency"):
            notes.append(
                f"endpoint {name}: provisioned concurrency {serverless['ProvisionedConcurrency']} is billed "
                "every hour; not priced here"
            )
        running = f"serverless {serverless.get('MemorySizeInMB', '?')} MB, {status}"
        return _Endpoint(
            name,
            ServingOption.serverless_endpoint,
            running,
            ZERO,
            got.get("CreationTime"),
            variants,
            tuple(notes),
        )
    instance_type = wanted.get("InstanceType", "")
    counts = [v.get("CurrentInstanceCount") for v in got.get("ProductionVariants") or []]
    count = (
        sum(int(c) for c in counts if c is not None)
        if any(c is not None for c in counts)
        else int(wanted.get("InitialInstanceCount") or 0)
    )
    hourly = hourly_now(running_usage(deployment, aws.region, instance_type, count)) if count else ZERO
    notes = () if hourly is not None else (f"no price in the catalog for {instance_type} in {aws.region}",)
    option = ServingOption.gpu_endpoint if accelerated(instance_type) else ServingOption.cpu_endpoint
    running = f"{instance_type} x {count}, {status}"
    return _Endpoint(name, option, running, hourly, got.get("CreationTime"), variants, notes)


def _last_invocation(aws: AwsSession, namespace: str, dims: dict[str, str], window: MetricWindow):
    got = aws.client("cloudwatch").get_metric_statistics(
        Namespace=namespace,
        MetricName="Invocations",
        Dimensions=[{"Name": k, "Value": v} for k, v in dims.items()],
        StartTime=window.start,
        EndTime=window.end,
        Period=window.period_s,
        Statistics=["Sum"],
    )
    return last_busy([(p["Timestamp"], float(p.get("Sum") or 0)) for p in got.get("Datapoints", [])], window)


def _modified(entry: dict[str, Any]) -> datetime | None:
    value = entry.get("LastModified")
    if not value:
        return None
    try:  # "2026-12-02T22:54:51.000+0000"
        return datetime.strptime(str(value), "%Y-%m-%dT%H:%M:%S.%f%z")
    except ValueError:
        return None


def _option(recorded: str | None, tag: str | None) -> tuple[ServingOption | None, str, list[str]]:
    for value, source in ((recorded, "state"), (tag, "tag")):
        if value:
            try:
                return ServingOption(value), source, []
            except ValueError:
                return None, "none", [f"{source} names an unknown serving option '{value}'; inferred instead"]
    return None, "none", []


def _describe(aws: AwsSession, g: _Group, window: MetricWindow, recorded: str | None) -> FoundDeployment:
    notes: list[str] = []
    endpoints = [e for e in (_describe_endpoint(aws, n, g.name) for n in sorted(g.endpoints)) if e]
    lam = aws.client("lambda")
    functions = {}
    for fname, entry in g.functions.items():
        if not entry:
            got = describe_or_none(lam.get_function, FunctionName=fname)
            if got is None:
                continue
            entry = got.get("Configuration", {})
        functions[fname] = entry

    chosen, source, why = _option(recorded, g.serving_tag)
    notes += why
    if endpoints:
        inferred: ServingOption | None = endpoints[0].serving
    else:
        inferred = ServingOption.function if functions else None
    serving = chosen or inferred
    if chosen is None:
        source = "inferred" if inferred else "none"

    hourly: Decimal | None = ZERO
    running: list[str] = []
    last: list[datetime] = []
    created: list[datetime] = []
    for e in endpoints:
        running.append(e.running)
        notes += e.notes
        hourly = None if hourly is None or e.hourly is None else hourly + e.hourly
        if e.created:
            created.append(e.created)
        for variant in e.variants:
            when = _last_invocation(
                aws, "AWS/SageMaker", {"EndpointName": e.name, "VariantName": variant}, window
            )
            if when:
                last.append(when)
    for fname, entry in sorted(functions.items()):
        if not endpoints:
            running.append(f"Lambda {fname} {entry.get('MemorySize', '?')} MB")
        when = _last_invocation(aws, "AWS/Lambda", {"FunctionName": fname}, window)
        if when:
            last.append(when)
        if not endpoints and _modified(entry):
            created.append(_modified(entry))  # type: ignore[arg-type]
    if serving is None and g.others:
        running.append(f"{len(g.others)} other resource(s), nothing that serves")
    resources = tuple(
        [f"sagemaker endpoint {e.name}" for e in endpoints]
        + [f"lambda function {f}" for f in sorted(functions)]
        + sorted(g.others)
    )
    return FoundDeployment(
        cloud="aws",
        name=g.name,
        region=aws.region,
        serving=None if serving is None else serving.value,
        serving_from=source,
        hourly=hourly,
        running="; ".join(running) or "nothing",
        created=min(created) if created else None,
        last_invocation=max(last) if last else None,
        window=window,
        resources=resources,
        notes=tuple(notes),
    )
