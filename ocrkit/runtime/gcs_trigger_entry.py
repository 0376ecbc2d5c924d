"""The bucket-triggered Cloud Function (2nd gen, CloudEvent): `on_object(cloud_event)` runs the model on
an image uploaded to the deployment's input bucket and writes its answers beside it.

functions-framework target `on_object` (signature type `cloudevent`) in `main.py`, which only re-exports
it. The event is `google.cloud.storage.object.v1.finalized` from the input bucket (the data is Cloud
Storage's object resource: `bucket`, `name`, `contentType`, `size`, `generation`, ...). The one step is
ocrkit.batch.trigger.handle_object, with a store adapter over google-cloud-storage and the backend of the
serving option (`OCRKIT_TRIGGER_BACKEND`): `onnx`, the ONNX engine in this process (serving: function;
ocrkit.runtime.onnx_backend), or `vertex`, the Vertex AI endpoint (the endpoint options;
ocrkit.runtime.vertex_backend), built once per instance.

Dead letter. Cloud Storage -> Eventarc events cannot be prefix-filtered on the platform, so the function
itself skips keys outside the input prefix (TriggerRule.matches): the results/ and errors/ objects it
writes fire events too, and those return at once (no retrigger). For a TriggerFailure (an image that
cannot be read, or a model or store error while reading it) the function publishes the event (bucket, key,
error code/message, attempt) to the dead-letter topic (`OCRKIT_DEAD_LETTER_TOPIC`) after the errors/ record
was written, and then returns without raising only once the message is published (so a failed image is
never dropped and never retried forever); if publishing fails it raises so the platform retries
(retry_policy RETRY_POLICY_RETRY). A failure to write the results themselves (the function's account may
create objects, not replace them: an image re-uploaded under the same name) takes the same path, with the
code `write_failed`.

`attempt` in the message: Eventarc does not number deliveries, so it holds the event's id and time and
when this attempt ran.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ocrkit.batch.trigger import Outcome, TriggerFailure, TriggerRule, handle_object
from ocrkit.errors import OcrkitError
from ocrkit.gateway.backend import Backend
from ocrkit.gateway.limits import Limits

log = logging.getLogger("ocrkit.trigger")
logging.getLogger().setLevel(os.environ.get("OCRKIT_LOG_LEVEL", "INFO"))

BACKEND_ENV = "OCRKIT_TRIGGER_BACKEND"  # onnx | vertex
BUCKET_ENV = "OCRKIT_TRIGGER_BUCKET"  # the input bucket: events from any other are skipped
TOPIC_ENV = "OCRKIT_DEAD_LETTER_TOPIC"  # projects/P/topics/T
PUBLISH_TIMEOUT_S = 30.0
FINALIZED = "google.cloud.storage.object.v1.finalized"


class GcsStore:
    """One bucket through google-cloud-storage (objects.get / objects.insert, nothing else)."""

    def __init__(self, bucket: str, client: Any = None) -> None:
        if client is None:
            from google.cloud import storage

            client = storage.Client()
        self.bucket = client.bucket(bucket)

    def read(self, key: str) -> bytes:
        return self.bucket.blob(key).download_as_bytes()

    def write(self, key: str, data: bytes, content_type: str) -> None:
        self.bucket.blob(key).upload_from_string(data, content_type=content_type)


class DeadLetter:
    """Publishes a failed event to the dead-letter topic and waits until Pub/Sub has it."""

    def __init__(self, topic: str, publisher: Any = None) -> None:
        self.topic = topic
        self._publisher = publisher

    def publish(self, message: dict[str, Any]) -> str:
        if self._publisher is None:
            from google.cloud import pubsub_v1

            self._publisher = pubsub_v1.PublisherClient()
        data = json.dumps(message, ensure_ascii=False).encode("utf-8")
        attributes = {"bucket": message["bucket"], "key": message["key"], "code": message["error"]["code"]}
        future = self._publisher.publish(self.topic, data, **attributes)
        return str(future.result(timeout=PUBLISH_TIMEOUT_S))


@dataclass(frozen=True)
class Settings:
    rule: TriggerRule
    bucket: str
    topic: str
    limits: Limits

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        missing = [k for k in (BUCKET_ENV, TOPIC_ENV) if not (env.get(k) or "").strip()]
        if missing:
            raise OcrkitError(f"the trigger function is misconfigured: {', '.join(missing)} not set")
        return cls(
            TriggerRule.from_env(env), env[BUCKET_ENV].strip(), env[TOPIC_ENV].strip(), Limits.from_env(env)
        )


def backend_from_env(env: Mapping[str, str]) -> Backend:
    kind = (env.get(BACKEND_ENV) or "").strip()
    if kind == "onnx":
        from ocrkit.runtime.onnx_backend import onnx_backend

        return onnx_backend(env)
    if kind == "vertex":
        from ocrkit.runtime.vertex_backend import from_environment

        return from_environment(dict(env))
    raise OcrkitError(f"the trigger function is misconfigured: {BACKEND_ENV}={kind!r} (onnx or vertex)")


def event_fields(cloud_event: Any) -> tuple[str, str, dict[str, Any], dict[str, str]]:
    """(bucket, key, data, attributes) of a Cloud Storage CloudEvent (functions-framework's or a dict)."""
    data = cloud_event.data if hasattr(cloud_event, "data") else cloud_event.get("data")
    if isinstance(data, bytes | str):
        data = json.loads(data)
    if not isinstance(data, dict):
        raise OcrkitError("the event carries no Cloud Storage object (its data is not a JSON object)")
    getter = cloud_event.get if hasattr(cloud_event, "get") else (lambda k, d=None: d)
    attributes = {k: str(getter(k, "") or "") for k in ("id", "type", "time", "source", "subject")}
    return str(data.get("bucket") or ""), str(data.get("name") or ""), data, attributes


def dead_letter_message(
    bucket: str, key: str, failure: TriggerFailure, attributes: Mapping[str, str], error_key: str, now: float
) -> dict[str, Any]:
    return {
        "bucket": bucket,
        "key": key,
        "error": {"code": failure.code, "message": failure.message},
        "error_record": f"gs://{bucket}/{error_key}",
        "attempt": {
            "event_id": attributes.get("id", ""),
            "event_time": attributes.get("time", ""),
            "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
        },
    }


def handle_event(
    cloud_event: Any,
    *,
    settings: Settings,
    store: Any,
    backend: Callable[[], Backend],
    dead_letter: DeadLetter,
    now: Callable[[], float] = time.time,
) -> Outcome:
    """One event: skipped (not an input image of the input bucket), written, or dead-lettered; raises only
    when the dead-letter publish failed (the platform then retries the whole event)."""
    bucket, key, _, attributes = event_fields(cloud_event)
    if bucket != settings.bucket or not settings.rule.matches(key):
        log.info(
            "skipped %s (not an input image of gs://%s/%s)", key, settings.bucket, settings.rule.input_prefix
        )
        return Outcome(key, "skipped")
    source = f"gs://{bucket}/{key}"
    try:
        return handle_object(
            key, rule=settings.rule, store=store, backend=backend(), source=source, limits=settings.limits
        )
    except TriggerFailure as failure:
        caught = failure
    except Exception as exc:  # the results could not be written (e.g. they exist: create-only access)
        caught = _write_failed(key, settings.rule, store, source, exc, now())
    message = dead_letter_message(bucket, key, caught, attributes, settings.rule.error_key(key), now())
    message_id = dead_letter.publish(message)  # raises: the platform retries the event
    log.warning(
        "%s failed (%s: %s); dead-lettered as message %s", source, caught.code, caught.message, message_id
    )
    return Outcome(key, "dead-lettered")


def _write_failed(
    key: str, rule: TriggerRule, store: Any, source: str, exc: Exception, now: float
) -> TriggerFailure:
    failure = TriggerFailure(key, "write_failed", f"writing the results failed: {type(exc).__name__}: {exc}")
    record = {
        "source": source,
        "error": {"code": failure.code, "message": failure.message[:1000]},
        "attempt_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
    }
    try:
        store.write(rule.error_key(key), json.dumps(record).encode("utf-8"), "application/json")
    except Exception:  # noqa: BLE001 - the dead-letter message still carries the event
        log.exception("the errors/ record of %s could not be written either", source)
    return failure


class _Instance:
    """What one function instance builds once: settings, the store, the dead-letter publisher, the model."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._backend: Backend | None = None
        self.settings: Settings | None = None
        self.store: GcsStore | None = None
        self.dead_letter: DeadLetter | None = None

    def ready(self) -> Settings:
        with self._lock:
            if self.settings is None:
                settings = Settings.from_env(os.environ)
                self.store = GcsStore(settings.bucket)
                self.dead_letter = DeadLetter(settings.topic)
                self.settings = settings
            return self.settings

    def backend(self) -> Backend:
        with self._lock:
            if self._backend is None:
                self._backend = backend_from_env(os.environ)
            return self._backend

    def reset(self) -> None:
        with self._lock:
            self._backend, self.settings, self.store, self.dead_letter = None, None, None, None


_instance = _Instance()
reset = _instance.reset


def on_object(cloud_event: Any) -> None:
    """functions-framework CloudEvent target: returns (acknowledged) or raises (retried)."""
    settings = _instance.ready()
    outcome = handle_event(
        cloud_event,
        settings=settings,
        store=_instance.store,
        backend=_instance.backend,
        dead_letter=_instance.dead_letter,  # type: ignore[arg-type]
    )
    log.info("%s: %s %s", outcome.key, outcome.status, " ".join(outcome.written))
