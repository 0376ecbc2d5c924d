"""The plan's serving-options pricing (deploy/pricing.py): the chosen option at the config's traffic, a
warning when it misses the latency target, and the options that meet it for less; figures checked against
the serving-costs engine itself, never typed in."""

from __future__ import annotations

from decimal import Decimal

from ocrkit.costing.compare import profile_book, serving_catalog
from ocrkit.costing.serving import BUILDERS, Inputs, price_option
from ocrkit.deploy.pricing import advise, option_cost, serving_traffic, try_advise, unit_price
from ocrkit.providers.aws.serving import endpoint_shape, plan_cost
from ocrkit.providers.aws.spec import load_aws_spec
from ocrkit.providers.gcp.spec import load_gcp_spec

AWS_OFFERED = ("gpu-endpoint", "cpu-endpoint", "serverless-endpoint", "function")


def engine(cloud: str, region: str, usage) -> Inputs:
    return Inputs(
        cloud=cloud,
        catalog=serving_catalog(cloud, region),
        traffic=serving_traffic(usage),
        hours=Decimal(720),
        profiles=profile_book(None),
    )


def test_traffic_comes_from_the_configs_usage() -> None:
    usage = load_aws_spec(overrides={"usage.requests_per_month": 5_000_000, "usage.p95_ms": 800}).spec.usage
    t = serving_traffic(usage)
    assert t.requests_per_month == 5_000_000 and t.p95_ms == 800
    assert t.payload_kb == Decimal("90") and t.peak_to_average == 5 and t.model == "report"


def test_gpu_endpoint_names_the_cheaper_options_that_meet_the_target() -> None:
    usage = load_aws_spec().spec.usage
    got = advise("aws", "us-east-1", "gpu-endpoint", "ml.g4dn.xlarge", serving_traffic(usage), AWS_OFFERED)
    inputs = engine("aws", "us-east-1", usage)
    [gpu] = [q for q in BUILDERS[("aws", "gpu-endpoint")](inputs)[0] if q.config.startswith("ml.g4dn.xlarge")]
    assert got.chosen is not None and got.chosen.monthly == gpu.monthly
    function = price_option("function", inputs)
    assert function.meets_slo and function.monthly < gpu.monthly
    expected = f"--serving function: ${function.monthly:,.2f}/month at this traffic ({function.config}"
    assert any(line.startswith(expected) for line in got.lines), got.lines
    assert got.lines[0].startswith(f"--serving gpu-endpoint (ml.g4dn.xlarge): ${gpu.monthly:,.2f}/month")
    assert not any("misses the latency target" in line for line in got.lines)


def test_an_option_that_misses_the_target_says_so() -> None:
    usage = load_aws_spec(overrides={"usage.p95_ms": 50}).spec.usage
    got = advise("aws", "us-east-1", "serverless-endpoint", "2048 MB", serving_traffic(usage), AWS_OFFERED)
    assert got.chosen is not None and not got.chosen.meets_target
    assert any("--serving serverless-endpoint misses the latency target" in line for line in got.lines)
    # no option is advertised as meeting a target it misses
    for other in got.others:
        said = any(line.startswith(f"--serving {other.option}:") for line in got.lines)
        assert not said or other.meets_target


def test_an_unpriced_configuration_and_region_are_said_not_hidden() -> None:
    usage = load_aws_spec().spec.usage
    got = advise("aws", "us-east-1", "cpu-endpoint", "ml.r5.large", serving_traffic(usage), AWS_OFFERED)
    assert got.chosen is None and "has no price for it in us-east-1" in got.lines[0]
    why = try_advise(
        "aws", "ap-south-1", "gpu-endpoint", "ml.g4dn.xlarge", serving_traffic(usage), AWS_OFFERED
    )
    assert isinstance(why, str) and why.startswith("serving options not priced:")


def test_unit_prices_fall_back_to_the_serving_catalog() -> None:
    main_gpu = unit_price("aws", "us-east-1", "sagemaker.inference.ml.g4dn.xlarge")
    assert main_gpu is not None and main_gpu > 0
    cpu = unit_price("aws", "us-east-1", "sagemaker.inference.ml.m5.large", "sagemaker.hosting.ml.m5.large")
    assert cpu == serving_catalog("aws", "us-east-1").entry("sagemaker.hosting.ml.m5.large").list_price
    assert unit_price("aws", "us-east-1", "sagemaker.hosting.ml.nothing") is None


def test_plan_cost_per_option() -> None:
    cpu = load_aws_spec(overrides={"serving": "cpu-endpoint"}).spec
    cost = plan_cost(cpu, endpoint_shape(cpu), "us-east-1", (None, None))
    unit = serving_catalog("aws", "us-east-1").entry("sagemaker.hosting.ml.m5.large").list_price
    assert cost.hourly == unit  # one instance always on
    inputs = engine("aws", "us-east-1", cpu.usage)
    [quote] = [q for q in BUILDERS[("aws", "cpu-endpoint")](inputs)[0] if q.config.startswith("ml.m5.large")]
    assert cost.monthly == quote.monthly
    assert any("up to 2 instances" in n for n in cost.notes)

    serverless = load_aws_spec(overrides={"serving": "serverless-endpoint"}).spec
    cost = plan_cost(serverless, endpoint_shape(serverless), "us-east-1", (None, None))
    inputs = engine("aws", "us-east-1", serverless.usage)
    [quote] = [q for q in BUILDERS[("aws", "serverless-endpoint")](inputs)[0] if q.config == "3072 MB"]
    assert cost.hourly == 0 and cost.monthly == quote.monthly
    assert not any("autoscaling" in n for n in cost.notes)


def test_gpu_endpoint_keeps_the_list_methods_figures() -> None:
    from ocrkit.deploy.pricing import try_estimate
    from ocrkit.providers.aws.usage import deployment_usage

    spec = load_aws_spec().spec
    estimate, why = try_estimate(deployment_usage(spec, "us-east-1", artifact_bytes=1, source="x"))
    assert why is None
    cost = plan_cost(spec, endpoint_shape(spec), "us-east-1", (estimate, why))
    assert (cost.hourly, cost.monthly) == (estimate.hourly, estimate.monthly)
    assert cost.notes[: len(estimate.notes)] == estimate.notes


def test_gcp_cpu_endpoint_is_priced_from_the_serving_catalog() -> None:
    spec = load_gcp_spec(overrides={"serving": "cpu-endpoint"}).spec
    cost = option_cost(
        "gcp",
        spec.region,
        "cpu-endpoint",
        "n1-standard-2",
        spec.usage,
        (None, None),
        unit_keys=("vertex.prediction.n1-standard-2",),
        units=1,
        max_units=2,
        unit_word="nodes",
    )
    unit = serving_catalog("gcp", "us-east4").entry("vertex.prediction.n1-standard-2").list_price
    assert cost.hourly == unit
    inputs = engine("gcp", "us-east4", spec.usage)
    [quote] = [
        q for q in BUILDERS[("gcp", "cpu-endpoint")](inputs)[0] if q.config.startswith("n1-standard-2")
    ]
    assert cost.monthly == quote.monthly


def test_a_serverless_memory_below_the_models_peak_is_warned() -> None:
    from ocrkit.costing.compare import profile_book

    peak = profile_book(None).cpu("report")[0].peak_rss_mb
    small = load_aws_spec(
        overrides={"serving": "serverless-endpoint", "sagemaker.serverless.memory_mb": 1024}
    ).spec
    notes = plan_cost(small, endpoint_shape(small), "us-east-1", (None, None)).notes
    assert peak > 1024
    assert any("below the report model's measured peak memory" in n and "use 2048" in n for n in notes)
    # the engine has no quote for a memory size the model does not fit: said, not priced
    assert any("has no price for it" in n for n in notes)
    roomy = load_aws_spec(
        overrides={"serving": "serverless-endpoint", "sagemaker.serverless.memory_mb": 2048}
    ).spec
    assert not any(
        "peak memory" in n for n in plan_cost(roomy, endpoint_shape(roomy), "us-east-1", (None, None)).notes
    )
