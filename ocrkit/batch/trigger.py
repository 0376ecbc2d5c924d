"""The bucket-triggered pipeline's rule and its one step, shared by the AWS (S3 -> Lambda) and GCP
(Cloud Storage -> Cloud Function) triggers: which object keys run the model, where the answers go, and
what happens to an image that fails.

Why one module: the clouds differ only in how an object-created event arrives and how bytes are read and
written; the rule that keeps the pipeline from retriggering itself and the output layout must be the same
on both. Standard library and the gateway only (no numpy, no boto3): this ships inside the function zips.

Layout, for an object ``<input_prefix><rel>`` (``rel`` keeps sub-folders and the file name):
- ``<output_prefix><rel>.txt``: the text, UTF-8, one line;
- ``<output_prefix><rel>.json``: ``{"source", "text", "confidence", "model"}``;
- on failure ``<error_prefix><rel>.json``: ``{"source", "error": {"code", "message"}, "attempt_at"}``, and
  `TriggerFailure` is raised so that the platform retries and then dead-letters the event: a failed image
  is never dropped silently.
The three prefixes are disjoint (none starts with another), so nothing the step writes can match the
input rule: the pipeline cannot retrigger itself.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from ocrkit.errors import ConfigError, OcrkitError
from ocrkit.gateway.backend import Backend
from ocrkit.gateway.errors import GatewayError
from ocrkit.gateway.images import inspect_image
from ocrkit.gateway.limits import Limits
from ocrkit.prediction import ImageDecodeError

#: the image suffixes of the contract's formats (PNG, JPEG); matched case-insensitively
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")

ENV_INPUT = "OCRKIT_TRIGGER_INPUT_PREFIX"
ENV_OUTPUT = "OCRKIT_TRIGGER_OUTPUT_PREFIX"
ENV_ERRORS = "OCRKIT_TRIGGER_ERROR_PREFIX"
ENV_SUFFIXES = "OCRKIT_TRIGGER_SUFFIXES"


class TriggerFailure(OcrkitError):
    """One image could not be read; its errors/ record is written. Raised so the platform retries and
    finally dead-letters the event (Lambda's on-failure queue, Pub/Sub's dead-letter topic)."""

    def __init__(self, key: str, code: str, message: str) -> None:
        super().__init__(f"{key}: {code}: {message}")
        self.key, self.code, self.message = key, code, message


@dataclass(frozen=True)
class TriggerRule:
    """Which keys run the model and where the answers go. Prefixes end with "/" and are disjoint."""

    input_prefix: str = "incoming/"
    output_prefix: str = "results/"
    error_prefix: str = "errors/"
    suffixes: tuple[str, ...] = IMAGE_SUFFIXES

    def __post_init__(self) -> None:
        names = {"input_prefix": self.input_prefix, "output_prefix": self.output_prefix}
        names["error_prefix"] = self.error_prefix
        for field, value in names.items():
            if not value or not value.endswith("/") or value.startswith("/") or "//" in value:
                raise ConfigError(
                    "trigger",
                    field,
                    f"{value!r} must be a non-empty key prefix like 'incoming/' (ends in '/')",
                )
        for a, va in names.items():
            for b, vb in names.items():
                if a != b and va.startswith(vb):
                    raise ConfigError(
                        "trigger",
                        a,
                        f"{va!r} lies inside {b} {vb!r}: the prefixes must be disjoint, or the function's "
                        "own writes would trigger it again",
                    )
        suffixes = tuple(s.lower() for s in self.suffixes)
        if not suffixes or any(not s.startswith(".") for s in suffixes):
            raise ConfigError("trigger", "suffixes", f"{self.suffixes!r}: give suffixes like '.png'")
        object.__setattr__(self, "suffixes", suffixes)

    def matches(self, key: str) -> bool:
        """True when an object-created event for `key` should run the model."""
        return (
            key.startswith(self.input_prefix)
            and len(key) > len(self.input_prefix)
            and not key.endswith("/")
            and key.lower().endswith(self.suffixes)
        )

    def relative(self, key: str) -> str:
        if not key.startswith(self.input_prefix):
            raise ValueError(f"{key!r} is not under {self.input_prefix!r}")
        return key[len(self.input_prefix) :]

    def result_keys(self, key: str) -> tuple[str, str]:
        """(text key, json key) for the image at `key`."""
        rel = self.relative(key)
        return f"{self.output_prefix}{rel}.txt", f"{self.output_prefix}{rel}.json"

    def error_key(self, key: str) -> str:
        return f"{self.error_prefix}{self.relative(key)}.json"

    def to_env(self) -> dict[str, str]:
        """The environment a deploy gives the function, read back by `from_env`."""
        return {
            ENV_INPUT: self.input_prefix,
            ENV_OUTPUT: self.output_prefix,
            ENV_ERRORS: self.error_prefix,
            ENV_SUFFIXES: ",".join(self.suffixes),
        }

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> TriggerRule:
        missing = [k for k in (ENV_INPUT, ENV_OUTPUT, ENV_ERRORS) if not env.get(k, "").strip()]
        if missing:
            raise OcrkitError(f"the trigger function is misconfigured: {', '.join(missing)} not set")
        suffixes = tuple(s.strip() for s in env.get(ENV_SUFFIXES, "").split(",") if s.strip())
        return cls(
            input_prefix=env[ENV_INPUT].strip(),
            output_prefix=env[ENV_OUTPUT].strip(),
            error_prefix=env[ENV_ERRORS].strip(),
            suffixes=suffixes or IMAGE_SUFFIXES,
        )


class ObjectStore(Protocol):
    """One bucket, as the trigger step sees it; the cloud's client error becomes an exception."""

    def read(self, key: str) -> bytes: ...

    def write(self, key: str, data: bytes, content_type: str) -> None: ...


@dataclass(frozen=True)
class Outcome:
    """What one event did: "written" (both result objects), or "skipped" (the key is not an input)."""

    key: str
    status: str
    written: tuple[str, ...] = ()


def handle_object(
    key: str,
    *,
    rule: TriggerRule,
    store: ObjectStore,
    backend: Backend,
    source: str,
    limits: Limits | None = None,
    now: float | None = None,
) -> Outcome:
    """Run the model on one new object and write its answers; on failure write the errors/ record and
    raise `TriggerFailure`. `source` names the object in the records (``s3://bucket/key``)."""
    if not rule.matches(key):
        return Outcome(key, "skipped")
    limits = limits or Limits()
    try:
        data = store.read(key)
        inspect_image(data, limits, label=key)
        prediction = backend.predict([data], timeout_s=limits.backend_timeout_s)[0]
    except (GatewayError, ImageDecodeError) as exc:
        code = exc.code if isinstance(exc, GatewayError) else "not_an_image"
        _fail(key, rule, store, source, code, exc.message, now)
    except Exception as exc:  # the store or the model: transient or not, it is recorded and retried
        _fail(key, rule, store, source, "processing_failed", f"{type(exc).__name__}: {exc}", now)
    text_key, json_key = rule.result_keys(key)
    body = {
        "source": source,
        "text": prediction.text,
        "confidence": round(float(prediction.confidence), 4),
        "model": backend.name,
    }
    store.write(json_key, json.dumps(body, ensure_ascii=False).encode("utf-8"), "application/json")
    store.write(text_key, (prediction.text + "\n").encode("utf-8"), "text/plain; charset=utf-8")
    return Outcome(key, "written", (json_key, text_key))


def _fail(
    key: str, rule: TriggerRule, store: ObjectStore, source: str, code: str, message: str, now: float | None
) -> None:
    message = " ".join(message.split())[:1000]
    record = {
        "source": source,
        "error": {"code": code, "message": message},
        "attempt_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() if now is None else now)),
    }
    try:
        store.write(
            rule.error_key(key), json.dumps(record, ensure_ascii=False).encode("utf-8"), "application/json"
        )
    except Exception as exc:  # the dead-letter queue still gets the event
        message = f"{message} (the errors/ record could not be written either: {type(exc).__name__})"
    raise TriggerFailure(key, code, message)
