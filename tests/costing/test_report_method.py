"""The report method reproduces every line and total of the report's four tables, labelled."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from ocrkit.costing import price
from ocrkit.costing.results import money
from ocrkit.errors import ConfigError

REPORT_TOTALS = {
    "baseline": {
        "aws": {"on_demand": "711.65", "1yr": "517.15", "3yr": "372.00"},
        "gcp": {"on_demand": "623.78", "1yr": "564.47", "3yr": "475.50"},
    },
    "extended": {"aws": {"on_demand": "2310.57"}, "gcp": {"on_demand": "2277.98"}},
}


@pytest.fixture(scope="module")
def baseline():
    return price("baseline", method="report")


@pytest.fixture(scope="module")
def extended():
    return price("extended", method="report")


@pytest.mark.parametrize("scenario", ["baseline", "extended"])
def test_totals_to_the_cent(scenario):
    comparison = price(scenario, method="report")
    got = {
        cloud: {plan: str(money(total.total)) for plan, total in budget.plans.items()}
        for cloud, budget in comparison.budgets.items()
    }
    assert got == REPORT_TOTALS[scenario]


def _lines(comparison, cloud, plan="on_demand"):
    return comparison.budgets[cloud].plans[plan].lines


def _by_key(lines):
    out = {}
    for line in lines:
        out.setdefault(line.key, []).append(line)
    return out


def test_aws_baseline_lines(baseline):
    lines = _by_key(_lines(baseline, "aws"))
    (s3,) = lines["s3.quoted"]
    assert (s3.basis, s3.cost) == ("quoted", D("0.34")) and "0.23" in s3.note
    assert [money(x.cost) for x in lines["sagemaker.notebook"]] == [D("176.64")]
    assert [money(x.cost) for x in lines["sagemaker.endpoint"]] == [D("529.92")]
    (duration,) = lines["lambda.duration"]
    assert (
        duration.basis == "derived" and duration.quantity == D(225_000) and money(duration.cost) == D("3.75")
    )
    assert "5,000 ms" in duration.note  # the assumption it rests on
    (gateway,) = lines["api_gateway.requests"]
    assert (gateway.basis, gateway.cost) == ("derived", D(1))


def test_aws_commitment_plans_use_the_reports_savings_plan_rates(baseline):
    one = _by_key(_lines(baseline, "aws", "1yr"))
    assert one["sagemaker.notebook"][0].unit_price == D("0.5334")
    sagemaker_1yr = sum(x.cost for x in _lines(baseline, "aws", "1yr") if x.service == "sagemaker")
    assert sagemaker_1yr == D("512.064")
    sagemaker_3yr = sum(x.cost for x in _lines(baseline, "aws", "3yr") if x.service == "sagemaker")
    assert sagemaker_3yr == D("366.912")


def test_report_total_that_disagrees_with_its_lines_is_a_finding(baseline):
    one_year = baseline.budgets["aws"].plans["1yr"]
    assert one_year.report_total == D("517.70") and money(one_year.total) == D("517.15")
    (finding,) = [f for f in baseline.findings if f.kind == "report_total"]
    assert (finding.cloud, finding.plan, finding.report) == ("aws", "1yr", D("517.70"))
    assert "sum of its own lines" in finding.reason


def test_gcp_baseline_lines(baseline):
    lines = _by_key(_lines(baseline, "gcp"))
    vertex = sum(x.cost for x in _lines(baseline, "gcp") if x.service == "vertex")
    assert vertex == D("593.112")
    assert lines["vertex.training.node"][0].unit_price == D("0.123")  # the report's training price
    assert lines["cloud_storage.quoted"][0].cost == D("0.43")
    assert lines["cloud_functions.quoted"][0].basis == "quoted"
    (calls,) = lines["api_gateway.calls"]
    assert (calls.basis, calls.cost) == ("derived", D(3)) and "2M calls a month are free" in calls.note
    assert lines["api_gateway.egress"][0].basis == "quoted"
    assert sum(x.cost for x in _lines(baseline, "gcp", "1yr") if x.service == "vertex") == D("533.8008")
    assert sum(x.cost for x in _lines(baseline, "gcp", "3yr") if x.service == "vertex") == D("444.834")


def test_every_derivable_line_is_derived_and_quoted_ones_say_why(baseline, extended):
    for comparison in (baseline, extended):
        for budget in comparison.budgets.values():
            for total in budget.plans.values():
                for line in total.lines:
                    assert line.basis in ("derived", "quoted")
                    if line.basis == "derived":
                        assert line.quantity is not None and line.unit_price is not None
    quoted_baseline = {
        x.key for b in baseline.budgets.values() for x in b.plans["on_demand"].lines if x.basis == "quoted"
    }
    assert quoted_baseline == {
        "s3.quoted",
        "cloud_storage.quoted",
        "cloud_functions.quoted",
        "api_gateway.egress",
    }


def test_extended_aws_keeps_the_lines_and_quotes_the_unexplained_rest(extended):
    lines = _by_key(_lines(extended, "aws"))
    assert [money(x.cost) for x in lines["sagemaker.training"]] == [D("169.20")]
    assert lines["sagemaker.training"][0].quantity == D(180)
    assert [money(x.cost) for x in lines["sagemaker.endpoint"]] == [D("2030.40")]
    assert [(x.basis, money(x.cost)) for x in lines["sagemaker.remainder"]] == [("quoted", D("35.12"))]
    assert [money(x.cost) for x in lines["lambda.duration"]] == [D("55.83")]
    assert [money(x.cost) for x in lines["lambda.requests"]] == [D("0.40")]
    assert [money(x.cost) for x in lines["lambda.remainder"]] == [D("0.24")]
    s3 = sum(x.cost for x in _lines(extended, "aws") if x.service == "s3")
    assert money(s3) == D("16.38")
    flagged = {(f.service, f.report) for f in extended.findings if f.kind == "report_service_total"}
    assert flagged == {("SageMaker", D("2234.72")), ("Lambda", D("56.47"))}


def test_extended_gcp_lines_listed_but_not_summed(extended):
    lines = _lines(extended, "gcp")
    left_out = [x for x in lines if not x.in_total]
    assert {(x.key, money(x.cost)) for x in left_out} == {
        ("cloud_storage.class_a", D("20.00")),
        ("cloud_storage.replication", D("1.12")),
    }
    class_a = next(x for x in left_out if x.key == "cloud_storage.class_a")
    assert class_a.basis == "derived" and class_a.quantity == D(2_000_000)
    (finding,) = [f for f in extended.findings if f.kind == "not_in_total"]
    assert money(finding.computed) == D("2299.10") and finding.report == D("2277.98")


def test_extended_gcp_other_lines(extended):
    lines = _by_key(_lines(extended, "gcp"))
    assert sum(x.cost for x in _lines(extended, "gcp") if x.service == "vertex") == D("2113.27")
    assert {x.cost for x in lines["vertex.quoted"]} == {D("298.87"), D("1814.40")}
    assert [(x.basis, money(x.cost)) for x in lines["cloud_functions.requests"]] == [("derived", D("0.40"))]
    assert lines["cloud_functions.quoted"][0].cost == D("153.66")
    assert [(x.basis, x.cost) for x in lines["api_gateway.calls"]] == [("derived", D(9))]


def test_extended_prices_on_demand_only_and_says_so(extended):
    for budget in extended.budgets.values():
        assert list(budget.plans) == ["on_demand"]
    assert any("1- or 3-year" in note for note in extended.notes)


def test_report_method_needs_a_report_section(scenario_file):
    path = scenario_file(base="baseline", edit=lambda d: d.pop("report"))
    with pytest.raises(ConfigError) as err:
        price(str(path), method="report")
    assert "report" in str(err.value) and "--method list" in str(err.value)


def test_report_arithmetic_follows_edited_usage(scenario_file):
    """A copy with more requests: derived lines move, quoted ones stay and the totals are flagged."""
    path = scenario_file(base="baseline", edit=lambda d: d["aws"]["api_gateway"].update(requests=2_000_000))
    comparison = price(str(path), method="report", clouds=("aws",))
    gateway = [
        x for x in comparison.budgets["aws"].plans["on_demand"].lines if x.key == "api_gateway.requests"
    ]
    assert gateway[0].cost == D(2)
    assert any(f.kind == "report_service_total" and f.service == "API Gateway" for f in comparison.findings)
