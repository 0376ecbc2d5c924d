"""The TorchServe handler under TorchServe's own Python worker code (`ts`, from the torchserve package):
the archive is built and unpacked, the handler loaded by `ts.model_loader.TsModelLoader` (with and without
the JSON service envelope), and batches of N requests -- framed as the Java frontend frames them and read
back with `ts.protocol.otf_message_handler` -- go through `ts.service.Service`'s path to the handler.
Each batch must answer N rows, in order, with the text the in-process predictor reads, in one model call."""

from __future__ import annotations

import base64
import json
import sys
import zipfile
from pathlib import Path

import pytest

from ocrkit.providers.gcp import package
from tests.runtime.shipped import DEMO, Counting, samples
from tests.runtime.tsframes import Request, read_batch, vertex_request

pytestmark = [pytest.mark.model, pytest.mark.slow]
pytest.importorskip("ts.service", reason="needs the torchserve package (the dev extra)")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("mar")
    built = package.build_mar(DEMO, out / "model.mar", package.Batching(4, 50))
    folder = out / "model"
    with zipfile.ZipFile(built.path) as zf:
        zf.extractall(folder)
    return folder


@pytest.fixture(scope="module")
def expected() -> dict[str, str]:
    from ocrkit.core_model.predictor import TorchPredictor

    predictor = TorchPredictor.from_weights(str(DEMO), device="cpu")
    items = samples()
    return {
        n: p.text
        for (n, _, _), p in zip(items, predictor.predict_images([d for _, d, _ in items]), strict=True)
    }


def load(model_dir: Path, envelope: str | None, monkeypatch):
    from ts.model_loader import ModelLoaderFactory

    monkeypatch.setenv("OCRKIT_DEVICE", "cpu")
    monkeypatch.syspath_prepend(str(model_dir))  # what the worker does with the model's folder
    sys.modules.pop("ocrkit_handler", None)
    manifest = json.loads((model_dir / "MAR-INF" / "MANIFEST.json").read_text())
    loader = ModelLoaderFactory.get_model_loader()
    service = loader.load(
        "model", str(model_dir), manifest["model"]["handler"], None, 4, envelope, True, None
    )
    handler = sys.modules["ocrkit_handler"]
    counting = Counting(handler._state["predictor"])
    monkeypatch.setitem(handler._state, "predictor", counting)
    return service, counting


def run(service, requests: list[Request]) -> list:
    """Service.predict's path: the worker's rows and request headers, then the entry point."""
    from ts.service import Service

    headers, rows, ids = Service.retrieve_data_for_inference(read_batch(requests))
    service.context.request_ids, service.context.request_processor = ids, headers
    answers = service._entry_point(rows, service.context)
    return [json.loads(a) if isinstance(a, str) else a for a in answers]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_the_archive_asks_torchserve_to_batch(model_dir: Path) -> None:
    manifest = json.loads((model_dir / "MAR-INF" / "MANIFEST.json").read_text())
    assert manifest["model"]["configFile"] == "model-config.yaml"
    import yaml

    config = yaml.safe_load((model_dir / "model-config.yaml").read_text())
    assert config == {"batchSize": 4, "maxBatchDelay": 50}


@pytest.mark.parametrize("envelope", ["json", None])
def test_a_batch_of_requests_is_answered_in_order_in_one_model_call(
    model_dir, expected, envelope, monkeypatch
) -> None:
    service, counting = load(model_dir, envelope, monkeypatch)
    items = samples()
    for start in range(0, len(items), 4):  # three TorchServe batches of 4 requests each
        chunk = items[start : start + 4]
        requests = [vertex_request({"b64": b64(data)}) for _, data, _ in chunk]
        answers = run(service, requests)
        assert len(answers) == len(chunk)
        assert [a["predictions"][0]["text"] for a in answers] == [expected[n] for n, _, _ in chunk]
    assert counting.calls == [4, 4, 4]  # every request of a batch in one call, not one call per request
    right = sum(expected[n] == label for n, _, label in items)
    assert right >= 10  # the demo checkpoint reads 10 of the 12 samples exactly


@pytest.mark.parametrize("envelope", ["json", None])
def test_requests_with_several_instances_and_a_bad_one(model_dir, expected, envelope, monkeypatch) -> None:
    service, counting = load(model_dir, envelope, monkeypatch)
    (n1, d1, _), (n2, d2, _), (n3, d3, _) = samples()[:3]
    answers = run(
        service,
        [
            vertex_request({"b64": b64(d1)}, {"b64": b64(d2)}),
            vertex_request({"b64": b64(b"not an image at all")}),
            vertex_request({"b64": b64(d3)}),
        ],
    )
    assert [p["text"] for p in answers[0]["predictions"]] == [expected[n1], expected[n2]]
    assert answers[1]["predictions"][0]["error"]["code"] == "not_an_image"
    assert answers[2]["predictions"][0]["text"] == expected[n3]
    assert counting.calls == [3]  # the bad image was refused before the model ran


def test_raw_image_requests_without_the_envelope(model_dir, expected, monkeypatch) -> None:
    service, counting = load(model_dir, None, monkeypatch)
    items = samples()[:4]
    answers = run(service, [Request(data, "image/jpeg") for _, data, _ in items])
    assert [a["text"] for a in answers] == [expected[n] for n, _, _ in items]
    assert counting.calls == [4]
