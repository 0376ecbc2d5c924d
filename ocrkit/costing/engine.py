"""From a scenario name to a Comparison: load the scenario and catalogs, price, commit, audit.

This is the costing engine's single entry point for the CLI; everything here is pure (no printing).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ocrkit.costing.audit import audit
from ocrkit.costing.catalog import Catalog, default_catalog, display_path, load_catalog
from ocrkit.costing.commitments import commit
from ocrkit.costing.report_method import report_budget
from ocrkit.costing.results import CLOUDS, CloudBudget, Comparison, Finding, Method, PlanTotal
from ocrkit.costing.scenario import LoadedScenario, load_scenario, service_usages
from ocrkit.costing.services import PricingContext
from ocrkit.errors import ConfigError, OcrkitError


def price(
    scenario: str,
    *,
    method: Method = "list",
    clouds: Iterable[str] = CLOUDS,
    catalogs: Iterable[Path] = (),
) -> Comparison:
    """Price a scenario (built-in name or path) with one method, for the chosen clouds."""
    loaded = load_scenario(scenario)
    wanted = _clouds(loaded, tuple(clouds))
    books = _catalogs(loaded, wanted, tuple(catalogs))
    if method == "report":
        return _report(loaded, wanted, books)
    return _list(loaded, wanted, books)


def _clouds(loaded: LoadedScenario, requested: tuple[str, ...]) -> list[str]:
    present = [c for c in CLOUDS if loaded.scenario.cloud(c) is not None and c in requested]
    if not present:
        asked = ", ".join(requested)
        raise ConfigError(loaded.path, None, f"this scenario has no section for {asked}")
    return present


def _catalogs(loaded: LoadedScenario, clouds: list[str], paths: tuple[Path, ...]) -> dict[str, Catalog]:
    """The default catalog for each cloud's region, unless --catalog gives one for that provider."""
    given: dict[str, Catalog] = {}
    for path in paths:
        catalog = load_catalog(path)
        if catalog.provider in given:
            raise OcrkitError(
                f"two --catalog files for {catalog.provider.upper()}: {given[catalog.provider].path}, {path}"
            )
        given[catalog.provider] = catalog
    books = {}
    for cloud in clouds:
        usage = loaded.scenario.cloud(cloud)
        assert usage is not None
        catalog = given.get(cloud) or default_catalog(cloud, usage.region)
        if catalog.region != usage.region:
            raise ConfigError(
                loaded.path,
                f"{cloud}.region",
                f"is '{usage.region}' but catalog {catalog.path} prices '{catalog.region}'",
                hint="use a catalog for the scenario's region, or change the region",
            )
        books[cloud] = catalog
    return books


def list_budget(loaded: LoadedScenario, cloud: str, catalog: Catalog) -> CloudBudget:
    """The list method: every line from the catalog with the published rules, then each plan."""
    scenario = loaded.scenario
    usage = scenario.cloud(cloud)
    assert usage is not None
    ctx = PricingContext(
        cloud=cloud,
        catalog=catalog,
        scenario_path=str(loaded.path),
        hours_per_month=scenario.hours_per_month,
        new_account=bool(getattr(usage, "new_account_free_tier", False)),
    )
    lines = tuple(line for definition, u in service_usages(cloud, usage) for line in definition.price(u, ctx))
    plans = {
        plan: PlanTotal(plan=plan, lines=commit(lines, plan, catalog, scenario.commitments.coverage))
        for plan in ("on_demand", "1yr", "3yr")
    }
    return CloudBudget(cloud=cloud, region=catalog.region, catalog=catalog.info(), plans=plans)  # type: ignore[arg-type]


def _list(loaded: LoadedScenario, clouds: list[str], books: dict[str, Catalog]) -> Comparison:
    budgets = {cloud: list_budget(loaded, cloud, books[cloud]) for cloud in clouds}
    findings: list[Finding] = []
    notes: list[str] = []
    report = loaded.scenario.report
    if report is None:
        notes.append("This scenario has no report section, so there is nothing to audit against.")
    else:
        for cloud in clouds:
            if getattr(report, cloud) is None or cloud not in loaded.report_usage:
                continue
            theirs, _, _ = report_budget(loaded, cloud, books[cloud])
            findings += audit(budgets[cloud], theirs)
        missing = [p for p in ("on_demand", "1yr", "3yr") if p not in report.plans]
        if missing:
            notes.append(
                "The report gives no "
                + " or ".join(
                    {"on_demand": "on-demand", "1yr": "1-year", "3yr": "3-year"}[p] for p in missing
                )
                + " figures for this scenario, so those plans are not audited."
            )
    return _comparison(loaded, "list", budgets, findings, notes)


def _report(loaded: LoadedScenario, clouds: list[str], books: dict[str, Catalog]) -> Comparison:
    report = loaded.scenario.report
    if report is None:
        raise ConfigError(
            loaded.path,
            "report",
            "this scenario has no report section to reproduce",
            hint="--method report reproduces the report's own figures; use --method list for your own usage",
        )
    budgets: dict[str, CloudBudget] = {}
    findings: list[Finding] = []
    for cloud in clouds:
        if getattr(report, cloud) is None:
            raise ConfigError(loaded.path, f"report.{cloud}", f"the report section has no {cloud} figures")
        budget, cloud_findings, _ = report_budget(loaded, cloud, books[cloud])
        budgets[cloud] = budget
        findings += cloud_findings
    notes = list(report.notes)
    missing = [p for p in ("1yr", "3yr") if p not in report.plans]
    if missing:
        notes.append(
            "The report gives only monthly on-demand figures for this scenario; it prices no 1- or 3-year "
            "commitment. Use --method list for those plans."
        )
    return _comparison(loaded, "report", budgets, findings, notes)


def _comparison(
    loaded: LoadedScenario,
    method: Method,
    budgets: dict[str, CloudBudget],
    findings: list[Finding],
    notes: list[str],
) -> Comparison:
    order = {"on_demand": 0, "1yr": 1, "3yr": 2}
    ordered = sorted(findings, key=lambda f: (CLOUDS.index(f.cloud), order[f.plan], f.service == "Total"))
    report = loaded.scenario.report
    printed = {
        cloud: dict(getattr(report, cloud).total)
        for cloud in budgets
        if report is not None and getattr(report, cloud) is not None
    }
    return Comparison(
        scenario=loaded.scenario.name,
        title=loaded.scenario.title,
        source=display_path(loaded.path),
        method=method,
        budgets=budgets,
        findings=tuple(ordered),
        notes=tuple(notes),
        report_totals=printed,
    )
