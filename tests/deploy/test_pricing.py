"""The one pricing path: usage declared by a provider, priced by the costing engine from the catalog."""

from __future__ import annotations

from ocrkit.costing.catalog import default_catalog
from ocrkit.deploy.pricing import estimate, hourly_now, try_estimate
from ocrkit.providers.aws.spec import AwsDeploySpec
from ocrkit.providers.aws.usage import deployment_usage, running_usage
from ocrkit.providers.gcp.spec import GcpDeploySpec
from ocrkit.providers.gcp.usage import deployment_usage as gcp_usage


def test_aws_hourly_is_the_endpoint_instances_at_the_catalog_price() -> None:
    spec = AwsDeploySpec.model_validate(
        {"name": "demo", "sagemaker": {"instance_count": 2, "autoscaling": {"max_instances": 4}}}
    )
    usage = deployment_usage(spec, "us-east-1", artifact_bytes=10**8, source="<test>")
    unit = (
        default_catalog("aws", "us-east-1")
        .entry(f"sagemaker.inference.{spec.sagemaker.instance_type}")
        .list_price
    )
    got = estimate(usage)
    assert got.unit_hourly == unit and got.hourly == unit * 2
    assert got.monthly > got.hourly * 720  # Lambda, API Gateway and S3 on top of the instances
    assert any(f"up to ${unit * 4:.4f}/hour" in note for note in got.notes)


def test_status_prices_what_runs_now() -> None:
    unit = default_catalog("aws", "us-east-1").entry("sagemaker.inference.ml.g4dn.xlarge").list_price
    assert hourly_now(running_usage("demo", "us-east-1", "ml.g4dn.xlarge", 3)) == unit * 3
    assert hourly_now(None) == 0  # no endpoint: nothing billed per hour
    assert hourly_now(running_usage("demo", "us-east-1", "ml.no-such-type", 1)) is None


def test_an_unpriced_region_says_why_instead_of_a_number() -> None:
    spec = AwsDeploySpec.model_validate({"name": "demo"})
    got, why = try_estimate(deployment_usage(spec, "xx-nowhere-1", artifact_bytes=0, source="<test>"))
    assert got is None and why.startswith("cost not shown:")


def test_gcp_nodes_are_priced_with_their_accelerators() -> None:
    spec = GcpDeploySpec.model_validate({"name": "demo", "project": "p"})
    got = estimate(gcp_usage(spec, artifact_bytes=0, source="<test>"))
    catalog = default_catalog("gcp", spec.region)
    vx = spec.vertex
    node = catalog.entry(f"vertex.prediction.{vx.machine_type}").list_price
    if vx.accelerator_type:
        gpu = vx.accelerator_type.lower().replace("_", "-")
        node += catalog.entry(f"vertex.prediction.gpu.{gpu}").list_price * vx.accelerator_count
    assert got.hourly == node * vx.min_replicas
