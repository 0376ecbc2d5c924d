"""Usage scenarios: what the system does in a month, per cloud, in a planner's words.

A scenario is a YAML file (built-in ones live in configs/scenarios/); a planner copies one, edits it and
runs `ocrkit cost --scenario ./mine.yaml`. The optional `report:` section records what the report
(seeds/000, Cost Analysis) printed for this scenario, so that `--method report` can reproduce it and
`--method list` can audit it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ocrkit.config import config_error, dotted, read_yaml
from ocrkit.costing.results import PLANS, Plan
from ocrkit.costing.services import ServiceDef, Usage
from ocrkit.costing.services import aws as aws_services
from ocrkit.costing.services import gcp as gcp_services
from ocrkit.costing.traffic import Traffic
from ocrkit.errors import ConfigError
from ocrkit.resources import configs_dir

Coverage = Literal["always_on", "all_eligible_hours"]
SERVICE_DEFS: dict[str, dict[str, ServiceDef]] = {"aws": aws_services.SERVICES, "gcp": gcp_services.SERVICES}
CLOUD_SETTINGS: dict[str, tuple[str, ...]] = {"aws": ("region", "new_account_free_tier"), "gcp": ("region",)}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class AwsScenario(Usage):
    region: str = "us-east-1"
    new_account_free_tier: bool = False  # apply the free tiers AWS gives only in an account's first 12 months
    s3: aws_services.S3Usage | None = None
    sagemaker: aws_services.SageMakerUsage | None = None
    lambda_: aws_services.LambdaUsage | None = Field(None, alias="lambda")
    api_gateway: aws_services.ApiGatewayUsage | None = None


class GcpScenario(Usage):
    region: str = "us-east4"
    cloud_storage: gcp_services.CloudStorageUsage | None = None
    vertex: gcp_services.VertexUsage | None = None
    cloud_functions: gcp_services.CloudFunctionsUsage | None = None
    api_gateway: gcp_services.ApiGatewayUsage | None = None


CloudScenario = AwsScenario | GcpScenario


def service_usages(cloud: str, usage: CloudScenario) -> list[tuple[ServiceDef, Usage]]:
    """The services a cloud block sets, in the catalog's order, with their usage."""
    out = []
    for sid, definition in SERVICE_DEFS[cloud].items():
        value = getattr(usage, "lambda_" if sid == "lambda" else sid)
        if value is not None:
            out.append((definition, value))
    return out


class CommitmentSettings(_Strict):
    # always_on: commit only usage that runs every hour of the month (a commitment is charged every hour
    # of its term, used or not); all_eligible_hours: price every eligible hour at the committed rate, as
    # the report does.
    coverage: Coverage = "always_on"


def _per_plan(value: Any) -> Any:
    """`figure: "0.34"` means the same figure for every plan."""
    if value is None or isinstance(value, dict):
        return value
    return dict.fromkeys(PLANS, value)


class QuotedLine(_Strict):
    """A figure the report gives that its stated prices and usage do not produce."""

    item: str
    amount: Annotated[Decimal, Field(ge=0)]
    key: str | None = None  # component key for the audit (default: "<service>.quoted")
    replaces: list[str] | Literal["all"] = []  # the derived components this figure stands in for
    in_total: bool = True  # False: the report lists it but leaves it out of its total
    plans: list[Plan] | None = None  # default: every plan the report prices
    note: str = ""


class ReportService(_Strict):
    figure: dict[Plan, Decimal] = {}  # the report's figure for this service, per plan (or one for all)
    usage: dict[str, Any] = {}  # the report's reading of usage, where it differs from the scenario's
    quoted: list[QuotedLine] = []
    not_in_total: list[str] = []  # derived components the report lists but leaves out of its total
    notes: dict[str, str] = {}  # component key ("*": every line) -> a remark on the report's reading

    @field_validator("figure", mode="before")
    @classmethod
    def _figure_per_plan(cls, value: Any) -> Any:
        return _per_plan(value)


class ReportCloud(_Strict):
    total: dict[Plan, Decimal]  # the report's printed total per plan
    services: dict[str, ReportService] = {}

    @field_validator("total", mode="before")
    @classmethod
    def _total_per_plan(cls, value: Any) -> Any:
        return _per_plan(value)


class ReportBlock(_Strict):
    source: str  # which tables of the report these figures are from
    plans: list[Plan] = list(PLANS)  # the plans the report prices for this scenario
    commitment_coverage: Coverage = "all_eligible_hours"
    notes: list[str] = []
    aws: ReportCloud | None = None
    gcp: ReportCloud | None = None


class Scenario(_Strict):
    name: str
    title: str
    description: str = ""
    hours_per_month: Annotated[Decimal, Field(gt=0)] = Decimal(720)  # the report's month: 30 days x 24 h
    commitments: CommitmentSettings = CommitmentSettings()
    aws: AwsScenario | None = None
    gcp: GcpScenario | None = None
    report: ReportBlock | None = None
    traffic: Traffic | None = None  # for `ocrkit cost --serving`: volume, peak, latency target, payload

    @model_validator(mode="after")
    def _some_cloud(self) -> Scenario:
        if self.aws is None and self.gcp is None:
            raise ValueError("a scenario needs an 'aws' or a 'gcp' section (or both)")
        return self

    def cloud(self, cloud: str) -> CloudScenario | None:
        return self.aws if cloud == "aws" else self.gcp


@dataclass(frozen=True)
class LoadedScenario:
    scenario: Scenario
    path: Path
    source: str  # what the user typed: a built-in name or a path
    report_usage: dict[str, CloudScenario]  # per cloud: the scenario's usage with the report's readings

    @property
    def name(self) -> str:
        return self.scenario.name


def scenarios_dir() -> Path:
    return configs_dir() / "scenarios"


def builtin_names() -> list[str]:
    return sorted(p.stem for p in scenarios_dir().glob("*.yaml"))


def resolve(spec: str) -> Path:
    """A built-in scenario name ("baseline") or a path to a YAML file."""
    looks_like_path = any(sep in spec for sep in ("/", "\\")) or spec.endswith((".yaml", ".yml"))
    if looks_like_path or Path(spec).is_file():
        return Path(spec)
    path = scenarios_dir() / f"{spec}.yaml"
    if not path.exists():
        raise ConfigError(
            spec,
            None,
            "unknown scenario",
            hint=f"built-in scenarios: {', '.join(builtin_names())}; or give the path of a YAML file",
        )
    return path


def load_scenario(spec: str) -> LoadedScenario:
    """Read, validate and return a scenario; every problem is a ConfigError naming the file and field."""
    path = resolve(spec)
    raw = read_yaml(path)
    _check_services(path, raw)
    try:
        scenario = Scenario.model_validate(raw)
    except ValidationError as exc:
        raise config_error(path, exc, Scenario) from None
    report_usage = {}
    if scenario.report is not None:
        for cloud in ("aws", "gcp"):
            block = getattr(scenario.report, cloud)
            usage = scenario.cloud(cloud)
            if block is None or usage is None:
                continue
            _check_report_keys(path, cloud, block)
            report_usage[cloud] = _merged_usage(path, cloud, usage, block)
    return LoadedScenario(scenario=scenario, path=path, source=spec, report_usage=report_usage)


def _check_services(path: Path, raw: dict[str, Any]) -> None:
    """Unknown services get their own sentence (pydantic would only say 'extra key')."""
    for cloud in SERVICE_DEFS:
        block = raw.get(cloud)
        if isinstance(block, dict):
            _known_services(path, cloud, block.keys(), cloud, settings=CLOUD_SETTINGS[cloud])
        report = raw.get("report")
        if isinstance(report, dict) and isinstance(report.get(cloud), dict):
            listed = report[cloud].get("services")
            if isinstance(listed, dict):
                _known_services(path, cloud, listed.keys(), f"report.{cloud}.services", settings=())


def _known_services(path: Path, cloud: str, keys, where: str, settings: tuple[str, ...]) -> None:
    known = SERVICE_DEFS[cloud]
    for key in keys:
        if key not in known and key not in settings:
            extra = f"; settings: {', '.join(settings)}" if settings else ""
            raise ConfigError(
                path,
                f"{where}.{key}",
                f"unknown service '{key}' ({cloud.upper()} services: {', '.join(known)}{extra})",
            )


def _check_report_keys(path: Path, cloud: str, block: ReportCloud) -> None:
    for sid, service in block.services.items():
        keys = [(f"not_in_total[{i}]", k) for i, k in enumerate(service.not_in_total)]
        keys += [(f"notes.{k}", k) for k in service.notes if k != "*"]
        for i, quote in enumerate(service.quoted):
            if isinstance(quote.replaces, list):
                keys += [(f"quoted[{i}].replaces[{j}]", k) for j, k in enumerate(quote.replaces)]
            if quote.key:
                keys.append((f"quoted[{i}].key", quote.key))
        for field, key in keys:
            if not key.startswith(f"{sid}."):
                raise ConfigError(
                    path, f"report.{cloud}.services.{sid}.{field}", f"'{key}' is not a {sid} component key"
                )


def _merged_usage(path: Path, cloud: str, usage: CloudScenario, block: ReportCloud) -> CloudScenario:
    """The scenario's usage with the report's readings (report.<cloud>.services.<svc>.usage) laid over it."""
    data = usage.model_dump(by_alias=True, exclude_none=True)
    for sid, service in block.services.items():
        if service.usage:
            data[sid] = _deep_merge(data.get(sid, {}), service.usage)
    model = type(usage)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        sid = str(first["loc"][0]) if first["loc"] else ""
        prefix = ("report", cloud, "services", sid, "usage")
        error = config_error(path, exc, model)
        rest = tuple(first["loc"][1:])
        raise ConfigError(path, dotted(prefix + rest), error.problem, hint=error.hint) from None


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out
