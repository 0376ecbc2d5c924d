"""A gateway Backend that calls a Vertex AI endpoint's `:predict` REST method. Standard library only.

Runs inside the Cloud Function. Images go base64-encoded as `{"instances": [{"b64": "..."}, ...]}` to
`{base}/v1/{endpoint}:predict`, split so that no request is over Vertex's 1.5 MB online-prediction cap;
the answer is `{"predictions": [{"text": ..., "confidence": ...}, ...]}`. `base` is
`https://{region}-aiplatform.googleapis.com`, or `OCRKIT_GCP_VERTEX_ENDPOINT` when set (tests point it at
the local model server's Vertex contract). Against Google the request carries the function's own access
token, from the metadata server; against an override it carries none.

Answers map onto the gateway's exceptions: the model's own refusal of an image (an `error` item, or a 4xx
whose message holds the model server's JSON error) -> `GatewayError` / `ImageDecodeError`; a timeout -> 504;
429 / 503 / anything else -> 502 with a message that keeps Google internals out of the client's answer.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable

from ocrkit.gateway.backend import BackendError, BackendTimeout, BackendUnavailable, check_predictions
from ocrkit.gateway.errors import Code, GatewayError
from ocrkit.prediction import ImageDecodeError, Prediction

log = logging.getLogger("ocrkit.gateway")

MAX_REQUEST = 1572864  # Vertex AI online prediction: 1.5 MB
ENVELOPE = 64
METADATA_TOKEN_URL = (
    "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token"
)
VERTEX_ENDPOINT_ENV = "OCRKIT_GCP_VERTEX_ENDPOINT"


class MetadataToken:
    """The function's service-account access token from the metadata server, cached until near expiry."""

    def __init__(self, url: str = METADATA_TOKEN_URL) -> None:
        self.url = url
        self._token: str | None = None
        self._expires = 0.0

    def __call__(self) -> str:
        if self._token is None or time.monotonic() > self._expires - 60:
            request = urllib.request.Request(self.url, headers={"Metadata-Flavor": "Google"})
            with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - metadata server
                doc = json.loads(response.read())
            self._token = str(doc["access_token"])
            self._expires = time.monotonic() + float(doc.get("expires_in", 300))
        return self._token


class VertexBackend:
    """`predict(images, timeout_s=...)` through `POST {base}/v1/{endpoint_name}:predict`."""

    def __init__(
        self,
        endpoint_name: str,
        *,
        base_url: str,
        token: Callable[[], str] | None = None,
        name: str = "ocrkit",
        max_request: int = MAX_REQUEST,
    ) -> None:
        self.endpoint_name = endpoint_name.strip("/")
        self.url = f"{base_url.rstrip('/')}/v1/{self.endpoint_name}:predict"
        self.name = name
        self.token = token
        self.max_request = max_request

    def ready(self) -> bool:
        return True

    def predict(self, images: list[bytes], *, timeout_s: float | None) -> list[Prediction]:
        images = list(images)
        out: list[Prediction] = []
        for chunk in self._chunks(images):
            out += self._call(chunk, timeout_s)
        return check_predictions(out, len(images))

    def _chunks(self, images: list[bytes]) -> list[list[bytes]]:
        chunks: list[list[bytes]] = []
        current: list[bytes] = []
        size = ENVELOPE
        for image in images:
            encoded = 4 * ((len(image) + 2) // 3) + 16
            if current and size + encoded > self.max_request:
                chunks.append(current)
                current, size = [], ENVELOPE
            current.append(image)
            size += encoded
        if current:
            chunks.append(current)
        return chunks

    def _call(self, images: list[bytes], timeout_s: float | None) -> list[Prediction]:
        body = json.dumps(
            {"instances": [{"b64": base64.b64encode(i).decode("ascii")} for i in images]}
        ).encode("utf-8")
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.token is not None:
            try:
                headers["Authorization"] = f"Bearer {self.token()}"
            except (OSError, ValueError, KeyError) as exc:
                log.error("no access token for Vertex AI: %s", exc)
                raise BackendError("the model endpoint could not be reached") from None
        request = urllib.request.Request(self.url, data=body, method="POST", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout_s or 60) as response:  # noqa: S310
                payload = response.read()
        except urllib.error.HTTPError as exc:
            raise self._http_error(exc.code, exc.read()) from None
        except TimeoutError:
            raise BackendTimeout("the model did not answer in time") from None
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError):
                raise BackendTimeout("the model did not answer in time") from None
            log.error("cannot reach %s: %s", self.url, exc.reason)
            raise BackendError("the model endpoint could not be reached") from None
        except OSError as exc:
            log.error("cannot reach %s: %s", self.url, exc)
            raise BackendError("the model endpoint could not be reached") from None
        return self._parse(payload, len(images))

    def _parse(self, payload: bytes, count: int) -> list[Prediction]:
        try:
            items = json.loads(payload)["predictions"]
            if not isinstance(items, list) or len(items) != count:
                raise ValueError("wrong number of predictions")
        except (ValueError, KeyError, TypeError):
            log.error("endpoint %s answered something that is not predictions: %r", self.url, payload[:200])
            raise BackendError("the model returned a malformed answer") from None
        out = []
        for item in items:
            if isinstance(item, dict) and isinstance(item.get("error"), dict):
                raise _model_refusal(400, item["error"])
            try:
                out.append(
                    Prediction(
                        text=str(item["text"]),
                        confidence=float(item["confidence"]),
                        char_probs=item.get("char_probs"),
                    )
                )
            except (KeyError, TypeError, ValueError):
                raise BackendError("the model returned a malformed answer") from None
        return out

    def _http_error(self, status: int, body: bytes) -> Exception:
        error = _error_doc(body)
        if 400 <= status < 500 and status not in (401, 403, 404, 429):
            inner = _error_doc(str(error.get("message") or "").encode("utf-8")) if error else {}
            own = inner if inner.get("code") else error
            if isinstance(own.get("code"), str):
                return _model_refusal(status, own)
            return GatewayError(400, Code.INVALID_FIELD, "the model refused the request")
        if status in (503,):
            return BackendUnavailable("the model is not ready yet; try again shortly")
        if status == 504 or "deadline" in str(error.get("message", "")).lower():
            return BackendTimeout("the model did not answer in time")
        log.error("Vertex :predict %s answered %s: %r", self.url, status, body[:500])
        if status == 429:
            return BackendError("the model is busy; try again shortly")
        return BackendError("the model backend failed")


def _model_refusal(status: int, error: dict) -> Exception:
    code = str(error.get("code") or "")
    text = str(error.get("message") or "the model refused the request")
    if code == Code.UNDECODABLE_IMAGE:
        return ImageDecodeError(text.removeprefix("the image could not be decoded: "))
    if code:
        return GatewayError(status if 400 <= status < 500 else 400, code, text)
    return GatewayError(400, Code.INVALID_FIELD, text)


def _error_doc(body: bytes) -> dict:
    """The `error` object of a JSON error body (Google's or the model server's); {} when there is none."""
    text = body.decode("utf-8", errors="replace")
    start = text.find("{")
    if start < 0:
        return {}
    try:
        doc, _ = json.JSONDecoder().raw_decode(text[start:])
    except ValueError:
        return {}
    error = doc.get("error") if isinstance(doc, dict) else None
    return error if isinstance(error, dict) else {}


def from_environment(environ: dict[str, str] | None = None) -> VertexBackend:
    env = os.environ if environ is None else environ
    endpoint = (env.get("OCRKIT_VERTEX_ENDPOINT_NAME") or "").strip()
    if not endpoint:
        raise BackendError("the function is not configured: OCRKIT_VERTEX_ENDPOINT_NAME is not set")
    override = (env.get(VERTEX_ENDPOINT_ENV) or "").strip()
    if override:
        return VertexBackend(
            endpoint, base_url=override, token=None, name=env.get("OCRKIT_MODEL_NAME") or "ocrkit"
        )
    region = (env.get("OCRKIT_GCP_REGION") or "").strip() or endpoint.split("/")[3]
    return VertexBackend(
        endpoint,
        base_url=f"https://{region}-aiplatform.googleapis.com",
        token=MetadataToken(),
        name=env.get("OCRKIT_MODEL_NAME") or "ocrkit",
    )
