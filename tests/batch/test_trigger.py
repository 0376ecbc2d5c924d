"""The bucket trigger's rule and step: layout, no retrigger, failures recorded and raised."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ocrkit.batch.trigger import TriggerFailure, TriggerRule, handle_object
from ocrkit.errors import ConfigError, OcrkitError
from ocrkit.prediction import ImageDecodeError, Prediction

SAMPLES = Path(__file__).resolve().parents[2] / "ocrkit" / "assets" / "samples"


class DictStore:
    def __init__(self, objects: dict[str, bytes]) -> None:
        self.objects = dict(objects)
        self.types: dict[str, str] = {}

    def read(self, key: str) -> bytes:
        return self.objects[key]

    def write(self, key: str, data: bytes, content_type: str) -> None:
        self.objects[key] = data
        self.types[key] = content_type


class FixedBackend:
    name = "ocrkit-test"

    def __init__(self, text: str = "привет", fail: Exception | None = None) -> None:
        self.text, self.fail, self.calls = text, fail, 0

    def predict(self, images: list[bytes], *, timeout_s: float | None) -> list[Prediction]:
        self.calls += 1
        if self.fail:
            raise self.fail
        return [Prediction(self.text, 0.91234) for _ in images]


def _image() -> bytes:
    return sorted(SAMPLES.glob("*.jpg"))[0].read_bytes()


def test_rule_matches_only_images_under_the_input_prefix() -> None:
    rule = TriggerRule()
    assert rule.matches("incoming/a/b.PNG")
    assert rule.matches("incoming/x.jpeg")
    assert not rule.matches("incoming/")
    assert not rule.matches("incoming/notes.txt")
    assert not rule.matches("other/x.png")


def test_nothing_the_step_writes_can_retrigger_it() -> None:
    rule = TriggerRule()
    store = DictStore({"incoming/a/b.png": _image(), "incoming/bad.png": b"not an image"})
    handle_object(
        "incoming/a/b.png", rule=rule, store=store, backend=FixedBackend(), source="s3://bk/incoming/a/b.png"
    )
    with pytest.raises(TriggerFailure):
        handle_object(
            "incoming/bad.png", rule=rule, store=store, backend=FixedBackend(), source="s3://bk/bad"
        )
    written = set(store.objects) - {"incoming/a/b.png", "incoming/bad.png"}
    assert written == {"results/a/b.png.txt", "results/a/b.png.json", "errors/bad.png.json"}
    assert not any(rule.matches(k) for k in written)
    # an event for one of its own outputs (even one named like an image) is skipped, the model not called
    backend = FixedBackend()
    assert (
        handle_object("results/a/b.png", rule=rule, store=store, backend=backend, source="x").status
        == "skipped"
    )
    assert backend.calls == 0


def test_written_objects_hold_text_and_json() -> None:
    store = DictStore({"incoming/c.png": _image()})
    out = handle_object(
        "incoming/c.png",
        rule=TriggerRule(),
        store=store,
        backend=FixedBackend(),
        source="gs://b/incoming/c.png",
    )
    assert out.status == "written"
    assert store.objects["results/c.png.txt"].decode("utf-8") == "привет\n"
    body = json.loads(store.objects["results/c.png.json"])
    assert body == {
        "source": "gs://b/incoming/c.png",
        "text": "привет",
        "confidence": 0.9123,
        "model": "ocrkit-test",
    }
    assert store.types["results/c.png.json"] == "application/json"


@pytest.mark.parametrize(
    ("data", "fail", "code"),
    [
        (b"GIF89a....", None, "unsupported_image_format"),
        (b"", None, "not_an_image"),
        (None, ImageDecodeError("cannot decode"), "not_an_image"),
        (None, RuntimeError("endpoint down"), "processing_failed"),
    ],
)
def test_a_failed_image_leaves_an_error_record_and_raises(data, fail, code) -> None:
    store = DictStore({"incoming/d.png": _image() if data is None else data})
    with pytest.raises(TriggerFailure) as info:
        handle_object(
            "incoming/d.png",
            rule=TriggerRule(),
            store=store,
            backend=FixedBackend(fail=fail),
            source="s3://b/incoming/d.png",
            now=0,
        )
    record = json.loads(store.objects["errors/d.png.json"])
    assert record["source"] == "s3://b/incoming/d.png"
    assert record["error"]["code"] == info.value.code == code
    assert record["attempt_at"] == "1970-01-01T00:00:00Z"
    assert "results/d.png.txt" not in store.objects


@pytest.mark.parametrize(
    "kwargs",
    [
        {"input_prefix": "in/", "output_prefix": "in/out/"},
        {"input_prefix": "data/", "output_prefix": "results/", "error_prefix": "data/errors/"},
        {"input_prefix": ""},
        {"input_prefix": "incoming"},
        {"suffixes": ("png",)},
    ],
)
def test_overlapping_or_malformed_prefixes_are_refused(kwargs) -> None:
    with pytest.raises(ConfigError):
        TriggerRule(**kwargs)


def test_env_round_trip_and_missing_settings() -> None:
    rule = TriggerRule(
        input_prefix="scans/", output_prefix="text/", error_prefix="failed/", suffixes=(".PNG",)
    )
    assert TriggerRule.from_env(rule.to_env()) == rule
    with pytest.raises(OcrkitError, match="OCRKIT_TRIGGER_INPUT_PREFIX"):
        TriggerRule.from_env({})
