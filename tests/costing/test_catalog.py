"""Price catalogs: the shipped ones are complete and labelled; bad ones are refused with the field named."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import pytest
import yaml

from ocrkit.costing.catalog import catalog_path, default_catalog, load_catalog
from ocrkit.errors import ConfigError


def test_every_shipped_price_has_unit_source_and_date(aws_catalog, gcp_catalog):
    for catalog in (aws_catalog, gcp_catalog):
        assert catalog.data.prices
        for key, entry in catalog.data.prices.items():
            assert entry.unit and entry.source and entry.as_of, key


def test_catalogs_are_per_provider_and_region(aws_catalog, gcp_catalog):
    assert (aws_catalog.provider, aws_catalog.region) == ("aws", "us-east-1")
    assert (gcp_catalog.provider, gcp_catalog.region) == ("gcp", "us-east4")
    info = gcp_catalog.info()
    assert info.as_of == "2024-04-30" and info.oldest_entry <= info.newest_entry


def test_report_and_published_prices_are_both_kept_when_they_differ(aws_catalog, gcp_catalog):
    sagemaker = aws_catalog.entry("sagemaker.inference.ml.g4dn.xlarge")
    assert (sagemaker.price, sagemaker.report.price) == (D("0.7364"), D("0.736"))
    training = gcp_catalog.entry("vertex.training.n1-standard-4")
    assert (training.price, training.report.price) == (D("0.24608275"), D("0.123"))
    assert "1.15" in training.derivation


def test_tiers_and_free_tiers_are_data(aws_catalog, gcp_catalog):
    gateway = gcp_catalog.entry("apigateway.calls")
    assert [(t.up_to, t.price) for t in gateway.tier_list()] == [
        (D(2_000_000), D(0)),
        (D(1_000_000_000), D(3)),
        (None, D("1.5")),
    ]
    assert gateway.list_price == D(3)
    duration = aws_catalog.entry("lambda.duration")
    assert duration.free_tier.quantity == D(400_000) and duration.free_tier.condition == "always"
    assert len(duration.tier_list()) == 3
    api = aws_catalog.entry("apigateway.http.requests")
    assert api.free_tier.condition == "new_account_12_months" and api.metered_in_kb == D(512)
    storage = gcp_catalog.entry("gcs.standard.us-east4.storage")
    assert "us-east4" not in storage.free_tier.regions


def test_savings_plan_rate_for_2xlarge_is_derived_and_labelled(aws_catalog):
    xlarge = aws_catalog.committed_rate(("sagemaker_savings_plan", "ml.g4dn.xlarge"), "1yr", D("0.7364"))
    assert xlarge.price == D("0.5334") and not xlarge.assumptions
    two = aws_catalog.committed_rate(("sagemaker_savings_plan", "ml.g4dn.2xlarge"), "3yr", D("0.94"))
    assert two.price == D("0.94") * D("0.3822") / D("0.736")
    assert "derived" in two.label
    assert any("same % off" in a for a in two.assumptions)


def test_gcp_commitment_is_an_assumed_percentage(gcp_catalog):
    rate = gcp_catalog.committed_rate(("vertex_cud_assumed", "n1-standard-4"), "1yr", D("0.2461"))
    assert rate.price == D("0.2461") * D("0.9")
    assert "10% off" in rate.label
    assert any("report's assumptions" in a for a in rate.assumptions)
    assert gcp_catalog.committed_rate(("no_such_commitment", "x"), "1yr", D(1)) is None


def _write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "prices.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _minimal(**entry) -> dict:
    base = {"description": "x", "unit": "GB", "source": "test", "as_of": "2024-04-30"}
    base.update(entry)
    return {
        "provider": "aws",
        "region": "us-east-1",
        "title": "t",
        "as_of": "2024-04-30",
        "prices": {"k": base},
    }


def test_entry_needs_exactly_one_of_price_and_tiers(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_catalog(_write(tmp_path, _minimal()))
    assert "prices.k" in str(err.value) and "either 'price' or 'tiers'" in str(err.value)
    with pytest.raises(ConfigError):
        load_catalog(_write(tmp_path, _minimal(price="1", tiers=[{"price": "1"}])))


def test_tier_bounds_must_increase_and_end_open(tmp_path):
    bad = _minimal(tiers=[{"up_to": 10, "price": "1"}, {"up_to": 5, "price": "2"}, {"price": "3"}])
    with pytest.raises(ConfigError, match="must increase"):
        load_catalog(_write(tmp_path, bad))
    with pytest.raises(ConfigError, match="last must not"):
        load_catalog(_write(tmp_path, _minimal(tiers=[{"up_to": 10, "price": "1"}])))


def test_negative_price_and_unknown_key_are_named(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_catalog(_write(tmp_path, _minimal(price="-1")))
    assert "prices.k.price" in str(err.value) and "zero or more" in str(err.value)
    with pytest.raises(ConfigError) as err:
        load_catalog(_write(tmp_path, _minimal(price="1", colour="red")))
    assert "prices.k.colour" in str(err.value) and "unknown key" in str(err.value)


def test_commitment_reference_must_exist(tmp_path):
    data = _minimal(price="1")
    data["commitments"] = {
        "sp": {
            "name": "n",
            "covers": "c",
            "billing": "b",
            "source": "s",
            "as_of": "2024-04-30",
            "terms": {"1yr": {"big": {"same_discount_as": "small"}}},
        }
    }
    with pytest.raises(ConfigError) as err:
        load_catalog(_write(tmp_path, data))
    assert "commitments.sp.terms.1yr.big.same_discount_as" in str(err.value)


def test_missing_region_catalog_says_what_is_shipped():
    with pytest.raises(ConfigError) as err:
        default_catalog("aws", "eu-west-9")
    assert "aws-us-east-1" in str(err.value)
    assert catalog_path("aws", "eu-west-9").name == "aws-eu-west-9.yaml"
