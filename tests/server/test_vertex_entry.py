"""The Vertex AI container entry: AIP_* settings, weights location, the app it builds."""

from __future__ import annotations

import base64
import threading

import pytest

from ocrkit.errors import OcrkitError
from ocrkit.providers.gcp import vertex_entry as entry
from tests.gateway.fakes import EchoPredictor
from tests.gateway.imagegen import make_png
from tests.gateway.realmodel import write_checkpoint
from tests.server.conftest import http_call

B64 = base64.b64encode(make_png(32, 8)).decode()
AIP = {
    "AIP_HTTP_PORT": "8081",
    "AIP_HEALTH_ROUTE": "/v1/endpoints/9/deployedModels/7",
    "AIP_PREDICT_ROUTE": "/v1/endpoints/9/deployedModels/7:predict",
}


def test_settings_from_env() -> None:
    settings = entry.VertexSettings.from_env({**AIP, "AIP_STORAGE_URI": "gs://bucket/models/ocr"})
    assert settings.port == 8081
    assert settings.routes.health == AIP["AIP_HEALTH_ROUTE"]
    assert settings.routes.predict == AIP["AIP_PREDICT_ROUTE"]
    assert settings.storage_uri == "gs://bucket/models/ocr"
    defaults = entry.VertexSettings.from_env({})
    assert (defaults.port, defaults.routes.health, defaults.routes.predict) == (
        8080,
        "/health",
        "/v1/models/ocrkit:predict",
    )


def test_weights_from_local_paths(tmp_path) -> None:
    (tmp_path / "model.pt").write_bytes(b"x")
    settings = entry.VertexSettings.from_env({"AIP_STORAGE_URI": str(tmp_path)})
    assert entry.resolve_weights(settings) == tmp_path / "model.pt"
    settings = entry.VertexSettings.from_env({"OCRKIT_WEIGHTS": str(tmp_path / "model.pt")})
    assert entry.resolve_weights(settings) == tmp_path / "model.pt"
    with pytest.raises(OcrkitError):
        entry.resolve_weights(entry.VertexSettings.from_env({}))
    with pytest.raises(OcrkitError):
        entry.resolve_weights(entry.VertexSettings.from_env({"AIP_STORAGE_URI": str(tmp_path / "none")}))


class FakeStorage:
    """Stands in for google.cloud.storage.Client: bucket(name).blob(name).download_to_filename(path)."""

    def __init__(self) -> None:
        self.requested: list[tuple[str, str]] = []

    def bucket(self, name: str):
        storage = self

        class Bucket:
            def blob(self, blob_name: str):
                class Blob:
                    def download_to_filename(self, filename: str) -> None:
                        storage.requested.append((name, blob_name))
                        with open(filename, "wb") as fh:
                            fh.write(b"weights")

                return Blob()

        return Bucket()


def test_weights_from_cloud_storage() -> None:
    storage = FakeStorage()
    settings = entry.VertexSettings.from_env({"AIP_STORAGE_URI": "gs://models-bucket/ocr/v1/"})
    path = entry.resolve_weights(settings, storage_client=storage)
    assert storage.requested == [("models-bucket", "ocr/v1/model.pt")]
    assert path.read_bytes() == b"weights"
    entry.download_gcs_weights("gs://models-bucket", storage_client=storage)
    assert storage.requested[-1] == ("models-bucket", "model.pt")


def test_built_app_serves_the_aip_routes_once_loaded(serve) -> None:
    release = threading.Event()

    def loader():
        release.wait(10)
        return EchoPredictor()

    app = entry.build_app(AIP, loader=loader)
    server = serve(app)
    assert http_call(server, "GET", AIP["AIP_HEALTH_ROUTE"]).status == 503
    release.set()
    assert app.backend.wait(10)
    assert http_call(server, "GET", AIP["AIP_HEALTH_ROUTE"]).status == 200
    reply = http_call(server, "POST", AIP["AIP_PREDICT_ROUTE"], {"instances": [{"b64": B64}]})
    assert reply.json() == {"predictions": [{"text": "png 32x8", "confidence": 0.875}]}


@pytest.mark.model
def test_built_app_loads_real_weights(tmp_path, serve) -> None:
    write_checkpoint(tmp_path / "model.pt")
    app = entry.build_app({**AIP, "AIP_STORAGE_URI": str(tmp_path), "OCRKIT_DEVICE": "cpu"})
    assert app.backend.wait(120), "model did not load"
    server = serve(app)
    b64 = base64.b64encode(make_png(120, 40)).decode()
    reply = http_call(server, "POST", AIP["AIP_PREDICT_ROUTE"], {"instances": [{"b64": b64}, b64]})
    assert reply.status == 200, reply.body
    predictions = reply.json()["predictions"]
    assert len(predictions) == 2 and predictions[0] == predictions[1]
