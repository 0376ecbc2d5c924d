"""`ocrkit deploy / status / invoke / teardown --cloud aws` through the console entry point, against moto;
and `provider.invoke` against a local endpoint (plain and SigV4-signed)."""

from __future__ import annotations

import json

import boto3
import pytest

from ocrkit.deploy.records import ResourceRecord
from ocrkit.deploy.state import load_state, new_state
from ocrkit.errors import OcrkitError
from ocrkit.providers.aws.provider import AwsProvider
from ocrkit.server.app import create_app
from ocrkit.server.dev import serve_dev
from tests.gateway.fakes import EchoPredictor
from tests.gateway.imagegen import make_png
from tests.providers.helpers import run


@pytest.fixture
def wide(monkeypatch):
    monkeypatch.setenv("COLUMNS", "220")


@pytest.mark.slow
def test_deploy_status_teardown_commands(aws, capsys, fake_weights, wide) -> None:
    base = ["--cloud", "aws", "--name", "demo"]
    code, out, _ = run(capsys, "deploy", *base, "--weights", str(fake_weights), "--dry-run")
    assert code == 0, out
    assert "plan for 'demo'" in out and "19 to create" in out
    assert "$0.7364/hour" in out and "/month" in out
    assert "the API is public" in out and "Dry run: nothing was changed." in out
    assert load_state("demo", "aws") is None
    assert boto3.client("s3").list_buckets()["Buckets"] == []

    code, _, err = run(capsys, "deploy", *base, "--weights", str(fake_weights))
    assert code == 2 and "refusing to deploy without confirmation" in err and "--yes" in err
    assert boto3.client("s3").list_buckets()["Buckets"] == []

    code, out, err = run(capsys, "deploy", *base, "--weights", str(fake_weights), "--yes")
    assert code == 0, err
    url = load_state("demo", "aws").outputs["url"]
    assert f"URL: {url}/predict" in out
    assert (
        f"curl --location {url}/predict --header 'Content-Type: image/png' --data-binary '@sample.png'" in out
    )
    assert "Creating endpoint" in err and "InService" in err

    code, out, _ = run(capsys, "status", *base)
    assert code == 0
    assert "InService, 1 instance(s)" in out and "$0.7364/hour now" in out and "healthy" in out
    code, out, _ = run(capsys, "status", *base, "--format", "json")
    doc = json.loads(out)
    assert doc["healthy"] is True and doc["hourly_cost"] == "0.7364" and doc["url"] == url

    code, out, _ = run(capsys, "deploy", *base, "--weights", str(fake_weights), "--format", "json")
    doc = json.loads(out)
    assert doc["plan"]["changes"] == 0 and doc["applied"] is True and doc["url"] == url

    code, _, err = run(capsys, "teardown", *base)
    assert code == 2 and "refusing to tear down" in err
    code, out, err = run(capsys, "teardown", *base, "--yes")
    assert code == 0, err
    assert "Nothing billable remains" in out
    code, _, err = run(capsys, "status", *base)
    assert code == 2 and "no deployment named 'demo' on aws" in err


def test_bad_config_is_one_line(aws, capsys, tmp_path, fake_weights) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("name: demo\nlambda:\n  timeout_s: 45\n")
    code, _, err = run(
        capsys, "deploy", "--cloud", "aws", "--config", str(config), "--weights", str(fake_weights)
    )
    assert code == 2
    assert err.count("\n") == 1 and "lambda.timeout_s" in err and "Traceback" not in err


def test_missing_weights_is_explained(aws, capsys, monkeypatch) -> None:
    monkeypatch.setenv("OCRKIT_DEMO_WEIGHTS", "0")
    code, _, err = run(capsys, "deploy", "--cloud", "aws", "--dry-run")
    assert code == 2 and "no model weights to deploy" in err and "--weights" in err


def test_invoke_posts_to_the_deployed_url(capsys, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("OCRKIT_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)
    with serve_dev(create_app(EchoPredictor())) as server:
        state = new_state("demo", "aws")
        state.resources["api"] = ResourceRecord("apigateway:api", "abc")
        state.outputs.update(
            url=server.url, invoke_url=f"{server.url}/predict", region="us-east-1", auth="none"
        )
        state.save()
        image = tmp_path / "sample.png"
        image.write_bytes(make_png(32, 8))
        code, out, err = run(
            capsys, "invoke", str(image), "--cloud", "aws", "--name", "demo", "--format", "json"
        )
        assert code == 0, err
        doc = json.loads(out)
        assert doc["status"] == 200 and doc["answer"]["text"] == "png 32x8"
        code, out, _ = run(
            capsys, "invoke", str(tmp_path / "missing.png"), "--cloud", "aws", "--name", "demo"
        )
        assert code == 2


def test_iam_auth_signs_requests_with_sigv4(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    seen: list[dict] = []

    def app(environ, start_response):
        seen.append({k: v for k, v in environ.items() if k.startswith("HTTP_")})
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b'{"text": "ok", "confidence": 1.0}']

    with serve_dev(app) as server:
        state = new_state("demo", "aws", root=tmp_path)
        state.outputs.update(invoke_url=f"{server.url}/predict", region="us-east-1", auth="iam")
        result = AwsProvider(region="us-east-1").invoke(state, b"\x89PNG", "image/png")
    assert result.status == 200 and json.loads(result.body)["text"] == "ok"
    auth = seen[0]["HTTP_AUTHORIZATION"]
    assert auth.startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/us-east-1/execute-api/aws4_request" in auth
    assert "HTTP_X_AMZ_DATE" in seen[0]


def test_invoke_without_a_url_says_to_deploy(tmp_path) -> None:
    with pytest.raises(OcrkitError, match="has no URL"):
        AwsProvider(region="us-east-1").invoke(new_state("demo", "aws", root=tmp_path), b"x", "image/png")
