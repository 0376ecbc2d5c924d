"""`--method report`: the report's own arithmetic, reproduced line by line and labelled.

The report (seeds/000, Cost Analysis) multiplies usage by one stated price per item, applies Lambda's and
Cloud Functions' free tiers but not API Gateway's, and prices every SageMaker/Vertex hour at the committed
rate. This module does the same with the prices the report states (catalog `report.price`; a published
price, labelled as an assumption, where it states none) and the usage it states (the scenario's, with the
`report:` section's readings laid over it). A line is *derived* when that arithmetic produces the report's
figure and *quoted* when the report gives a figure its stated prices and usage do not produce. Where the
report's own sums disagree, the sum of its lines is kept and the report's figure becomes a finding.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from ocrkit.costing.catalog import Catalog, PriceEntry
from ocrkit.costing.commitments import commit
from ocrkit.costing.results import (
    CLOUD_LABELS,
    PLAN_LABELS,
    ZERO,
    CloudBudget,
    Finding,
    LineItem,
    Plan,
    PlanTotal,
    fmt_num,
    fmt_price,
    money,
    per_unit,
    same_cents,
)
from ocrkit.costing.scenario import LoadedScenario, QuotedLine, ReportCloud, ReportService, service_usages
from ocrkit.costing.services import aws as aws_services
from ocrkit.costing.services import gcp as gcp_services
from ocrkit.costing.tiers import billable
from ocrkit.errors import ConfigError


class ReportArithmetic:
    """Derived lines as the report computes them: usage x one stated price, few free tiers."""

    def __init__(self, cloud: str, catalog: Catalog, scenario_path: str, hours_per_month: Decimal) -> None:
        self.cloud = cloud
        self.catalog = catalog
        self.scenario_path = scenario_path
        self.month = hours_per_month

    # -- prices ------------------------------------------------------------------------------------------
    def price(self, price_key: str, field: str) -> tuple[PriceEntry, Decimal, tuple[str, ...]]:
        """The report's price for a key, or the published one with an assumption saying so."""
        if not self.catalog.has(price_key):
            raise ConfigError(
                self.scenario_path,
                f"{self.cloud}.{field}",
                f"no price '{price_key}' in catalog {self.catalog.info().path}",
            )
        entry = self.catalog.entry(price_key)
        if entry.report is not None:
            return entry, entry.report.price, ()
        published = entry.list_price
        return (
            entry,
            published,
            (f"{entry.description}: the report states no price; published {_per(entry, published)}",),
        )

    def line(
        self,
        *,
        service: str,
        label: str,
        key: str,
        item: str,
        quantity: Decimal,
        price_key: str,
        field: str,
        note: str = "",
        commitment_ref: tuple[str, str] | None = None,
    ) -> LineItem:
        entry, unit_price, assumptions = self.price(price_key, field)
        return LineItem.priced(
            service=service,
            service_label=label,
            key=key,
            item=item,
            quantity=quantity,
            unit=entry.unit,
            unit_price=unit_price,
            price_per=entry.per,
            basis="derived",
            price_key=price_key,
            note=note,
            assumptions=assumptions,
            commitment_ref=commitment_ref,
        )

    def free_quantity(self, price_key: str) -> Decimal:
        entry = self.catalog.entry(price_key) if self.catalog.has(price_key) else None
        return entry.free_tier.quantity if entry and entry.free_tier else ZERO

    # -- AWS -------------------------------------------------------------------------------------------
    def s3(self, u: aws_services.S3Usage) -> list[LineItem]:
        c = dict(service="s3", label="S3")
        return [
            self.line(
                **c,
                key="s3.storage",
                item=f"Standard storage, {fmt_num(u.storage_gb)} GB",
                quantity=u.storage_gb,
                price_key="s3.standard.storage",
                field="s3.storage_gb",
            ),
            self.line(
                **c,
                key="s3.put",
                item=f"PUT requests, {fmt_num(u.put_requests)}",
                quantity=u.put_requests,
                price_key="s3.standard.put",
                field="s3.put_requests",
            ),
            self.line(
                **c,
                key="s3.get",
                item=f"GET requests, {fmt_num(u.get_requests)}",
                quantity=u.get_requests,
                price_key="s3.standard.get",
                field="s3.get_requests",
            ),
        ]

    def sagemaker(self, u: aws_services.SageMakerUsage) -> list[LineItem]:
        c = dict(service="sagemaker", label="SageMaker")
        sp = aws_services.SAVINGS_PLAN
        lines = []
        if u.notebook:
            nb = u.notebook
            lines.append(
                self.line(
                    **c,
                    key="sagemaker.notebook",
                    item=f"Notebook {nb.instance_type}, {fmt_num(nb.instances * nb.hours)} h",
                    quantity=nb.instances * nb.hours,
                    price_key=f"sagemaker.notebook.{nb.instance_type}",
                    field="sagemaker.notebook.instance_type",
                    commitment_ref=(sp, nb.instance_type),
                )
            )
        if u.training:
            tr = u.training
            lines.append(
                self.line(
                    **c,
                    key="sagemaker.training",
                    item=f"Training {tr.instance_type}, {fmt_num(tr.total_hours())} h",
                    quantity=tr.total_hours(),
                    price_key=f"sagemaker.training.{tr.instance_type}",
                    field="sagemaker.training.instance_type",
                    commitment_ref=(sp, tr.instance_type),
                )
            )
        if u.endpoints:
            ep = u.endpoints
            hours = ep.endpoints * ep.instances_per_endpoint * (ep.hours_per_instance or self.month)
            lines.append(
                self.line(
                    **c,
                    key="sagemaker.endpoint",
                    item=f"Real-time endpoint {ep.instance_type}, {fmt_num(hours)} h",
                    quantity=hours,
                    price_key=f"sagemaker.inference.{ep.instance_type}",
                    field="sagemaker.endpoints.instance_type",
                    commitment_ref=(sp, ep.instance_type),
                )
            )
        return lines

    def lambda_(self, u: aws_services.LambdaUsage) -> list[LineItem]:
        c = dict(service="lambda", label="Lambda")
        gb_s = aws_services.lambda_gb_seconds(u, Decimal(1))
        free_gb_s = self.free_quantity("lambda.duration")
        free_req = self.free_quantity("lambda.requests")
        return [
            self.line(
                **c,
                key="lambda.requests",
                item=f"Requests, {fmt_num(u.requests)} - {fmt_num(free_req)} free",
                quantity=billable(u.requests, free_req),
                price_key="lambda.requests",
                field="lambda.requests",
                note="after the always-free 1M requests",
            ),
            self.line(
                **c,
                key="lambda.duration",
                item=f"Duration, {fmt_num(gb_s)} GB-s - {fmt_num(free_gb_s)} free "
                f"({fmt_num(u.memory_mb)} MB x {fmt_num(u.duration_ms)} ms)",
                quantity=billable(gb_s, free_gb_s),
                price_key="lambda.duration",
                field="lambda.duration_ms",
                note="after the always-free 400,000 GB-s",
            ),
        ]

    def aws_api_gateway(self, u: aws_services.ApiGatewayUsage) -> list[LineItem]:
        return [
            self.line(
                service="api_gateway",
                label="API Gateway",
                key="api_gateway.requests",
                item=f"HTTP API requests, {fmt_num(u.requests)}",
                quantity=u.requests,
                price_key="apigateway.http.requests",
                field="api_gateway.requests",
            ),
        ]

    # -- GCP -------------------------------------------------------------------------------------------
    def cloud_storage(self, u: gcp_services.CloudStorageUsage) -> list[LineItem]:
        c = dict(service="cloud_storage", label="Cloud Storage")
        loc = u.location or self.catalog.region
        where = "US multi-region" if loc == "us" else loc
        lines = [
            self.line(
                **c,
                key="cloud_storage.storage",
                item=f"Standard storage ({where}), {fmt_num(u.storage_gb)} GB",
                quantity=u.storage_gb,
                price_key=f"gcs.standard.{loc}.storage",
                field="cloud_storage.location",
            ),
            self.line(
                **c,
                key="cloud_storage.class_a",
                item=f"Class A operations, {fmt_num(u.class_a_ops)}",
                quantity=u.class_a_ops,
                price_key=f"gcs.standard.{loc}.class_a",
                field="cloud_storage.location",
            ),
            self.line(
                **c,
                key="cloud_storage.class_b",
                item=f"Class B operations, {fmt_num(u.class_b_ops)}",
                quantity=u.class_b_ops,
                price_key=f"gcs.standard.{loc}.class_b",
                field="cloud_storage.location",
            ),
        ]
        if u.replication_gb:
            lines.append(
                self.line(
                    **c,
                    key="cloud_storage.replication",
                    item=f"Replication, {fmt_num(u.replication_gb)} GB",
                    quantity=u.replication_gb,
                    price_key=f"gcs.standard.{loc}.replication",
                    field="cloud_storage.replication_gb",
                )
            )
        return lines

    def vertex(self, u: gcp_services.VertexUsage) -> list[LineItem]:
        lines = []
        if u.training:
            tr = u.training
            lines += self._vertex(
                "training",
                "vertex.training",
                "Training",
                tr.machine_type,
                tr.gpu_type,
                tr.gpus_per_node,
                tr.total_hours(),
                "vertex.training",
            )
        if u.endpoints:
            ep = u.endpoints
            hours = ep.endpoints * ep.nodes_per_endpoint * (ep.hours_per_node or self.month)
            lines += self._vertex(
                "prediction",
                "vertex.endpoint",
                "Endpoint",
                ep.machine_type,
                ep.gpu_type,
                ep.gpus_per_node,
                hours,
                "vertex.endpoints",
            )
        return lines

    def _vertex(self, kind, key, words, machine, gpu, gpus, hours, field) -> list[LineItem]:
        c = dict(service="vertex", label="Vertex AI")
        cud = gcp_services.CUD
        lines = [
            self.line(
                **c,
                key=f"{key}.node",
                item=f"{words} {machine} node-hours, {fmt_num(hours)}",
                quantity=hours,
                price_key=f"vertex.{kind}.{machine}",
                field=f"{field}.machine_type",
                commitment_ref=(cud, machine),
            ),
        ]
        if gpu:
            lines.append(
                self.line(
                    **c,
                    key=f"{key}.gpu",
                    item=f"{words} {gpu} GPU-hours, {fmt_num(hours * gpus)}",
                    quantity=hours * gpus,
                    price_key=f"vertex.{kind}.gpu.{gpu}",
                    field=f"{field}.gpu_type",
                    commitment_ref=(cud, gpu),
                )
            )
        return lines

    def cloud_functions(self, u: gcp_services.CloudFunctionsUsage) -> list[LineItem]:
        """The report gives no rule for function compute; the published 2nd-gen rule stands in (labelled)."""
        c = dict(service="cloud_functions", label="Cloud Functions")
        seconds = gcp_services.function_seconds(u, Decimal(100))
        vcpu = u.vcpu if u.vcpu is not None else self._vcpu(u)
        gib = Decimal(u.memory_mb) / gcp_services.MB_PER_GB
        free_req = self.free_quantity("cloudrun.requests")
        rule = "published 2nd-gen (Cloud Run) rule after its free tier; the report states no rule"
        return [
            self.line(
                **c,
                key="cloud_functions.cpu",
                item=f"CPU, {fmt_num(vcpu)} vCPU",
                quantity=billable(seconds * vcpu, self.free_quantity("cloudrun.cpu")),
                price_key="cloudrun.cpu",
                field="cloud_functions",
                note=rule,
            ),
            self.line(
                **c,
                key="cloud_functions.memory",
                item=f"Memory, {fmt_num(gib)} GiB",
                quantity=billable(seconds * gib, self.free_quantity("cloudrun.memory")),
                price_key="cloudrun.memory",
                field="cloud_functions",
                note=rule,
            ),
            self.line(
                **c,
                key="cloud_functions.requests",
                item=f"Invocations, {fmt_num(u.requests)} - {fmt_num(free_req)} free",
                quantity=billable(u.requests, free_req),
                price_key="cloudrun.requests",
                field="cloud_functions.requests",
                note="after the 2M free invocations a month",
            ),
        ]

    def _vcpu(self, u: gcp_services.CloudFunctionsUsage) -> Decimal:
        table = self.catalog.data.function_cpu
        if table is None or u.memory_mb not in table.vcpu_by_memory_mb:
            raise ConfigError(
                self.scenario_path,
                f"{self.cloud}.cloud_functions.memory_mb",
                f"no vCPU allocation known for {u.memory_mb} MB",
            )
        return table.vcpu_by_memory_mb[u.memory_mb]

    def gcp_api_gateway(self, u: gcp_services.ApiGatewayUsage) -> list[LineItem]:
        return [
            self.line(
                service="api_gateway",
                label="API Gateway",
                key="api_gateway.calls",
                item=f"Calls, {fmt_num(u.requests)}",
                quantity=u.requests,
                price_key="apigateway.calls",
                field="api_gateway.requests",
                note="the report prices every call at $3 per million, although it states that the "
                "first 2M calls a month are free",
            ),
        ]

    def derive(self, service_id: str, usage) -> list[LineItem]:
        table = {
            ("aws", "s3"): self.s3,
            ("aws", "sagemaker"): self.sagemaker,
            ("aws", "lambda"): self.lambda_,
            ("aws", "api_gateway"): self.aws_api_gateway,
            ("gcp", "cloud_storage"): self.cloud_storage,
            ("gcp", "vertex"): self.vertex,
            ("gcp", "cloud_functions"): self.cloud_functions,
            ("gcp", "api_gateway"): self.gcp_api_gateway,
        }
        return table[(self.cloud, service_id)](usage)


def _per(entry: PriceEntry, price: Decimal) -> str:
    return f"{fmt_price(price)} per {per_unit(entry.unit, entry.per)}"


# -- the report's figures laid over its arithmetic ------------------------------------------------------


def _apply_quotes(
    derived: list[LineItem], sid: str, label: str, block: ReportService
) -> tuple[list[LineItem], list[tuple[LineItem, list[LineItem]]]]:
    """Replace derived lines by the figures the report quotes; mark lines it leaves out of its total."""
    lines = [_with_note(x, block.notes.get(x.key) or block.notes.get("*")) for x in derived]
    quotes: list[tuple[LineItem, list[LineItem]]] = []
    for q in block.quoted:
        keys = [x.key for x in lines] if q.replaces == "all" else list(q.replaces)
        removed = [x for x in lines if x.key in keys]
        quoted = _quoted_line(q, sid, label, keys)
        position = next((i for i, x in enumerate(lines) if x.key in keys), len(lines))
        lines = [x for x in lines if x.key not in keys]
        lines.insert(min(position, len(lines)), quoted)
        quotes.append((quoted, removed))
    if block.not_in_total:
        lines = [replace(x, in_total=False) if x.key in block.not_in_total else x for x in lines]
    return lines, quotes


def _with_note(line: LineItem, note: str | None) -> LineItem:
    if not note:
        return line
    return replace(line, note="; ".join(p for p in (line.note, note) if p))


def _quoted_line(q: QuotedLine, sid: str, label: str, replaces: list[str]) -> LineItem:
    return LineItem(
        service=sid,
        service_label=label,
        key=q.key or f"{sid}.quoted",
        item=q.item,
        cost=q.amount,
        basis="quoted",
        note=q.note,
        in_total=q.in_total,
        replaces=tuple(replaces),
    )


def report_budget(
    loaded: LoadedScenario, cloud: str, catalog: Catalog
) -> tuple[CloudBudget, list[Finding], dict[str, list[tuple[LineItem, list[LineItem]]]]]:
    """The report's bill for one cloud, per plan it prices, and the findings about its own sums."""
    scenario = loaded.scenario
    assert scenario.report is not None
    block: ReportCloud | None = getattr(scenario.report, cloud)
    usage = loaded.report_usage.get(cloud)
    if block is None or usage is None:
        raise ConfigError(loaded.path, f"report.{cloud}", f"the report section has no {cloud} figures")
    arithmetic = ReportArithmetic(cloud, catalog, str(loaded.path), scenario.hours_per_month)
    base: list[LineItem] = []
    quotes: dict[str, list[tuple[LineItem, list[LineItem]]]] = {}
    for definition, service_usage in service_usages(cloud, usage):
        derived = arithmetic.derive(definition.id, service_usage)
        service_block = block.services.get(definition.id)
        if service_block is not None:
            derived, quotes[definition.id] = _apply_quotes(
                derived, definition.id, definition.label, service_block
            )
        base += derived

    findings: list[Finding] = []
    plans: dict[str, PlanTotal] = {}
    for plan in scenario.report.plans:
        lines = [x for x in base if not _quote_excluded(x, plan, block)]
        lines = list(commit(tuple(lines), plan, catalog, scenario.report.commitment_coverage))
        lines, service_findings = _reconcile_services(cloud, plan, lines, block)
        findings += service_findings
        total = PlanTotal(plan=plan, lines=tuple(lines), report_total=block.total.get(plan))
        findings += _total_findings(cloud, plan, total)
        plans[plan] = total
    findings += _quote_findings(cloud, scenario.report.plans[0], quotes)
    budget = CloudBudget(
        cloud=cloud,  # type: ignore[arg-type]
        region=catalog.region,
        catalog=catalog.info(),
        plans=plans,
        notes=tuple(scenario.report.notes),
    )
    return budget, findings, quotes


def _quote_excluded(line: LineItem, plan: Plan, block: ReportCloud) -> bool:
    if line.basis != "quoted":
        return False
    service = block.services.get(line.service)
    for q in service.quoted if service else []:
        if (q.key or f"{line.service}.quoted") == line.key and q.item == line.item:
            return q.plans is not None and plan not in q.plans
    return False


def _reconcile_services(
    cloud: str, plan: Plan, lines: list[LineItem], block: ReportCloud
) -> tuple[list[LineItem], list[Finding]]:
    """Where the report's figure for a service is not the sum of its lines, keep the lines, add the
    unexplained rest as a quoted line (so the report's total is still reproduced) and say so."""
    findings = []
    out = list(lines)
    for sid, service in block.services.items():
        figure = service.figure.get(plan)
        present = [x for x in out if x.service == sid]
        if figure is None or not present:
            continue
        label = present[0].service_label
        computed = sum((x.cost for x in present if x.in_total), ZERO)
        if same_cents(figure, computed):
            continue
        rest = figure - computed
        remainder = LineItem(
            service=sid,
            service_label=label,
            key=f"{sid}.remainder",
            item=f"Rest of the report's {label} figure",
            cost=rest,
            basis="quoted",
            note=f"the report's {label} figure is ${money(figure)}, its own lines sum to ${money(computed)}",
        )
        last = max(i for i, x in enumerate(out) if x.service == sid)
        out.insert(last + 1, remainder)
        findings.append(
            Finding(
                cloud=cloud,  # type: ignore[arg-type]
                plan=plan,
                service=label,
                report=figure,
                computed=computed,
                reason=(
                    f"the report's {label} figure (${money(figure)}) is not the sum of its own {label} lines "
                    f"(${money(computed)}); the {_signed(rest)} rest is shown as a quoted line"
                ),
                kind="report_service_total",
            )
        )
    return out, findings


def _signed(amount: Decimal) -> str:
    return f"-${money(-amount)}" if amount < 0 else f"${money(amount)}"


def _total_findings(cloud: str, plan: Plan, total: PlanTotal) -> list[Finding]:
    findings = []
    if total.report_total is not None and not same_cents(total.report_total, total.total):
        findings.append(
            Finding(
                cloud=cloud,  # type: ignore[arg-type]
                plan=plan,
                service="Total",
                report=total.report_total,
                computed=total.total,
                reason=(
                    f"the report's {PLAN_LABELS[plan].lower()} total (${money(total.report_total)}) "
                    f"disagrees with the sum of its own lines (${money(total.total)}); ocrkit prints the sum"
                ),
                kind="report_total",
            )
        )
    left_out = [x for x in total.lines if not x.in_total]
    if left_out:
        extra = sum((x.cost for x in left_out), ZERO)
        names = " and ".join(f"{x.service_label} '{x.item}' (${money(x.cost)})" for x in left_out)
        findings.append(
            Finding(
                cloud=cloud,  # type: ignore[arg-type]
                plan=plan,
                service="Total",
                report=total.total,
                computed=total.total + extra,
                reason=(
                    f"the report lists {names} but leaves them out of its {CLOUD_LABELS[cloud]} total; "
                    f"with them the total is ${money(total.total + extra)}"
                ),
                kind="not_in_total",
            )
        )
    return findings


def _quote_findings(
    cloud: str, plan: Plan, quotes: dict[str, list[tuple[LineItem, list[LineItem]]]]
) -> list[Finding]:
    """A quoted figure next to what the report's stated prices and usage give, once per scenario."""
    findings = []
    for pairs in quotes.values():
        for quoted, removed in pairs:
            if not removed:
                continue
            derived = sum((x.cost for x in removed), ZERO)
            if same_cents(derived, quoted.cost):
                continue
            findings.append(
                Finding(
                    cloud=cloud,  # type: ignore[arg-type]
                    plan=plan,
                    service=quoted.service_label,
                    report=quoted.cost,
                    computed=derived,
                    reason=f"{quoted.item}: quoted, not derived; "
                    + (quoted.note or "no stated usage produces it"),
                    kind="quoted",
                )
            )
    return findings
