"""The batch paths' costs (ocrkit.costing.batch) and `ocrkit cost --batch N`, checked by hand arithmetic."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from ocrkit.costing.batch import (
    Speed,
    batch_catalog,
    charge,
    compare_batch,
    job_hours,
    lambda_trigger,
    named_profile,
    transform_job,
    vertex_job,
)
from tests.cli import run

AWS = batch_catalog("aws", "us-east-1")
GCP = batch_catalog("gcp", "us-east4")
T4 = Speed(Decimal(50), "t4", False, "t4 estimate")


def test_job_hours_spread_images_over_instances_after_start_up():
    assert job_hours(360_000, Decimal(50), 2, Decimal(0)) == Decimal(1)
    assert job_hours(0, Decimal(50), 1, Decimal(1800)) == Decimal("0.5")
    with pytest.raises(ValueError):
        job_hours(1, Decimal(0), 1, Decimal(0))


def test_transform_job_is_instance_hours_plus_a_get_and_a_put_per_image():
    q = transform_job(1_800_000, AWS, "ml.g4dn.xlarge", 2, T4, Decimal(0))
    # 1.8M images / (2 x 50/s) = 18,000 s = 5 h each, 10 instance-hours
    assert q.hours == Decimal(5)
    instance, get, put = q.lines
    assert instance.quantity == Decimal(10) and instance.cost == Decimal("7.364")
    assert instance.derivation and "not read" in instance.derivation  # labelled, not passed off as read
    assert get.cost == Decimal("0.72") and put.cost == Decimal(9)
    assert q.total == Decimal("17.084") and q.estimate


def test_vertex_job_prices_nodes_and_gpus_separately():
    q = vertex_job(180_000, GCP, "n1-standard-4", "NVIDIA_TESLA_T4", 1, 1, T4, Decimal(0))
    node, gpu, reads = q.lines
    assert node.quantity == gpu.quantity == Decimal(1)
    assert node.cost == Decimal("0.24608275") and gpu.cost == Decimal("0.4025")
    assert reads.cost == Decimal("0.072")
    cpu_only = vertex_job(180_000, GCP, "n1-standard-4", None, 0, 1, T4, Decimal(0))
    assert [line.price_key for line in cpu_only.lines] == [
        "vertex.batch.n1-standard-4",
        "gcs.standard.us-east4.class_b",
    ]


def test_lambda_free_tier_and_tiers_apply():
    line = charge(AWS, "lambda.requests", Decimal(3_000_000), "x")
    assert line.free_quantity == Decimal(1_000_000) and line.cost == Decimal("0.4")
    assert charge(AWS, "lambda.requests", Decimal(500_000), "x").cost == 0


def test_lambda_trigger_bills_ms_per_crop_and_cold_starts():
    profile = named_profile("report-cpu-torch")
    q = lambda_trigger(10_000_000, AWS, profile, 3538, 1000)
    # 3538 MB = 2 vCPU: the profile's 264.49 ms on 2 cores, billed per 1 ms -> 265 ms a crop
    assert profile.latency_batch1.p50_ms == 264.49 and profile.hardware.cores == 2
    per_ms = Decimal(265)
    seconds = Decimal(10_000_000) * per_ms / 1000 + 1000 * Decimal(str(profile.cold_start_s))
    duration = q.lines[1]
    assert duration.quantity == seconds * Decimal(3538) / 1024
    assert q.lines[3].quantity == Decimal(20_000_000)  # .txt and .json per image


def test_compare_puts_the_gpu_paths_first_for_ten_million_crops():
    c = compare_batch(
        10_000_000,
        gpu_profile=named_profile("report-t4-estimate"),
        cpu_profile=named_profile("report-cpu-torch"),
    )
    paths = {(q.cloud, q.path, q.config) for q in c.quotes}
    assert ("aws", "sagemaker-transform", "ml.g4dn.xlarge x 1") in paths
    assert {q.path for q in c.quotes} >= {
        "vertex-batch",
        "lambda-trigger",
        "function-trigger",
        "runner-on-vm",
    }
    assert c.cheapest is not None and "T4" in c.cheapest.config.upper()
    assert any(n.path == "runner-on-vm" and n.cloud == "aws" for n in c.not_priced)


def test_cli_table_and_json(capsys):
    code, out, _ = run(capsys, "cost", "--batch", "10M")
    assert code == 0 and "sagemaker-transform" in out and "vertex-batch" in out and "ESTIMATE" in out
    code, out, _ = run(capsys, "cost", "--batch", "10000000", "--format", "json", "--cloud", "aws")
    doc = json.loads(out)
    assert code == 0 and doc["images"] == 10_000_000
    assert {q["cloud"] for q in doc["quotes"]} == {"aws"}
    totals = [Decimal(q["total_usd"]) for q in doc["quotes"]]
    assert totals == sorted(totals)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--batch", "0"], "at least 1"),
        (["--batch", "ten"], "at least 1"),
        (["--batch", "10M", "--serving", "all"], "leave out --serving"),
    ],
)
def test_cli_bad_input_is_one_line(capsys, argv, message):
    code, out, err = run(capsys, "cost", *argv)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1 and out == ""
