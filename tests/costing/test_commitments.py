"""Commitments change only the lines they cover, and by default only usage that runs all month."""

from __future__ import annotations

from decimal import Decimal as D

from ocrkit.costing import price
from ocrkit.costing.commitments import commit
from ocrkit.costing.results import LineItem, money


def _line(
    key: str, hours: str, *, always_on: bool, ref=("sagemaker_savings_plan", "ml.g4dn.xlarge")
) -> LineItem:
    return LineItem.priced(
        service="sagemaker",
        service_label="SageMaker",
        key=key,
        item=key,
        quantity=D(hours),
        unit="instance-hours",
        unit_price=D("0.7364"),
        basis="catalog",
        always_on=always_on,
        commitment_ref=ref,
    )


def test_on_demand_plan_is_unchanged(aws_catalog):
    lines = (_line("sagemaker.endpoint", "720", always_on=True),)
    assert commit(lines, "on_demand", aws_catalog, "always_on") == lines


def test_always_on_coverage_commits_only_the_24_7_endpoint(aws_catalog):
    notebook = _line("sagemaker.notebook", "240", always_on=False)
    endpoint = _line("sagemaker.endpoint", "720", always_on=True)
    committed = commit((notebook, endpoint), "1yr", aws_catalog, "always_on")
    assert committed[0].unit_price == D("0.7364") and committed[0].commitment is None
    assert "charged for every hour of its term" in committed[0].note
    assert committed[1].unit_price == D("0.5334") and committed[1].cost == D("384.048")
    assert committed[1].commitment == "1-year SageMaker Savings Plan rate"


def test_all_eligible_hours_coverage_is_the_reports_reading(aws_catalog):
    notebook = _line("sagemaker.notebook", "240", always_on=False)
    endpoint = _line("sagemaker.endpoint", "720", always_on=True)
    committed = commit((notebook, endpoint), "3yr", aws_catalog, "all_eligible_hours")
    assert sum(x.cost for x in committed) == D(960) * D("0.3822")


def test_lines_without_a_commitment_are_untouched(aws_catalog):
    storage = LineItem.priced(
        service="s3",
        service_label="S3",
        key="s3.storage",
        item="storage",
        quantity=D(10),
        unit="GB-month",
        unit_price=D("0.023"),
        basis="catalog",
    )
    assert commit((storage,), "3yr", aws_catalog, "all_eligible_hours") == (storage,)


def test_resource_without_a_rate_stays_on_demand_and_says_so(aws_catalog):
    odd = _line("sagemaker.endpoint", "720", always_on=True, ref=("sagemaker_savings_plan", "ml.p9.huge"))
    (line,) = commit((odd,), "1yr", aws_catalog, "always_on")
    assert line.unit_price == D("0.7364") and "no 1yr committed rate" in line.note


def test_gcp_discount_is_labelled_an_assumption_and_covers_vertex_only():
    comparison = price("baseline", method="list")
    gcp = comparison.budgets["gcp"]
    one_year = gcp.plans["1yr"].lines
    committed = [x for x in one_year if x.commitment]
    assert committed and {x.service for x in committed} == {"vertex"}
    assert all(x.key.startswith("vertex.endpoint") for x in committed)  # training runs 240 h: on demand
    assert all(any("report's assumptions" in a for a in x.assumptions) for x in committed)
    on_demand = {x.key: x for x in gcp.plans["on_demand"].lines}
    for line in committed:
        assert line.cost == on_demand[line.key].cost * D("0.9")


def test_savings_plan_covers_sagemaker_only_and_2xlarge_rate_is_derived():
    aws = price("extended", method="list").budgets["aws"]
    three = aws.plans["3yr"].lines
    committed = [x for x in three if x.commitment]
    assert {x.key for x in committed} == {"sagemaker.endpoint"}
    (endpoint,) = committed
    assert endpoint.unit_price == D("0.94") * D("0.3822") / D("0.736")
    assert any("same % off" in a for a in endpoint.assumptions)
    training = next(x for x in three if x.key == "sagemaker.training")
    assert training.commitment is None and money(training.cost) == D("338.40")


def test_scenario_can_choose_the_reports_coverage(scenario_file):
    path = scenario_file(
        base="baseline", edit=lambda d: d["commitments"].update(coverage="all_eligible_hours")
    )
    aws = price(str(path), method="list").budgets["aws"]
    sagemaker = aws.plans["1yr"].service_total("sagemaker")
    assert sagemaker == D(960) * D("0.5334")
