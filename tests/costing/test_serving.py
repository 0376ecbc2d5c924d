"""`ocrkit cost --serving`: each option's arithmetic against hand-computed figures from the published prices
(inside and past each free tier), break-even against a hand-solved pair, the chart files, bad input."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest

from ocrkit.costing import serving
from ocrkit.costing.capacity import ProfileBook, shipped_profiles
from ocrkit.costing.compare import _bisect, compare, profile_book, serving_catalog
from ocrkit.costing.profiles import SpeedProfile, dump_profile
from ocrkit.costing.scenario import load_scenario
from ocrkit.costing.traffic import Traffic, parse_count
from tests.cli import run as run_cli

D = Decimal
MB_PER_GB = D(1024)


def cpu_profile(
    p50: float = 100.0, cores: float = 1, engine: str = "torch", key: str = "report"
) -> SpeedProfile:
    return SpeedProfile(
        name=f"test-{engine}",
        engine=engine,
        model=dict(architecture="test", key=key),
        hardware=dict(kind="cpu", name="test cpu", cores=cores),
        provenance=dict(measured=True, date=dt.date(2026, 12, 2), method="test"),
        latency_batch1=dict(p50_ms=p50, p95_ms=p50 * 1.5),
        throughput=dict(by_batch={1: 1000 / p50}),
        cold_start_s=4.0,
        peak_rss_mb=1000,
    )


def traffic(requests: int, **kw) -> Traffic:
    base = dict(
        requests_per_month=D(requests),
        peak_to_average=D(1),
        p95_ms=D(2000),
        payload_kb=D(90),
        cold_start_share=D(0),
        model="report",
    )
    base.update(kw)
    return Traffic(**base)


def inputs(cloud: str, region: str, t: Traffic, profile: SpeedProfile | None = None) -> serving.Inputs:
    book = ProfileBook(profiles=tuple(shipped_profiles()), own=profile)
    return serving.Inputs(
        cloud=cloud, catalog=serving_catalog(cloud, region), traffic=t, hours=D(720), profiles=book
    )


def config(quotes, name):
    return next(q for q in quotes if q.config == name)


# -- Lambda with the model inside ---------------------------------------------------------------------------


def test_lambda_inside_every_free_tier_pays_only_the_http_api():
    quotes, _ = serving._aws_function(inputs("aws", "us-east-1", traffic(1_000_000), cpu_profile()))
    q = config(quotes, "Lambda x86_64 1769 MB")  # 1 vCPU: 100 ms a crop
    # 1M requests: free (1M a month); 1M x 0.1 s x 1769/1024 GB = 172,753.9 GB-s < 400,000 free; HTTP API $1/M
    assert q.monthly == D("1.00")
    assert q.p95_ms == pytest.approx(150)


def test_lambda_past_the_free_tiers():
    quotes, _ = serving._aws_function(inputs("aws", "us-east-1", traffic(10_000_000), cpu_profile()))
    q = config(quotes, "Lambda x86_64 1769 MB")
    gb_s = D(10_000_000) * D("0.1") * D(1769) / MB_PER_GB
    hand = (D(9_000_000) * D("0.20") / 1_000_000) + (gb_s - 400_000) * D("0.0000166667") + D(10)
    assert q.monthly == hand  # $1.80 + $22.13 + $10.00
    arm = config(quotes, "Lambda arm64 1769 MB")
    assert arm.monthly == D("1.80") + (gb_s - 400_000) * D("0.0000133334") + D(10)


def test_lambda_cpu_share_follows_memory():
    quotes, _ = serving._aws_function(
        inputs("aws", "us-east-1", traffic(1_000_000), cpu_profile(p50=50, cores=2))
    )
    # 2 cores x 50 ms = 100 core-ms; 1769 MB = 1 vCPU -> 100 ms; 3538 MB = 2 vCPU -> 50 ms (capped at 2)
    assert config(quotes, "Lambda x86_64 1769 MB").p95_ms == pytest.approx(150)
    assert config(quotes, "Lambda x86_64 3538 MB").p95_ms == pytest.approx(75)
    assert config(quotes, "Lambda x86_64 7076 MB").p95_ms == pytest.approx(75)


# -- Cloud Run / Cloud Functions 2nd gen ------------------------------------------------------------------


def test_cloud_run_inside_the_free_tiers_costs_nothing():
    quotes, _ = serving._gcp_function(inputs("gcp", "us-east4", traffic(1_000_000), cpu_profile()))
    q = config(quotes, "Cloud Run / Functions 2nd gen 1 vCPU 2 GiB")
    # 100,000 vCPU-s < 180,000; 200,000 GiB-s < 360,000; 1M requests < 2M; API Gateway: first 2M free
    assert q.monthly == 0


def test_cloud_run_past_the_free_tiers_rounds_up_to_100_ms():
    quotes, _ = serving._gcp_function(inputs("gcp", "us-east4", traffic(10_000_000), cpu_profile(p50=101)))
    q = config(quotes, "Cloud Run / Functions 2nd gen 1 vCPU 2 GiB")
    seconds = D("0.2")  # 101 ms is billed as 200 ms
    cpu = (D(10_000_000) * seconds - 180_000) * D("0.000024")
    mem = (D(10_000_000) * seconds * 2 - 360_000) * D("0.0000025")
    req = D(8_000_000) * D("0.40") / 1_000_000
    gateway = D(8_000_000) * D("3.00") / 1_000_000
    assert q.monthly == cpu + mem + req + gateway  # 43.68 + 9.10 + 3.20 + 24.00


# -- endpoints and SageMaker Serverless ---------------------------------------------------------------------


def test_sagemaker_gpu_endpoint_is_720_hours_plus_the_client_path():
    q = serving.price_option("gpu-endpoint", inputs("aws", "us-east-1", traffic(1_000_000)))
    assert q.config == "ml.g4dn.xlarge"
    # 720 h x $0.7364; proxy Lambda 1M x 40 ms x 0.125 GB = 5,000 GB-s (free); HTTP API $1; S3 176 MB x $0.023
    assert q.monthly == D(720) * D("0.7364") + D(1) + D(176) / MB_PER_GB * D("0.023")
    # 1-year: the report's Savings Plan rate ($0.5334) on the always-on instance, the rest as on demand
    assert q.committed["1yr"] == q.monthly - D(720) * (D("0.7364") - D("0.5334"))
    assert q.utilisation == D(1_000_000) * D("0.02") / (720 * 3600)  # 20 ms a crop (T4 estimate)


def test_vertex_gpu_endpoint_node_plus_t4():
    q = serving.price_option("gpu-endpoint", inputs("gcp", "us-east4", traffic(1_000_000)))
    # 720 h x ($0.24608275 + $0.4025); proxy function and API Gateway inside free tiers; GCS 176 MB x $0.023
    assert q.monthly == D(720) * (D("0.24608275") + D("0.4025")) + D(176) / MB_PER_GB * D("0.023")
    assert q.committed["3yr"] == q.monthly - D(720) * (D("0.24608275") + D("0.4025")) * D("0.25")


def test_serverless_endpoint_compute_and_data_processed():
    quotes, _ = serving._aws_serverless(
        inputs("aws", "us-east-1", traffic(2_000_000), cpu_profile(p50=100, cores=1))
    )
    q = config(quotes, "2048 MB")
    compute = D(2_000_000) * D("0.1") * 2 * D("0.00002")  # 1.16 vCPU but capped at the 1 measured core
    data = D(2_000_000) * D(91) / (1024 * 1024) * D("0.016")
    proxy_requests = D(1_000_000) * D("0.20") / 1_000_000  # past Lambda's 1M free requests
    proxy_gb_s = D(2_000_000) * D("0.12") * D("0.125")  # 30,000 GB-s: inside the free tier
    assert proxy_gb_s < 400_000
    assert q.monthly == compute + data + proxy_requests + D(2) + D(176) / MB_PER_GB * D("0.023")
    assert "payload 4 MB" in q.limits


def test_cloud_run_l4_never_scales_to_zero_at_a_request_every_few_seconds():
    q = serving.price_option("gpu-scale-to-zero", inputs("gcp", "us-central1", traffic(1_000_000)))
    seconds = D(720 * 3600)
    assert q.monthly == seconds * (4 * D("0.000018") + 16 * D("0.000002") + D("0.0001867"))
    rare = serving.price_option("gpu-scale-to-zero", inputs("gcp", "us-central1", traffic(1_000)))
    assert rare.monthly == D(1000) * (D(900) + D("0.0135")) * (
        4 * D("0.000018") + 16 * D("0.000002") + D("0.0001867")
    )


def test_a_region_without_a_price_leaves_the_option_out_and_says_why():
    result = serving.price_option("serverless-endpoint", inputs("aws", "us-west-2", traffic(1_000_000)))
    assert isinstance(result, serving.Unpriced)
    assert "sagemaker.serverless.compute" in result.reason
    gpu = serving.price_option("gpu-endpoint", inputs("aws", "us-west-2", traffic(1_000_000)))
    assert isinstance(gpu, serving.Unpriced) and gpu.reason == (
        "no price in us-west-2 for sagemaker.hosting.ml.g4dn.xlarge, sagemaker.hosting.ml.g5.xlarge"
    )


def test_a_priced_option_names_each_configuration_the_region_has_no_price_for():
    """eu-west-1 prices ml.g4dn.xlarge (an AWS bill) but no ml.g5.xlarge: the GPU endpoint is priced with
    the g4dn and the g5 is named as left out, with the catalog key that is missing."""
    eu = inputs("aws", "eu-west-1", traffic(1_000_000))
    assert isinstance(serving.price_option("gpu-endpoint", eu), serving.Quote)
    gaps = serving.config_gaps("gpu-endpoint", eu)
    assert [(g.config, g.reason) for g in gaps] == [
        ("ml.g5.xlarge", "no price in eu-west-1 for sagemaker.hosting.ml.g5.xlarge")
    ]
    assert {g.config for g in serving.config_gaps("cpu-endpoint", eu)} == {"ml.c6i.large", "ml.m5.large"}
    assert serving.config_gaps("function", eu) == []  # x86_64 and arm64 both priced
    for region in ("us-east4", "us-central1", "europe-west4"):
        gaps = serving.config_gaps("gpu-endpoint", inputs("gcp", region, traffic(1_000_000)))
        assert [g.config for g in gaps] == ["g2-standard-4 + NVIDIA L4"], region
        assert "vertex.prediction.g2-standard-4" in gaps[0].reason


def test_the_comparison_prints_and_exports_the_configurations_left_out(capsys):
    args = ("--scenario", "baseline", "--serving", "gpu-endpoint,cpu-endpoint", "--region", "eu-west-1")
    code, out, _ = run(capsys, *args, "--format", "json")
    assert code == 0
    left_out = {(g["cloud"], g["option"], g["config"]) for g in json.loads(out)["not_priced_configs"]}
    assert ("aws", "gpu-endpoint", "ml.g5.xlarge") in left_out
    assert ("aws", "cpu-endpoint", "ml.c6i.large") in left_out
    assert ("gcp", "gpu-endpoint", "g2-standard-4 + NVIDIA L4") in left_out
    code, out, _ = run(capsys, *args, "--cloud", "aws")
    assert code == 0
    text = " ".join(out.split())  # the table wraps long lines
    assert (
        "Not priced: aws/gpu-endpoint ml.g5.xlarge in eu-west-1: no price in eu-west-1 for "
        "sagemaker.hosting.ml.g5.xlarge" in text
    )


def test_the_new_aws_regions_price_lambda_http_api_and_s3_from_their_own_figures():
    """eu-west-1's HTTP API is $1.11 per million (us-east-1 and us-west-2: $1.00); Lambda is the same."""
    west = serving_catalog("aws", "us-west-2")
    ireland = serving_catalog("aws", "eu-west-1")
    east = serving_catalog("aws", "us-east-1")
    for key in ("lambda.requests", "lambda.duration.x86_64", "s3.standard.storage"):
        assert west.entry(key).list_price == ireland.entry(key).list_price == east.entry(key).list_price
    assert (
        west.entry("apigateway.http.requests").list_price == east.entry("apigateway.http.requests").list_price
    )
    assert ireland.entry("apigateway.http.requests").list_price == D("1.11")
    for catalog, region in ((west, "US West (Oregon)"), (ireland, "EU (Ireland)")):
        for key in ("lambda.requests", "apigateway.http.requests", "s3.standard.storage"):
            entry = catalog.entry(key)
            assert "QuinnyPig/aws-price-watcher" in entry.source and region in entry.source, key
            assert entry.as_of.isoformat().startswith("2025-06"), key
    function = serving.price_option("function", inputs("aws", "eu-west-1", traffic(1_000_000)))
    assert isinstance(function, serving.Quote) and function.region == "eu-west-1"


# -- profiles ---


def test_an_onnx_cpu_profile_is_preferred_when_shipped():
    book = ProfileBook(profiles=(cpu_profile(engine="torch"), cpu_profile(engine="onnx")))
    chosen, why = book.cpu("report")
    assert chosen.engine == "onnx" and "ONNX" in why
    chosen, why = ProfileBook(profiles=(cpu_profile(engine="torch"),)).cpu("report")
    assert chosen.engine == "torch" and "no ONNX CPU profile" in why


def test_shipped_profiles_are_measured_or_name_a_source():
    profiles = shipped_profiles()
    assert {p.name for p in profiles if p.provenance.measured} == {"demo-cpu-torch", "report-cpu-torch"}
    for p in profiles:
        assert p.provenance.measured or (p.provenance.source and "http" in p.provenance.source)


# -- break-even ---------------------------------------------------------------------------------------------


def test_bisection_finds_the_hand_solved_crossing():
    # a: $0.50 per 1,000 requests; b: $100 a month flat + $0.10 per 1,000 -> equal at 250,000 requests
    def cost(q, r):
        return r * D("0.0005") if q == "a" else D(100) + r * D("0.0001")

    assert _bisect("a", "b", D(10_000), D(1_000_000), cost) == 250_000


def test_reported_break_evens_are_where_the_two_costs_meet():
    loaded = load_scenario("baseline")
    result = compare(loaded, loaded.scenario.traffic, profiles=profile_book(None), sweep_points=20)
    assert result.break_even
    from ocrkit.costing.compare import _inputs_of, cost_at

    found = _inputs_of(result, None)
    for be in result.break_even:
        (ca, oa), (cb, ob) = (x.split("/") for x in (be.a, be.b))

        def diff(r, ca=ca, oa=oa, cb=cb, ob=ob):
            return cost_at(found, ca, oa, r)[0] - cost_at(found, cb, ob, r)[0]

        r = be.requests_per_month
        just_below, just_above = diff(r * D("0.999999")), diff(r * D("1.000001"))
        # a true crossing (equal within a cent) or a step across (an instance added right there)
        assert abs(diff(r)) < D("0.01") or (just_below > 0) != (just_above > 0), be


# -- the command ---


def run(capsys, *args: str) -> tuple[int, str, str]:
    return run_cli(capsys, "cost", *args)


def test_json_has_the_keys_the_issue_lists(capsys):
    code, out, err = run(capsys, "--scenario", "baseline", "--serving", "all", "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    row = data["serving"][0]
    assert {"cloud", "option", "monthly", "per_1000", "p95_ms", "meets_slo", "config", "limits"} <= set(row)
    assert {"cloud", "option", "monthly", "per_cloud"} <= set(data["recommended"])
    assert all({"a", "b", "requests_per_month"} == set(b) for b in data["break_even"])
    assert set(data["utilisation"]) == {"aws", "gcp"}
    gpu = next(r for r in data["serving"] if r["cloud"] == "aws" and r["option"] == "gpu-endpoint")
    assert gpu["monthly"] == "531.21"


def test_requests_override_and_csv_markdown(capsys):
    code, out, _ = run(
        capsys,
        "--scenario",
        "baseline",
        "--serving",
        "function,gpu-endpoint",
        "--requests",
        "50M",
        "--format",
        "csv",
    )
    assert code == 0
    assert out.splitlines()[0].startswith("cloud,option,region,config,monthly")
    assert {line.split(",")[1] for line in out.splitlines()[1:]} == {"function", "gpu-endpoint"}
    code, out, _ = run(capsys, "--scenario", "baseline", "--serving", "all", "--format", "markdown")
    assert code == 0 and "| AWS | gpu-endpoint |" in out and "Recommended:" in out


def test_png_chart_is_a_real_picture(capsys, tmp_path):
    path = tmp_path / "costs.png"
    code, out, err = run(capsys, "--scenario", "baseline", "--serving", "all", "--chart", str(path))
    assert code == 0, err
    import matplotlib.image

    image = matplotlib.image.imread(path)
    assert image.shape[0] > 400 and image.shape[1] > 800
    assert path.stat().st_size > 30_000
    colours = {tuple(px) for px in image.reshape(-1, image.shape[2])[::97].round(2).tolist()}
    assert len(colours) > 8  # several curves, not a blank canvas


def test_html_chart_is_self_contained_with_the_data(capsys, tmp_path):
    path = tmp_path / "costs.html"
    code, _, err = run(capsys, "--scenario", "baseline", "--serving", "all", "--chart", str(path))
    assert code == 0, err
    text = path.read_text()
    assert "plotly.js" in text.lower() or "Plotly.newPlot" in text
    assert '<script src="http' not in text  # the library is inlined, no CDN
    assert "gpu-endpoint" in text and "function" in text and "Requests per month" in text


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--serving", "all", "--requests", "1e30"), "not a plan"),
        (("--serving", "all", "--requests", "-5"), "not a count"),
        (("--serving", "all", "--p95-ms", "0"), "not a latency target"),
        (("--serving", "warp-drive"), "unknown option 'warp-drive'"),
        (("--serving", "all", "--region", "mars-north1"), "priced: aws-eu-west-1"),
        (("--requests", "5M"), "only apply with --serving"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, args, words):
    code, out, err = run(capsys, "--scenario", "baseline", *args)
    assert code == 2
    assert out == ""
    assert words in err and "Traceback" not in err


def test_a_file_that_is_not_a_profile(capsys, tmp_path):
    bogus = tmp_path / "p.yaml"
    bogus.write_text("name: x\nspeed: fast\n")
    code, out, err = run(capsys, "--scenario", "baseline", "--serving", "all", "--profile", str(bogus))
    assert code == 2 and out == "" and "not an ocrkit speed profile" in err


def test_your_profile_replaces_the_cpu_measurement(capsys, tmp_path):
    mine = tmp_path / "mine.json"
    dump_profile(cpu_profile(p50=10, cores=2), mine)
    code, out, _ = run(
        capsys, "--scenario", "baseline", "--serving", "function", "--profile", str(mine), "--format", "json"
    )
    assert code == 0
    assert all("your profile" in " ".join(r["notes"]) for r in json.loads(out)["serving"])


@pytest.mark.parametrize("where", ["traffic", "lambda"])
def test_absurd_traffic_in_a_scenario_is_one_line(capsys, scenario_file, where):
    def edit(data):
        if where == "traffic":
            data["traffic"]["requests_per_month"] = 1e30
        else:
            data["aws"]["lambda"]["requests"] = 1e30

    path = scenario_file(base="baseline", edit=edit)
    args = ("--serving", "all") if where == "traffic" else ()
    code, out, err = run(capsys, "--scenario", str(path), *args)
    assert code == 2 and out == ""
    assert "at most" in err and "Traceback" not in err


def test_p95_target_of_zero_in_a_scenario(capsys, scenario_file):
    path = scenario_file(base="baseline", edit=lambda d: d["traffic"].update(p95_ms=0))
    code, out, err = run(capsys, "--scenario", str(path), "--serving", "all")
    assert code == 2 and out == "" and "traffic.p95_ms" in err


def test_parse_count():
    assert parse_count("50M") == 50_000_000
    assert parse_count("1.5B") == 1_500_000_000
    assert parse_count("10k") == 10_000
    assert parse_count("1_000_000") == 1_000_000


def test_chart_path_must_be_png_or_html(capsys, tmp_path):
    code, out, err = run(
        capsys, "--scenario", "baseline", "--serving", "all", "--chart", str(tmp_path / "c.pdf")
    )
    assert code == 2 and out == "" and ".png or .html" in err


def test_ship_profiles_as_package_data():
    text = Path("pyproject.toml").read_text()
    assert '"**/*.yaml"' in text  # configs/profiles and configs/pricing/serving travel in the wheel


def test_vertex_cpu_endpoint_picks_the_cheapest_machine_and_its_price():
    q = serving.price_option(
        "cpu-endpoint", inputs("gcp", "us-central1", traffic(1_000_000), cpu_profile(cores=2))
    )
    # n1-standard-2 in us-central1: Compute Engine $0.0949995/h x 1.15; proxy, gateway inside free tiers;
    # GCS 176 MB at $0.020 inside the 5 GB always-free allowance of us-central1
    assert q.config == "n1-standard-2"
    assert q.monthly == D(720) * D("0.0949995") * D("1.15")


def test_vertex_gpu_endpoint_in_europe_west4_node_plus_t4():
    q = serving.price_option("gpu-endpoint", inputs("gcp", "europe-west4", traffic(1_000_000)))
    assert q.config == "n1-standard-4 + NVIDIA T4" and q.region == "europe-west4"
    # 720 h x (n1-standard-4 $0.2405432 + T4 $0.3675 x 1.15); proxy function and API Gateway inside their
    # free tiers; GCS 176 MB x $0.020 (no always-free storage in europe-west4)
    node_and_gpu = D("0.2405432") + D("0.3675") * D("1.15")
    assert q.monthly == D(720) * node_and_gpu + D(176) / MB_PER_GB * D("0.020")
    assert q.committed["1yr"] == q.monthly - D(720) * node_and_gpu * D("0.10")
    cpu = serving.price_option("cpu-endpoint", inputs("gcp", "europe-west4", traffic(1_000_000)))
    assert isinstance(cpu, serving.Quote) and cpu.region == "europe-west4"


def test_sagemaker_gpu_endpoint_in_eu_west_1_from_its_own_prices():
    q = serving.price_option("gpu-endpoint", inputs("aws", "eu-west-1", traffic(1_000_000)))
    assert q.config == "ml.g4dn.xlarge" and q.region == "eu-west-1"
    # 720 h x $0.821 (the December 2023 Ireland bill); proxy Lambda 1M requests and 1M x 40 ms x 0.125 GB =
    # 5,000 GB-s, both inside the always-free tier; HTTP API 1M x $1.11 / million (Ireland: $1.11, not the
    # $1.00 of us-east-1; the 1M free calls are a new account's only); S3 176 MB x $0.023
    assert q.monthly == D(720) * D("0.821") + D("1.11") + D(176) / MB_PER_GB * D("0.023")


def test_lambda_in_us_west_2_past_the_free_tiers():
    quotes, _ = serving._aws_function(inputs("aws", "us-west-2", traffic(10_000_000), cpu_profile()))
    q = config(quotes, "Lambda arm64 1769 MB")  # 1 vCPU: 100 ms a crop
    # 10M x 0.1 s x 1769/1024 GB = 1,727,539.0625 GB-s, less 400,000 free, x $0.0000133334 (Oregon arm64);
    # 9M paid requests x $0.20 / million; HTTP API 10M x $1.00 / million
    gb_s = D(10_000_000) * D("0.1") * D(1769) / MB_PER_GB
    assert gb_s == D("1727539.0625")
    assert q.monthly == (gb_s - 400_000) * D("0.0000133334") + D(9) * D("0.20") + D(10)


def test_arm64_lambda_past_its_third_tier_in_us_east_1():
    # 120 billion requests a month at 1769 MB x 100 ms: 20,729,980,468.75 GB-s, past the 7.5B and 18.75B
    # arm64 boundaries ($0.0000133334, $0.0000120001, then $0.0000106667, AWS's US East figures)
    quotes, _ = serving._aws_function(inputs("aws", "us-east-1", traffic(120_000_000_000), cpu_profile()))
    q = config(quotes, "Lambda arm64 1769 MB")
    gb_s = D(120_000_000_000) * D("0.1") * D(1769) / MB_PER_GB
    duration = (
        (D(7_500_000_000) - 400_000) * D("0.0000133334")
        + D(11_250_000_000) * D("0.0000120001")
        + (gb_s - 18_750_000_000) * D("0.0000106667")
    )
    requests = (D(120_000_000_000) - 1_000_000) * D("0.20") / 1_000_000
    http_api = D(300) * D("1.00") + (D(120_000) - 300) * D("0.90")
    assert q.monthly == duration + requests + http_api


def test_vertex_gpu_endpoint_in_us_central1_node_plus_t4():
    q = serving.price_option("gpu-endpoint", inputs("gcp", "us-central1", traffic(1_000_000)))
    assert q.config == "n1-standard-4 + NVIDIA T4" and q.region == "us-central1"
    # 720 h x (n1-standard-4 $0.21849885 + T4 $0.4025); proxy function and API Gateway inside their free
    # tiers; GCS 176 MB inside us-central1's 5 GB always-free storage
    assert q.monthly == D(720) * (D("0.21849885") + D("0.4025"))


def test_vertex_g2_with_an_l4_is_weighed_when_a_catalog_prices_it(tmp_path):
    """No Vertex G2 price is shipped (none was found published); a planner's catalog that adds one gets the
    L4 node priced like the T4 one. The two figures below are test inputs, not prices."""
    import yaml

    from ocrkit.costing.catalog import load_catalog

    shipped = Path(__file__).resolve().parents[2] / "configs/pricing/serving/gcp-us-central1.yaml"
    data = yaml.safe_load(shipped.read_text())
    test_inputs = {"vertex.prediction.g2-standard-4": "0.3", "vertex.prediction.gpu.nvidia-l4": "0.2"}
    for key, price in test_inputs.items():
        data["prices"][key] = dict(
            description="test input", unit="node-hours", price=price, source="test input", as_of="2026-12-01"
        )
    path = tmp_path / "gcp-us-central1.yaml"
    path.write_text(yaml.safe_dump(data))
    book = ProfileBook(profiles=tuple(shipped_profiles()))
    inp = serving.Inputs(
        cloud="gcp", catalog=load_catalog(path), traffic=traffic(1_000_000), hours=D(720), profiles=book
    )
    quotes, _ = serving._gcp_endpoint(inp, "gpu-endpoint", gpu=True)
    l4 = config(quotes, "g2-standard-4 + NVIDIA L4")
    # 720 h x ($0.30 + $0.20): cheaper than the T4 node ($0.21849885 + $0.4025) at these inputs
    assert l4.monthly == D(720) * (D("0.3") + D("0.2"))
    assert serving.price_option("gpu-endpoint", inp).config == "g2-standard-4 + NVIDIA L4"
    assert serving.config_gaps("gpu-endpoint", inp) == []


# which options each shipped serving catalog prices end to end (the rest: one "not priced" line each)
PRICED_BY_REGION = {
    ("aws", "us-east-1"): {"gpu-endpoint", "cpu-endpoint", "serverless-endpoint", "function"},
    ("aws", "eu-west-1"): {"gpu-endpoint", "cpu-endpoint", "function"},
    ("aws", "us-west-2"): {"function"},
    ("gcp", "us-east4"): {"gpu-endpoint", "cpu-endpoint", "function"},
    ("gcp", "us-central1"): {"gpu-endpoint", "cpu-endpoint", "function", "gpu-scale-to-zero"},
    ("gcp", "europe-west4"): {"gpu-endpoint", "cpu-endpoint", "function", "gpu-scale-to-zero"},
}


@pytest.mark.parametrize(("cloud", "region"), sorted(PRICED_BY_REGION))
def test_every_shipped_region_compares_all_options(capsys, cloud, region):
    args = ("--scenario", "baseline", "--serving", "all", "--region", region)
    code, out, _ = run(capsys, *args, "--format", "json")
    assert code == 0
    data = json.loads(out)
    rows = [r for r in data["serving"] if r["cloud"] == cloud]
    unpriced = [u for u in data["not_priced"] if u["cloud"] == cloud]
    assert {r["region"] for r in rows} <= {region} and {u["region"] for u in unpriced} <= {region}
    assert {r["option"] for r in rows} == PRICED_BY_REGION[cloud, region]
    assert {u["option"] for u in unpriced} == set(serving.OPTIONS) - PRICED_BY_REGION[cloud, region]
    assert all(D(r["monthly"]) > 0 for r in rows)
    code, out, _ = run(capsys, *args)
    assert code == 0 and region in out and "Recommended (overall)" in out


def test_a_region_without_a_catalog_is_one_line_naming_the_priced_ones(capsys):
    code, out, err = run(capsys, "--scenario", "baseline", "--serving", "all", "--region", "ap-south-1")
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert "ap-south-1" in err and "aws-us-west-2" in err and "gcp-europe-west4" in err


def test_a_region_where_nothing_asked_for_is_priced_is_one_line(capsys):
    code, out, err = run(
        capsys,
        "--scenario",
        "baseline",
        "--serving",
        "serverless-endpoint",
        "--cloud",
        "aws",
        "--region",
        "us-west-2",
    )
    assert code == 2 and out == ""
    assert "no serving option could be priced" in err and "sagemaker.serverless.compute" in err


def test_cloud_filter_applies_to_serving(capsys):
    code, out, _ = run(
        capsys, "--scenario", "baseline", "--serving", "all", "--cloud", "gcp", "--format", "json"
    )
    assert code == 0
    assert {r["cloud"] for r in json.loads(out)["serving"]} == {"gcp"}


def test_cold_starts_implied_by_sparse_traffic_break_the_latency_target():
    # 10,000 requests a month: one every 259 s on average; exp(-(1/259.2) x 600) = 9.9 % arrive cold
    t = traffic(10_000, cold_start_share=None)
    quotes, _ = serving._aws_function(inputs("aws", "us-east-1", t, cpu_profile()))
    q = config(quotes, "Lambda x86_64 1769 MB")
    assert not q.meets_slo and q.p95_ms == pytest.approx(100 + 4000)  # the p95 request is a cold one
    assert any("implied by the traffic" in n for n in q.notes)
    busy = serving._aws_function(
        inputs("aws", "us-east-1", traffic(1_000_000, cold_start_share=None), cpu_profile())
    )
    assert config(busy[0], "Lambda x86_64 1769 MB").meets_slo


def test_an_endpoint_past_its_autoscaling_ceiling_misses_the_target():
    q = serving.price_option(
        "cpu-endpoint", inputs("aws", "us-east-1", traffic(5_000_000_000, max_instances=3))
    )
    assert not q.meets_slo
    assert any("autoscaling ceiling of 3" in n for n in q.notes)


def test_past_the_volume_tier_boundaries_lambda_6b_gb_s_and_http_api_300m():
    # 40 billion requests a month at 1769 MB x 100 ms: 6,910,156,250 GB-s, past Lambda's first 6B tier;
    # 40B HTTP API calls, past its first 300M
    quotes, _ = serving._aws_function(inputs("aws", "us-east-1", traffic(40_000_000_000), cpu_profile()))
    q = config(quotes, "Lambda x86_64 1769 MB")
    gb_s = D(40_000_000_000) * D("0.1") * D(1769) / MB_PER_GB
    duration = (D(6_000_000_000) - 400_000) * D("0.0000166667") + (gb_s - 6_000_000_000) * D("0.000015")
    requests = (D(40_000_000_000) - 1_000_000) * D("0.20") / 1_000_000
    http_api = D(300) * D("1.00") + (D(40_000) - 300) * D("0.90")  # millions of calls
    assert q.monthly == duration + requests + http_api
    items = [line.item for line in q.lines]
    assert any(i.endswith("over 300,000,000 requests") for i in items)
    assert any(i.endswith("6,000,000,000 to 15,000,000,000 GB-seconds") for i in items)


def test_a_scenario_without_traffic_is_one_line(capsys, scenario_file):
    path = scenario_file(base="baseline", edit=lambda d: d.pop("traffic"))
    code, out, err = run(capsys, "--scenario", str(path), "--serving", "all")
    assert code == 2 and out == "" and "no traffic section" in err


def test_a_planners_gpu_profile_replaces_the_estimate_for_that_gpu():
    mine = SpeedProfile(
        name="my-t4",
        engine="onnx",
        model=dict(architecture="mine"),
        hardware=dict(kind="gpu", name="NVIDIA T4", cores=1),
        provenance=dict(measured=True, date=dt.date(2026, 12, 2), method="my bench"),
        latency_batch1=dict(p50_ms=5, p95_ms=8),
        throughput=dict(by_batch={1: 200}),
    )
    q = serving.price_option("gpu-endpoint", inputs("aws", "us-east-1", traffic(1_000_000), mine))
    assert q.config == "ml.g4dn.xlarge" and q.p95_ms == 8
    assert any("your profile 'my-t4'" in n for n in q.notes)


def test_the_extended_scenario_compares_too(capsys):
    code, out, _ = run(capsys, "--scenario", "extended", "--serving", "all", "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert data["traffic"]["requests_per_month"] == "3000000" and data["recommended"]["option"]


@pytest.mark.parametrize(
    "path",
    sorted(p.name for p in (Path(__file__).resolve().parents[2] / "configs/pricing/serving").glob("*.yaml")),
)
def test_every_serving_catalog_loads_and_every_figure_carries_a_source_and_date(path):
    cloud, region = path.removesuffix(".yaml").split("-", 1)
    catalog = serving_catalog(cloud, region)
    assert catalog.data.prices, path
    for key, entry in catalog.data.prices.items():
        assert entry.unit and entry.source.strip() and entry.as_of, f"{path}: {key}"
        assert entry.list_price >= 0, f"{path}: {key}"
