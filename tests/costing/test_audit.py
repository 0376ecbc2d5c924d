"""The audit lists, for each figure that differs from the report, both figures and the reason."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from ocrkit.costing import price
from ocrkit.costing.results import money, same_cents


@pytest.fixture(scope="module")
def baseline():
    return price("baseline", method="list")


@pytest.fixture(scope="module")
def extended():
    return price("extended", method="list")


def _find(comparison, cloud, plan, service):
    found = [f for f in comparison.findings if (f.cloud, f.plan, f.service) == (cloud, plan, service)]
    assert found, f"no finding for {cloud} {plan} {service}"
    return found[0]


def test_every_finding_has_both_figures_and_a_reason(baseline, extended):
    for comparison in (baseline, extended):
        assert comparison.findings
        for f in comparison.findings:
            assert f.report is not None and f.computed is not None
            assert not same_cents(f.report, f.computed)
            assert f.reason and f.reason != "rounding"


def test_gcp_api_gateway_free_tier(baseline):
    f = _find(baseline, "gcp", "on_demand", "API Gateway")
    assert money(f.report) == D("3.10") and money(f.computed) == D("0.10")
    assert "first 2,000,000 calls a month are free" in f.reason


def test_cloud_functions_second_gen_rule(baseline):
    f = _find(baseline, "gcp", "on_demand", "Cloud Functions")
    assert f.report == D("27.14") and money(f.computed) == D("6.30")
    assert "CPU" in f.reason and "after free tier" in f.reason


def test_vertex_training_price(baseline):
    f = _find(baseline, "gcp", "on_demand", "Vertex AI")
    assert "$0.24608275 vs the report's $0.123" in f.reason


def test_storage_figures_the_report_quotes(baseline):
    s3 = _find(baseline, "aws", "on_demand", "S3")
    assert s3.report == D("0.34") and "$0.23" in s3.reason
    gcs = _find(baseline, "gcp", "on_demand", "Cloud Storage")
    assert gcs.report == D("0.43") and "$0.23" in gcs.reason


def test_commitment_covers_only_always_on_usage(baseline):
    f = _find(baseline, "aws", "1yr", "SageMaker")
    assert "Notebook" in f.reason and "on demand" in f.reason and "every hour of its term" in f.reason
    assert money(f.computed) == D("560.78") and money(f.report) == D("512.06")


def test_published_sagemaker_price_differs_slightly(baseline):
    f = _find(baseline, "aws", "on_demand", "SageMaker")
    assert "$0.7364 vs the report's $0.736" in f.reason


def test_totals_are_audited_and_mention_the_reports_own_mismatch(baseline):
    f = _find(baseline, "aws", "1yr", "Total")
    assert f.report == D("517.70") and money(f.computed) == D("565.77")
    assert "$517.15" in f.reason


def test_extended_training_hours(extended):
    f = _find(extended, "aws", "on_demand", "SageMaker")
    assert "360 billable instance-hours vs the report's 180" in f.reason
    assert "35.12" in f.reason


def test_extended_gcp_storage_left_out_lines(extended):
    f = _find(extended, "gcp", "on_demand", "Cloud Storage")
    assert "leaves it out of its total" in f.reason and "Class A" in f.reason


def test_extended_audits_on_demand_only(extended):
    assert {f.plan for f in extended.findings} == {"on_demand"}
    assert any("not audited" in note for note in extended.notes)


def test_no_report_section_means_no_findings(scenario_file):
    path = scenario_file(base="extended", edit=lambda d: d.pop("report"))
    comparison = price(str(path))
    assert comparison.findings == () and "nothing to audit" in comparison.notes[0]


def test_findings_count_is_stable(baseline, extended):
    assert len(baseline.findings) == 24
    assert len(extended.findings) == 8
