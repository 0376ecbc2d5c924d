"""What every AWS family module shares: the plan context (describe calls only) and the cloud access used
by delete / describe / discover, with their small helpers (a not-found read, the IAM propagation retry).

Values one family's plan reads that a later one needs (the API found, whether the instance type changes)
sit in `Observed`, a typed record on the context, never in hidden attributes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ocrkit.deploy.plan import Step
from ocrkit.deploy.records import PlannedCall, ResourceRecord, StateLike
from ocrkit.providers.aws.desired import Desired
from ocrkit.providers.aws.names import TAG_KEY, Names
from ocrkit.providers.aws.quotas import QuotaCheck
from ocrkit.providers.aws.session import AwsSession, error_code, error_message, is_not_found


@dataclass
class Options:
    """Timing knobs (tests shorten them): waits, polls and the retry window for IAM propagation."""

    sleep: Callable[[float], None] = time.sleep
    endpoint_poll_s: float = 15.0
    endpoint_timeout_s: float = 3600.0
    iam_retry_s: float = 120.0
    lambda_poll_s: int = 2


@dataclass
class Observed:
    """What earlier plan functions read that later ones use (planned in dependency order)."""

    actions: dict[str, str] = field(default_factory=dict)  # resource key -> planned action
    instance_type_changes: bool = False  # the endpoint switches to another instance type
    api: dict | None = None  # the HTTP API found (None: it will be created)
    integration: dict | None = None


def describe_or_none(fn: Callable[..., Any], **kwargs: Any) -> Any:
    """The description, or None when the thing does not exist."""
    try:
        return fn(**kwargs)
    except Exception as exc:
        if is_not_found(exc):
            return None
        raise


def gone(exc: BaseException) -> bool:
    return is_not_found(exc) or error_code(exc) in ("ObjectNotFoundException", "NoSuchBucket")


def owned_by_tags(a: AwsAccess, read: Callable[[], dict[str, str] | None]) -> bool | None:
    """Whether a live resource carries `ocrkit:deployment=<this deployment>` (None: it does not exist).
    `read` returns its tags as a mapping (None or {} when it has none)."""
    try:
        tags = read() or {}
    except Exception as exc:
        if error_code(exc) == "NoSuchTagSet":  # S3: a bucket without any tag
            return False
        if gone(exc):
            return None
        raise
    return tags.get(TAG_KEY) == a.names.deployment


def tag_dict(items: Iterable[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in items or []}


def repository(image_uri: str, *, tag: bool = False) -> str:
    """`<registry>/pytorch-inference:2.3.0-gpu-py311` -> `pytorch-inference` (with tag: the whole name)."""
    name = image_uri.split("/", 1)[-1]
    return name if tag else name.split("@", 1)[0].rsplit(":", 1)[0]


def mb(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB" if n >= 100_000 else f"{n / 1000:.1f} KB"


@dataclass
class AwsPlanContext:
    """Read by every plan function: the session, the desired state, the recorded state, what was seen."""

    aws: AwsSession
    d: Desired
    state: StateLike | None
    quota: Callable[[int], QuotaCheck]
    options: Options = field(default_factory=Options)
    warnings: list[str] = field(default_factory=list)
    seen: Observed = field(default_factory=Observed)

    @property
    def n(self) -> Names:
        return self.d.names

    @property
    def spec(self) -> Any:
        return self.d.spec

    def c(self, service: str) -> Any:
        return self.aws.client(service)

    def record(self, key: str) -> ResourceRecord | None:
        return self.state.resources.get(key) if self.state is not None else None

    def describe(self, fn: Callable[..., Any], **kwargs: Any) -> Any:
        return describe_or_none(fn, **kwargs)

    def creating(self, key: str) -> bool:
        return self.seen.actions.get(key) == "create"

    def retry_iam(self, call: Callable[[], Any], what: str) -> Any:
        """Retry while a just-created role has not reached the service yet (IAM is eventually consistent)."""
        deadline = time.monotonic() + self.options.iam_retry_s
        delay = 2.0
        while True:
            try:
                return call()
            except Exception as exc:
                message = error_message(exc).lower()
                propagating = error_code(exc) in (
                    "ValidationException",
                    "InvalidParameterValueException",
                ) and ("assume" in message or "role" in message and "permission" in message)
                if not propagating or time.monotonic() > deadline:
                    raise
                self.options.sleep(delay)
                delay = min(delay * 2, 10.0)

    @staticmethod
    def step(
        key: str, kind: str, action: str, summary: str, run, *, calls: Iterable[str] = (), **details: Any
    ) -> Step:
        """A planned step: what the user sees, the API operations it may make, and what runs them."""
        planned = PlannedCall(key, kind, action, summary, details, tuple(calls))  # type: ignore[arg-type]
        return Step(planned, run)


@dataclass
class AwsAccess:
    """What delete / describe / discover read: the session and the deployment's names, plus waits."""

    aws: AwsSession
    names: Names
    options: Options = field(default_factory=Options)
    notes: list[str] = field(default_factory=list)

    def c(self, service: str) -> Any:
        return self.aws.client(service)
