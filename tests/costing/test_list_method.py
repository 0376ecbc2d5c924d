"""The list method: published prices and rules, service by service, and the scenario totals."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from ocrkit.costing import price
from ocrkit.costing.results import money
from ocrkit.costing.services import PricingContext
from ocrkit.costing.services import aws as aws_services
from ocrkit.costing.services import gcp as gcp_services
from ocrkit.errors import ConfigError


def _ctx(catalog, *, new_account=False) -> PricingContext:
    return PricingContext(
        cloud=catalog.provider,
        catalog=catalog,
        scenario_path="test.yaml",
        hours_per_month=D(720),
        new_account=new_account,
    )


def _total(lines) -> D:
    return sum((line.cost for line in lines if line.in_total), D(0))


def test_s3_storage_tiers_split_a_large_bucket(aws_catalog):
    lines = aws_services.price_s3(aws_services.S3Usage(storage_gb=D(600_000)), _ctx(aws_catalog))
    storage = [x for x in lines if x.key == "s3.storage"]
    assert [x.unit_price for x in storage] == [D("0.023"), D("0.022"), D("0.021")]
    assert "over 512,000 GB-month" in storage[-1].item


def test_s3_new_account_free_tier_only_when_asked(aws_catalog):
    usage = aws_services.S3Usage(storage_gb=D(10))
    old = aws_services.price_s3(usage, _ctx(aws_catalog))
    assert _total(old) == D("0.23") and "new_account_free_tier is off" in old[0].note
    new = aws_services.price_s3(usage, _ctx(aws_catalog, new_account=True))
    assert _total(new) == D("0.115")


def test_lambda_applies_both_always_free_tiers(aws_catalog):
    usage = aws_services.LambdaUsage(requests=D(1_000_000), memory_mb=128, duration_ms=D(5000))
    lines = aws_services.price_lambda(usage, _ctx(aws_catalog))
    assert _total(lines) == D("3.7500075")
    free = [x for x in lines if x.free]
    assert {x.key for x in free} == {"lambda.requests", "lambda.duration"}


def test_lambda_extended_requests_and_gb_seconds(aws_catalog):
    usage = aws_services.LambdaUsage(requests=D(3_000_000), memory_mb=256, duration_ms=D(5000))
    lines = aws_services.price_lambda(usage, _ctx(aws_catalog))
    paid = {x.key: x for x in lines if not x.free}
    assert paid["lambda.duration"].quantity == D(3_350_000)
    assert paid["lambda.requests"].cost == D("0.40")


def test_aws_api_gateway_meters_in_512_kb_steps_and_new_account_free_tier(aws_catalog):
    big = aws_services.ApiGatewayUsage(requests=D(1_000_000), avg_request_kb=D(1100))
    lines = aws_services.price_api_gateway(big, _ctx(aws_catalog))
    assert [x.quantity for x in lines if x.key == "api_gateway.requests"] == [D(3_000_000)]
    small = aws_services.ApiGatewayUsage(requests=D(1_000_000), avg_request_kb=D(90))
    assert _total(aws_services.price_api_gateway(small, _ctx(aws_catalog))) == D(1)
    assert _total(aws_services.price_api_gateway(small, _ctx(aws_catalog, new_account=True))) == 0


def test_aws_egress_is_free_up_to_100_gb(aws_catalog):
    usage = aws_services.ApiGatewayUsage(requests=D(200_000_000), avg_response_kb=D(1))
    lines = [
        x for x in aws_services.price_api_gateway(usage, _ctx(aws_catalog)) if x.key == "api_gateway.egress"
    ]
    gb = D(200_000_000) / D(1024 * 1024)
    assert _total(lines) == (gb - 100) * D("0.09")


def test_gcp_api_gateway_first_two_million_calls_are_free(gcp_catalog):
    one = gcp_services.ApiGatewayUsage(requests=D(1_000_000))
    assert _total(gcp_services.price_api_gateway(one, _ctx(gcp_catalog))) == 0
    three = gcp_services.ApiGatewayUsage(requests=D(3_000_000))
    assert _total(gcp_services.price_api_gateway(three, _ctx(gcp_catalog))) == D(3)
    beyond = gcp_services.ApiGatewayUsage(requests=D(1_500_000_000))
    expected = D(998) * D(3) + D(500) * D("1.5")
    assert _total(gcp_services.price_api_gateway(beyond, _ctx(gcp_catalog))) == expected


def test_cloud_functions_2nd_gen_billed_as_cloud_run(gcp_catalog):
    usage = gcp_services.CloudFunctionsUsage(requests=D(1_000_000), memory_mb=128, duration_ms=D(5000))
    lines = gcp_services.price_cloud_functions(usage, _ctx(gcp_catalog))
    by_key = {}
    for line in lines:
        by_key[line.key] = by_key.get(line.key, D(0)) + line.cost
    # 1M x 5 s x 0.083 vCPU = 415,000 - 180,000 free = 235,000 vCPU-s x $0.000024
    assert by_key["cloud_functions.cpu"] == D("5.64")
    # 1M x 5 s x 0.125 GiB = 625,000 - 360,000 free = 265,000 GiB-s x $0.0000025
    assert by_key["cloud_functions.memory"] == D("0.6625")
    assert by_key["cloud_functions.requests"] == 0  # 1M of 2M free


def test_cloud_functions_duration_rounds_up_to_100_ms(gcp_catalog):
    usage = gcp_services.CloudFunctionsUsage(requests=D(10), memory_mb=256, duration_ms=D(1201))
    assert gcp_services.function_seconds(usage, D(100)) == D(13)


def test_cloud_functions_unknown_memory_size_names_the_field(gcp_catalog):
    usage = gcp_services.CloudFunctionsUsage(requests=D(1), memory_mb=300, duration_ms=D(1))
    with pytest.raises(ConfigError) as err:
        gcp_services.price_cloud_functions(usage, _ctx(gcp_catalog))
    assert "gcp.cloud_functions.memory_mb" in str(err.value)


def test_vertex_uses_the_published_training_price(gcp_catalog):
    usage = gcp_services.VertexUsage(
        training=gcp_services.VertexTrainingUsage(
            machine_type="n1-standard-4", gpu_type="nvidia-tesla-t4", node_hours=D(240)
        )
    )
    lines = gcp_services.price_vertex(usage, _ctx(gcp_catalog))
    assert [x.unit_price for x in lines] == [D("0.24608275"), D("0.4025")]
    assert not any(x.always_on for x in lines)


def test_gcs_always_free_applies_only_in_its_regions(gcp_catalog):
    ctx = _ctx(gcp_catalog)
    entry = gcp_catalog.entry("gcs.standard.us-east4.storage")
    assert ctx.free_tier(entry, "us-east1")[0] == D(5)
    quantity, reason = ctx.free_tier(entry, "us-east4")
    assert quantity == 0 and "no free tier in us-east4" in reason


def test_unknown_instance_type_names_the_scenario_field(aws_catalog):
    usage = aws_services.SageMakerUsage(
        endpoints=aws_services.EndpointUsage(instance_type="ml.p9.huge", endpoints=D(1))
    )
    with pytest.raises(ConfigError) as err:
        aws_services.price_sagemaker(usage, _ctx(aws_catalog))
    assert "aws.sagemaker.endpoints.instance_type" in str(err.value) and "ml.p9.huge" in str(err.value)


@pytest.mark.parametrize(
    ("scenario", "expected"),
    [
        (
            "baseline",
            {
                "aws": {"on_demand": "711.93", "1yr": "565.77", "3yr": "456.91"},
                "gcp": {"on_demand": "629.28", "1yr": "582.58", "3yr": "512.53"},
            },
        ),
        (
            "extended",
            {
                "aws": {"on_demand": "2444.41", "1yr": "1885.50", "3yr": "1468.39"},
                "gcp": {"on_demand": "2338.91", "1yr": "2145.66", "3yr": "1855.79"},
            },
        ),
    ],
)
def test_list_method_totals(scenario, expected):
    comparison = price(scenario, method="list")
    got = {
        cloud: {plan: str(money(total.total)) for plan, total in budget.plans.items()}
        for cloud, budget in comparison.budgets.items()
    }
    assert got == expected


def test_list_method_lines_all_come_from_the_catalog():
    comparison = price("baseline", method="list")
    for budget in comparison.budgets.values():
        for total in budget.plans.values():
            assert {x.basis for x in total.lines} == {"catalog"}
            assert all(x.price_key for x in total.lines)


def test_cheaper_cloud_per_plan_matches_the_reports_conclusion():
    rows = {row.plan: row for row in price("baseline").comparisons()}
    assert rows["on_demand"].cheaper == "gcp"
    assert rows["1yr"].cheaper == "aws" and rows["3yr"].cheaper == "aws"
    assert money(rows["on_demand"].difference) == D("82.65")


def test_one_cloud_only():
    comparison = price("baseline", clouds=("gcp",))
    assert list(comparison.budgets) == ["gcp"]
    assert all(f.cloud == "gcp" for f in comparison.findings)
    assert comparison.comparisons()[0].cheaper is None
