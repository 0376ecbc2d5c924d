"""boto3 sessions with the standard AWS settings, and botocore errors as one sentence about what to do.

Profiles (`profile:` in the config or AWS_PROFILE), the region (`--region`, `region:`, AWS_REGION,
AWS_DEFAULT_REGION, the profile's) and AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_<SERVICE> are honoured as the
AWS CLI honours them; botocore reads the endpoint variables itself.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ocrkit.errors import OcrkitError

PERMISSIONS_HINT = "the deploying identity needs the permissions listed in the README, 'Deploy to AWS'"
CREDENTIALS_HINT = "run aws configure or set AWS_PROFILE (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
ACCESS_DENIED = {
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "AuthorizationError",
    "UnauthorizedException",
    "Forbidden",
    "403",
}
BAD_CREDENTIALS = {
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "SignatureDoesNotMatch",
    "InvalidAccessKeyId",
}
EXPIRED = {"ExpiredToken", "ExpiredTokenException", "RequestExpired", "TokenRefreshRequired"}
THROTTLED = {
    "Throttling",
    "ThrottlingException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "SlowDown",
}
NOT_FOUND = {
    "NoSuchEntity",
    "NoSuchBucket",
    "NoSuchKey",
    "NotFound",
    "NotFoundException",
    "ResourceNotFoundException",
    "NoSuchBucketPolicy",
    "ServerSideEncryptionConfigurationNotFoundError",
    "NoSuchPublicAccessBlockConfiguration",
    "NoSuchTagSet",
    "ObjectNotFoundException",
    "NoSuchLifecycleConfiguration",
    "NoSuchEntityException",
    "ProvisionedConcurrencyConfigNotFoundException",
    "404",
}


def error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None) or {}
    return str((response.get("Error") or {}).get("Code") or "")


def error_message(exc: BaseException) -> str:
    response = getattr(exc, "response", None) or {}
    return str((response.get("Error") or {}).get("Message") or "").strip()


def is_not_found(exc: BaseException) -> bool:
    """A ClientError saying the thing is not there (each service says it its own way)."""
    code = error_code(exc)
    if code in NOT_FOUND:
        return True
    message = error_message(exc).lower()
    # SageMaker: ValidationException "Could not find model ..."; Lambda: "Function not found"
    return code == "ValidationException" and ("could not find" in message or "does not exist" in message)


def translate(exc: BaseException, action: str) -> OcrkitError:
    """A botocore/boto3 exception as one OcrkitError sentence with what to do about it."""
    from botocore import exceptions as bx

    if isinstance(exc, OcrkitError):
        return exc
    if isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError):
        return OcrkitError(f"no AWS credentials found while trying to {action}", hint=CREDENTIALS_HINT)
    if isinstance(exc, bx.ProfileNotFound):
        return OcrkitError(
            f"{exc}", hint="check the profile name, or create it with aws configure --profile NAME"
        )
    if isinstance(exc, bx.NoRegionError):
        return OcrkitError(
            "no AWS region is set", hint="pass --region, set region: in the config, or export AWS_REGION"
        )
    if isinstance(exc, bx.SSOTokenLoadError | bx.TokenRetrievalError | bx.UnauthorizedSSOTokenError):
        return OcrkitError(f"the AWS SSO session has expired ({exc})", hint="run aws sso login")
    if isinstance(exc, bx.EndpointConnectionError | bx.ConnectTimeoutError):
        return OcrkitError(
            f"could not reach AWS to {action} ({exc})",
            hint="check the network connection, and AWS_ENDPOINT_URL if it is set",
        )
    if isinstance(exc, bx.ReadTimeoutError):
        return OcrkitError(
            f"AWS did not answer in time while trying to {action}", hint="run the command again"
        )
    if isinstance(exc, bx.ClientError):
        code = error_code(exc)
        message = error_message(exc) or str(exc)
        operation = getattr(exc, "operation_name", "") or action
        if code in EXPIRED:
            return OcrkitError(
                f"the AWS credentials have expired ({operation})",
                hint="refresh them (aws sso login, or new temporary keys) and run the command again",
            )
        if code in BAD_CREDENTIALS:
            return OcrkitError(f"AWS does not accept these credentials ({code})", hint=CREDENTIALS_HINT)
        if code in ACCESS_DENIED:
            return OcrkitError(
                f"AWS refused {operation} while trying to {action}: {message}", hint=PERMISSIONS_HINT
            )
        if code in THROTTLED:
            return OcrkitError(
                f"AWS is throttling {operation}", hint="wait a minute and run the command again"
            )
        if code == "ResourceLimitExceeded":
            return OcrkitError(
                f"{operation}: an account limit was reached: {message}",
                hint="request a higher limit in the Service Quotas console, or pick a smaller configuration",
            )
        return OcrkitError(f"AWS {operation} failed while trying to {action}: {code}: {message}")
    if isinstance(exc, bx.BotoCoreError):
        return OcrkitError(f"AWS call failed while trying to {action}: {exc}")
    if type(exc).__module__.startswith("boto3"):
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, bx.ClientError | bx.BotoCoreError):
            return translate(cause, action)
        denied = "(403)" in str(exc) or "AccessDenied" in str(exc)
        return OcrkitError(
            f"AWS refused to {action}: {exc}" if denied else f"{action} failed: {exc}",
            hint=PERMISSIONS_HINT if denied else None,
        )
    return OcrkitError(f"{action} failed: {type(exc).__name__}: {exc}")


@contextlib.contextmanager
def aws_errors(action: str) -> Iterator[None]:
    """Turn botocore exceptions raised inside into OcrkitErrors (one sentence, what to do)."""
    from botocore import exceptions as bx

    try:
        yield
    except (bx.BotoCoreError, bx.ClientError) as exc:
        raise translate(exc, action) from None
    except Exception as exc:
        if type(exc).__module__.startswith("boto3"):
            raise translate(exc, action) from None
        raise


def partition_of(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


@dataclass
class AwsSession:
    """One boto3 session, its region and account; clients are made once and reused."""

    session: Any  # boto3.Session
    region: str
    _clients: dict[tuple[str, int], Any] = field(default_factory=dict, repr=False)
    _account: str | None = None

    @property
    def partition(self) -> str:
        return partition_of(self.region)

    def client(self, service: str, *, attempts: int = 4, read_timeout: float = 60.0) -> Any:
        key = (service, attempts)
        if key not in self._clients:
            from botocore.config import Config

            config = Config(
                region_name=self.region,
                retries={"max_attempts": attempts, "mode": "standard"},
                read_timeout=read_timeout,
                connect_timeout=10,
                user_agent_extra="ocrkit-deploy",
            )
            self._clients[key] = self.session.client(service, config=config)
        return self._clients[key]

    @property
    def account_id(self) -> str:
        if self._account is None:
            with aws_errors("find the AWS account (sts get-caller-identity)"):
                self._account = str(self.client("sts").get_caller_identity()["Account"])
        return self._account

    def credentials(self) -> Any:
        creds = self.session.get_credentials()
        if creds is None:
            raise OcrkitError("no AWS credentials found", hint=CREDENTIALS_HINT)
        return creds.get_frozen_credentials()


def make_session(*, profile: str | None = None, region: str | None = None) -> AwsSession:
    """A session for `profile` (default chain when None) in `region` (the standard lookup when None)."""
    import boto3
    from botocore import exceptions as bx

    try:
        session = boto3.Session(profile_name=profile or None, region_name=region or None)
    except bx.ProfileNotFound as exc:
        raise translate(exc, "open the AWS profile") from None
    # AWS_REGION wins over AWS_DEFAULT_REGION and the profile's region, as in the AWS CLI v2 and SDKs
    chosen = region or os.environ.get("AWS_REGION", "").strip() or session.region_name
    if not chosen:
        raise OcrkitError(
            "no AWS region is set", hint="pass --region, set region: in the config, or export AWS_REGION"
        )
    return AwsSession(session=session, region=chosen)
