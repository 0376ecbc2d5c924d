"""The serving options: one name set, which cloud offers which, refused in one line before anything runs."""

from __future__ import annotations

import pytest

from ocrkit.deploy.serving import DEFAULT_SERVING, OFFERED, ServingOption, check_offered
from ocrkit.errors import ConfigError, OcrkitError
from ocrkit.providers.aws.spec import load_aws_spec
from ocrkit.providers.gcp.spec import load_gcp_spec
from tests.cli import run


def test_default_is_the_reports_architecture() -> None:
    assert DEFAULT_SERVING is ServingOption.gpu_endpoint
    assert load_aws_spec().spec.serving is ServingOption.gpu_endpoint
    assert load_gcp_spec().spec.serving is ServingOption.gpu_endpoint


def test_each_cloud_offers_its_options() -> None:
    assert set(OFFERED["aws"]) == set(ServingOption)
    assert ServingOption.serverless_endpoint not in OFFERED["gcp"]
    assert check_offered("aws", "function") is ServingOption.function


@pytest.mark.parametrize(
    ("cloud", "option", "message"),
    [
        ("gcp", "serverless-endpoint", "does not offer --serving serverless-endpoint"),
        ("local", "function", "not --cloud local"),
        ("aws", "lambda", "unknown serving option"),
    ],
)
def test_refused_in_one_line(cloud: str, option: str, message: str) -> None:
    with pytest.raises(OcrkitError, match=message):
        check_offered(cloud, option)


def test_override_reaches_the_spec() -> None:
    assert load_aws_spec(overrides={"serving": "function"}).spec.serving is ServingOption.function


def test_gcp_config_with_an_aws_only_option_names_the_field() -> None:
    with pytest.raises(ConfigError, match="serving"):
        load_gcp_spec(overrides={"serving": "serverless-endpoint"})


def test_cli_refuses_before_anything_is_created(capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "deploy", "--cloud", "gcp", "--serving", "serverless-endpoint", "--dry-run")
    assert code == 2
    assert "does not offer --serving serverless-endpoint" in err
    assert "Traceback" not in out + err
    assert not (tmp_path / ".ocrkit").exists()
