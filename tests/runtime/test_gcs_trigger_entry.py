"""ocrkit.runtime.gcs_trigger_entry at its boundaries, without a model: the event's fields, which events
are skipped, the dead-letter message and when the event is acknowledged or failed. The publisher is a
recording fake of google-cloud-pubsub's PublisherClient (`publish(topic, data, **attributes)` -> a future);
the store is a dict. The real path (functions-framework, the storage emulator, drongo's Pub/Sub, the ONNX
engine) is tests/providers/gcp/test_trigger_data_path.py."""

from __future__ import annotations

import json
from concurrent.futures import Future
from pathlib import Path

import pytest

from ocrkit.batch.trigger import TriggerRule
from ocrkit.gateway.limits import Limits
from ocrkit.prediction import Prediction
from ocrkit.runtime.gcs_trigger_entry import DeadLetter, Settings, event_fields, handle_event

JPEG = (Path(__file__).resolve().parents[2] / "ocrkit" / "assets" / "samples" / "sample01.jpg").read_bytes()


class Store(dict):
    def __init__(self, *args, refuse: tuple[str, ...] = ()) -> None:
        super().__init__(*args)
        self.refuse = refuse

    def read(self, key: str) -> bytes:
        return self[key]

    def write(self, key: str, data: bytes, content_type: str) -> None:
        if key.startswith(self.refuse):
            raise PermissionError(f"403 storage.objects.delete denied on {key}")
        self[key] = data


class Publisher:
    """Records publish calls; `fail` makes the future raise (as a NotFound topic does)."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.calls: list[tuple[str, bytes, dict]] = []
        self.fail = fail

    def publish(self, topic: str, data: bytes, **attributes: str) -> Future:
        self.calls.append((topic, data, attributes))
        future: Future = Future()
        if self.fail is not None:
            future.set_exception(self.fail)
        else:
            future.set_result(str(len(self.calls)))
        return future


class Backend:
    name = "fake"

    def __init__(self) -> None:
        self.seen = 0

    def predict(self, images, timeout_s=None):
        self.seen += len(images)
        return [Prediction(text="привет", confidence=0.9) for _ in images]


SETTINGS = Settings(TriggerRule(), "in-bucket", "projects/p/topics/dl", Limits())


def event(key: str, bucket: str = "in-bucket", event_id: str = "e1") -> dict:
    return {"id": event_id, "time": "2026-12-03T00:00:00Z", "data": {"bucket": bucket, "name": key}}


def test_event_fields_of_a_dict_and_of_bytes_data() -> None:
    assert event_fields(event("incoming/a.png"))[:2] == ("in-bucket", "incoming/a.png")
    raw = {"id": "x", "data": json.dumps({"bucket": "b", "name": "k"}).encode()}
    assert event_fields(raw)[:2] == ("b", "k")


@pytest.mark.parametrize(
    ("key", "bucket"),
    [
        ("results/a.png.txt", "in-bucket"),
        ("errors/a.png.json", "in-bucket"),
        ("incoming/a.txt", "in-bucket"),
        ("incoming/a.png", "other-bucket"),
    ],
)
def test_non_inputs_are_skipped_without_reading_or_publishing(key, bucket) -> None:
    store, publisher, backend = Store(), Publisher(), Backend()
    outcome = handle_event(
        event(key, bucket),
        settings=SETTINGS,
        store=store,
        backend=lambda: backend,
        dead_letter=DeadLetter(SETTINGS.topic, publisher),
    )
    assert outcome.status == "skipped"
    assert store == {} and publisher.calls == [] and backend.seen == 0


def test_a_bad_image_is_recorded_then_dead_lettered_then_acknowledged() -> None:
    store, publisher = Store({"incoming/x/bad.png": b"nope"}), Publisher()
    outcome = handle_event(
        event("incoming/x/bad.png", event_id="e7"),
        settings=SETTINGS,
        store=store,
        backend=Backend,
        dead_letter=DeadLetter(SETTINGS.topic, publisher),
        now=lambda: 0.0,
    )
    assert outcome.status == "dead-lettered"
    assert json.loads(store["errors/x/bad.png.json"])["error"]["code"] == "not_an_image"
    ((topic, data, attributes),) = publisher.calls
    message = json.loads(data)
    assert topic == "projects/p/topics/dl"
    assert message["bucket"] == "in-bucket" and message["key"] == "incoming/x/bad.png"
    assert message["error"]["code"] == "not_an_image"
    assert message["attempt"] == {
        "event_id": "e7",
        "event_time": "2026-12-03T00:00:00Z",
        "at": "1970-01-01T00:00:00Z",
    }
    assert attributes == {"bucket": "in-bucket", "key": "incoming/x/bad.png", "code": "not_an_image"}


def test_a_failed_publish_raises_so_the_platform_retries() -> None:
    store, publisher = (
        Store({"incoming/bad.png": b"nope"}),
        Publisher(fail=RuntimeError("404 Topic not found")),
    )
    with pytest.raises(RuntimeError, match="Topic not found"):
        handle_event(
            event("incoming/bad.png"),
            settings=SETTINGS,
            store=store,
            backend=Backend,
            dead_letter=DeadLetter(SETTINGS.topic, publisher),
        )
    assert "errors/bad.png.json" in store  # written before the publish


def test_results_that_cannot_be_written_are_dead_lettered_not_retried_forever() -> None:
    """The account may create objects, not replace them: an image re-uploaded under the same name."""
    store = Store({"incoming/a.png": JPEG}, refuse=("results/",))
    publisher = Publisher()
    outcome = handle_event(
        event("incoming/a.png"),
        settings=SETTINGS,
        store=store,
        backend=Backend,
        dead_letter=DeadLetter(SETTINGS.topic, publisher),
    )
    assert outcome.status == "dead-lettered"
    assert json.loads(store["errors/a.png.json"])["error"]["code"] == "write_failed"
    assert json.loads(publisher.calls[0][1])["error"]["code"] == "write_failed"


def test_an_image_is_answered_and_nothing_is_published() -> None:
    store, publisher = Store({"incoming/a.png": JPEG}), Publisher()
    outcome = handle_event(
        event("incoming/a.png"),
        settings=SETTINGS,
        store=store,
        backend=Backend,
        dead_letter=DeadLetter(SETTINGS.topic, publisher),
    )
    assert outcome.status == "written", store
    assert store["results/a.png.txt"] == "привет\n".encode()
    assert publisher.calls == []
