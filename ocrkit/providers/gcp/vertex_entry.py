"""The Vertex AI custom container's entry: read the `AIP_*` environment and build the model server app.

Vertex sets, among others:

- `AIP_HTTP_PORT` (default 8080): the port to listen on;
- `AIP_HEALTH_ROUTE`, `AIP_PREDICT_ROUTE`: the routes it will call (defaults in ocrkit.server.vertex);
- `AIP_STORAGE_URI`: a `gs://` prefix holding a copy of the model artifacts (`model.pt`).

`OCRKIT_WEIGHTS` (a local file) overrides `AIP_STORAGE_URI`; a local directory in `AIP_STORAGE_URI` is
also accepted (running the container by hand). The model loads in the background, so the health route
answers 503 until it is ready. torch is imported only when the model loads, not when this module does.

Serving the app (gunicorn on `0.0.0.0:$AIP_HTTP_PORT`) is configured with the container image.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ocrkit.errors import OcrkitError
from ocrkit.gateway.limits import Limits
from ocrkit.prediction import Predictor
from ocrkit.server.app import ServerApp, create_app
from ocrkit.server.loading import LoadingBackend
from ocrkit.server.vertex import VertexRoutes

WEIGHTS_NAME = "model.pt"


@dataclass(frozen=True)
class VertexSettings:
    routes: VertexRoutes
    storage_uri: str | None = None
    weights: str | None = None
    host: str = "0.0.0.0"

    @property
    def port(self) -> int:
        return self.routes.port

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> VertexSettings:
        env = os.environ if environ is None else environ
        return cls(
            routes=VertexRoutes.from_env(env),
            storage_uri=(env.get("AIP_STORAGE_URI") or "").strip() or None,
            weights=(env.get("OCRKIT_WEIGHTS") or "").strip() or None,
        )


def resolve_weights(settings: VertexSettings, *, storage_client: object | None = None) -> Path:
    """A local path to model.pt: OCRKIT_WEIGHTS, a local AIP_STORAGE_URI, or a download from gs://."""
    if settings.weights:
        path = Path(settings.weights)
        if not path.is_file():
            raise OcrkitError(f"OCRKIT_WEIGHTS={settings.weights} is not a file")
        return path
    uri = settings.storage_uri
    if not uri:
        raise OcrkitError("no model location: set AIP_STORAGE_URI (Vertex sets it) or OCRKIT_WEIGHTS")
    if uri.startswith("gs://"):
        return download_gcs_weights(uri, storage_client=storage_client)
    path = Path(uri)
    candidate = path / WEIGHTS_NAME if path.is_dir() else path
    if not candidate.is_file():
        raise OcrkitError(f"no {WEIGHTS_NAME} at {uri}")
    return candidate


def download_gcs_weights(
    uri: str, *, storage_client: object | None = None, dest_dir: str | None = None
) -> Path:
    """Copy `<uri>/model.pt` from Cloud Storage to a local temporary directory."""
    bucket_name, _, prefix = uri[len("gs://") :].partition("/")
    if not bucket_name:
        raise OcrkitError(f"AIP_STORAGE_URI={uri} names no bucket")
    blob_name = f"{prefix.rstrip('/')}/{WEIGHTS_NAME}" if prefix.strip("/") else WEIGHTS_NAME
    if storage_client is None:
        from google.cloud import storage  # only in the container that needs it

        storage_client = storage.Client()
    target = Path(dest_dir or tempfile.mkdtemp(prefix="ocrkit-model-")) / WEIGHTS_NAME
    blob = storage_client.bucket(bucket_name).blob(blob_name)  # type: ignore[attr-defined]
    blob.download_to_filename(str(target))
    return target


def load_predictor(weights: Path, environ: Mapping[str, str] | None = None) -> Predictor:
    from ocrkit.core_model.predictor import TorchPredictor  # torch is imported only here

    env = os.environ if environ is None else environ
    return TorchPredictor.from_weights(
        str(weights),
        device=env.get("OCRKIT_DEVICE") or None,
        quantize=env.get("OCRKIT_QUANTIZE") or "none",
        batch_size=int(env.get("OCRKIT_BATCH_SIZE") or 32),
    )


def build_app(
    environ: Mapping[str, str] | None = None,
    *,
    loader: Callable[[], object] | None = None,
    storage_client: object | None = None,
) -> ServerApp:
    """The WSGI app for the Vertex container; the model loads in a background thread."""
    env = dict(os.environ if environ is None else environ)
    settings = VertexSettings.from_env(env)
    if loader is None:

        def loader() -> object:
            return load_predictor(resolve_weights(settings, storage_client=storage_client), env)

    backend = LoadingBackend(loader, name=env.get("OCRKIT_MODEL_NAME") or "ocrkit")
    limits = Limits.from_env(env)
    return create_app(backend, limits, vertex=settings.routes)
