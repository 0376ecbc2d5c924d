"""The S3-triggered Lambda (`--trigger s3`): `handler(event, context)` turns an S3 object-created event
into `ocrkit.batch.trigger.handle_object` calls, one per record, over a store adapter on boto3's S3 client.

Handler string: `ocrkit.runtime.s3_trigger_entry.handler`. It ships in the same zip as the deployment's
main function and takes that function's backend and limits from the same environment variables: the
SageMaker endpoint (`lambda_entry`) for the endpoint options, the in-process ONNX engine
(`function_model_entry`, when `OCRKIT_MODEL_URI` is set) for `--serving function`. The module is named
at run time so that the gateway zip does not carry the ONNX engine.

Batch-safe: every record of the event is processed; then, if any failed (its `errors/` record written),
`TriggerFailure` is raised so that Lambda retries the event and finally sends it to the dead-letter queue.
Retried records that had succeeded are written again with the same content.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from ocrkit.batch.trigger import Outcome, TriggerFailure, TriggerRule, handle_object
from ocrkit.gateway.handler import Gateway

log = logging.getLogger("ocrkit.trigger")
logging.getLogger().setLevel(os.environ.get("OCRKIT_LOG_LEVEL", "INFO"))

ENDPOINT_ENTRY = "ocrkit.runtime.lambda_entry"
FUNCTION_ENTRY = "ocrkit.runtime.function_model_entry"


@dataclass(frozen=True)
class S3Store:
    """One bucket through boto3's S3 client (the `ObjectStore` the trigger step reads and writes)."""

    client: Any
    bucket: str

    def read(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def write(self, key: str, data: bytes, content_type: str) -> None:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)


@dataclass(frozen=True)
class S3Object:
    bucket: str
    key: str


def objects(event: Mapping[str, Any]) -> list[S3Object]:
    """The (bucket, key) of each record; keys arrive URL-encoded (spaces as '+', UTF-8 as %XX)."""
    out = []
    for record in event.get("Records") or []:
        s3 = record.get("s3") or {}
        bucket = (s3.get("bucket") or {}).get("name")
        key = (s3.get("object") or {}).get("key")
        if bucket and key is not None:
            out.append(S3Object(bucket, unquote_plus(key)))
    return out


def entry_module(env: Mapping[str, str]) -> str:
    """Which function entry's backend the trigger uses: the ONNX engine when the environment names a
    model object, else the SageMaker endpoint."""
    return FUNCTION_ENTRY if env.get("OCRKIT_MODEL_URI") else ENDPOINT_ENTRY


@dataclass
class _Cache:
    gateway: Gateway | None = None
    s3: Any = None
    rule: TriggerRule | None = None


_cache = _Cache()


def reset() -> None:
    """Forget the cached gateway, client and rule (tests, or after the environment changed)."""
    global _cache
    _cache = _Cache()


def _gateway() -> Gateway:
    if _cache.gateway is None:
        _cache.gateway = importlib.import_module(entry_module(os.environ)).get_gateway()
    return _cache.gateway


def _s3() -> Any:
    if _cache.s3 is None:
        import boto3  # the Python runtime provides it

        _cache.s3 = boto3.client("s3")
    return _cache.s3


def handle_event(
    event: Mapping[str, Any], *, rule: TriggerRule, gateway: Gateway, client: Any
) -> list[Outcome]:
    """Every record of `event` through the trigger step; raises after the last one if any failed."""
    outcomes: list[Outcome] = []
    failures: list[TriggerFailure] = []
    for obj in objects(event):
        try:
            outcome = handle_object(
                obj.key,
                rule=rule,
                store=S3Store(client, obj.bucket),
                backend=gateway.backend,
                source=f"s3://{obj.bucket}/{obj.key}",
                limits=gateway.limits,
            )
        except TriggerFailure as exc:
            log.error("s3://%s/%s failed: %s: %s", obj.bucket, obj.key, exc.code, exc.message)
            failures.append(exc)
            continue
        log.info("s3://%s/%s %s", obj.bucket, obj.key, outcome.status)
        outcomes.append(outcome)
    if len(failures) == 1:
        raise failures[0]
    if failures:
        first = failures[0]
        raise TriggerFailure(first.key, first.code, f"{len(failures)} images failed; first: {first.message}")
    return outcomes


def handler(event: dict, context: object = None) -> dict:
    if _cache.rule is None:
        _cache.rule = TriggerRule.from_env(os.environ)
    outcomes = handle_event(event or {}, rule=_cache.rule, gateway=_gateway(), client=_s3())
    return {
        "written": [o.key for o in outcomes if o.status == "written"],
        "skipped": [o.key for o in outcomes if o.status == "skipped"],
    }
