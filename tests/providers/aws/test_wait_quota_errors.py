"""Waiting for InService (stubbed status sequences), the Service Quotas check, and botocore errors as
one sentence with what to do."""

from __future__ import annotations

import botocore.exceptions as bx
import pytest

from ocrkit.deploy.progress import RecordingEvents
from ocrkit.errors import OcrkitError
from ocrkit.providers.aws.quotas import check_endpoint_quota
from ocrkit.providers.aws.session import aws_errors, make_session, translate
from ocrkit.providers.aws.waiters import EndpointFailed, wait_for_endpoint


def sequence(*statuses: dict):
    items = list(statuses)

    def describe() -> dict:
        return items.pop(0) if len(items) > 1 else items[0]

    return describe


def wait(describe, **kw):
    slept: list[float] = []
    events = RecordingEvents()
    kw.setdefault("timeout_s", 3600)
    info = wait_for_endpoint(
        describe,
        name="demo-endpoint",
        log_group="/aws/sagemaker/Endpoints/demo-endpoint",
        region="us-east-1",
        events=events,
        interval_s=15,
        sleep=slept.append,
        **kw,
    )
    return info, slept, events


def test_creating_then_in_service() -> None:
    describe = sequence(
        {"EndpointStatus": "Creating"},
        {"EndpointStatus": "Creating"},
        {"EndpointStatus": "InService", "X": 1},
    )
    info, slept, events = wait(describe)
    assert info["X"] == 1
    assert slept == [15, 15]
    assert events.infos == ["endpoint demo-endpoint: Creating", "endpoint demo-endpoint: InService"]


def test_creating_then_failed_gives_the_reason_and_the_logs() -> None:
    describe = sequence(
        {"EndpointStatus": "Creating"},
        {
            "EndpointStatus": "Failed",
            "FailureReason": "The primary container for production variant AllTraffic "
            "did not pass the ping health check.",
        },
    )
    with pytest.raises(EndpointFailed) as failure:
        wait(describe)
    text = str(failure.value)
    assert "did not pass the ping health check" in failure.value.message
    assert "/aws/sagemaker/Endpoints/demo-endpoint" in text
    assert "console.aws.amazon.com/cloudwatch" in text


def test_still_creating_after_the_timeout() -> None:
    ticks = iter(range(0, 10_000, 600))
    with pytest.raises(EndpointFailed, match="still Creating"):
        wait_for_endpoint(
            sequence({"EndpointStatus": "Creating"}),
            name="demo-endpoint",
            log_group="g",
            region="us-east-1",
            events=RecordingEvents(),
            timeout_s=1800,
            sleep=lambda s: None,
            clock=lambda: next(ticks),
        )


class FakeQuotas:
    def __init__(self, pages=None, error: Exception | None = None) -> None:
        self.pages = pages or {}
        self.error = error

    def get_paginator(self, operation: str):
        owner = self

        class Pager:
            def paginate(self, **kw):
                if owner.error:
                    raise owner.error
                return [{"Quotas": owner.pages.get(operation, [])}]

        return Pager()


def test_zero_quota_is_explained() -> None:
    quotas = FakeQuotas(
        {"list_service_quotas": [{"QuotaName": "ml.g4dn.xlarge for endpoint usage", "Value": 0.0}]}
    )
    check = check_endpoint_quota(quotas, "ml.g4dn.xlarge", 1)
    assert check.known and not check.enough
    assert (
        "is 0" in check.message
        and "Request an increase" in check.message
        and "New accounts" in check.message
        and "--serving cpu-endpoint" in check.message
    )


def test_enough_quota_and_default_quota_fallback() -> None:
    quotas = FakeQuotas(
        {
            "list_aws_default_service_quotas": [
                {"QuotaName": "ml.g4dn.xlarge for endpoint usage", "Value": 2.0}
            ]
        }
    )
    check = check_endpoint_quota(quotas, "ml.g4dn.xlarge", 1)
    assert check.known and check.enough and check.value == 2.0


def test_quota_api_denied_or_missing_means_could_not_check() -> None:
    denied = bx.ClientError(
        {"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "ListServiceQuotas"
    )
    check = check_endpoint_quota(FakeQuotas(error=denied), "ml.g4dn.xlarge", 1)
    assert not check.known and check.enough
    assert "could not check" in check.message and "denied" in check.message


def test_no_credentials_becomes_one_sentence(monkeypatch, tmp_path) -> None:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # never reached: signing fails first
    session = make_session(region="us-east-1")
    with pytest.raises(OcrkitError) as failure:
        session.account_id  # noqa: B018 - the property makes the call
    assert failure.value.message.startswith("no AWS credentials found")
    assert "aws configure" in failure.value.hint and "AWS_PROFILE" in failure.value.hint


def test_unknown_profile_and_missing_region(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    for var in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(OcrkitError, match="profile"):
        make_session(profile="nope", region="us-east-1")
    with pytest.raises(OcrkitError, match="no AWS region") as failure:
        make_session()
    assert "--region" in failure.value.hint


def test_aws_region_wins(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    assert make_session().region == "eu-west-1"
    assert make_session(region="ap-south-1").region == "ap-south-1"


@pytest.mark.parametrize(
    ("code", "words", "hint"),
    [
        ("AccessDeniedException", "AWS refused CreateEndpoint", "permissions listed in the README"),
        ("ExpiredTokenException", "credentials have expired", "aws sso login"),
        ("InvalidClientTokenId", "does not accept these credentials", "aws configure"),
        ("ThrottlingException", "throttling", "wait a minute"),
        ("ResourceLimitExceeded", "account limit", "Service Quotas"),
    ],
)
def test_client_errors_become_sentences(code, words, hint) -> None:
    exc = bx.ClientError({"Error": {"Code": code, "Message": "details"}}, "CreateEndpoint")
    error = translate(exc, "create the endpoint")
    assert words in error.message and "\n" not in error.message
    assert hint in (error.hint or "")


def test_connection_errors_and_the_context_manager() -> None:
    with pytest.raises(OcrkitError) as failure, aws_errors("list the buckets"):
        raise bx.EndpointConnectionError(endpoint_url="https://s3.us-east-1.amazonaws.com")
    assert "could not reach AWS to list the buckets" in failure.value.message
    assert "AWS_ENDPOINT_URL" in failure.value.hint
