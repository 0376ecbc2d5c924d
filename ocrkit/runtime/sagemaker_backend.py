"""A gateway Backend that calls a SageMaker real-time endpoint (`sagemaker-runtime.invoke_endpoint`).

Runs inside the Lambda, where boto3 comes with the runtime; imports nothing but the standard library,
botocore/boto3 (lazily) and the gateway. One image goes as its raw bytes with its own Content-Type
(`image/png`, ...); several go as one `application/json` `{"images": [<base64>, ...]}` request, split so that
no request is over SageMaker's 6 MB payload limit. Answers map onto the gateway's exceptions:

- the model server's own 4xx (SageMaker's `ModelError` carries `OriginalStatusCode` and the JSON error body)
  -> `GatewayError` with that status and code, or `ImageDecodeError` for an undecodable image;
- a read timeout (`invocation_timeout_s`), or SageMaker's own timeout -> `BackendTimeout` (504);
- throttling, a missing endpoint, a 5xx, anything else -> `BackendError` (502), with a message that keeps
  AWS internals out of the client's answer (they go to the function's log).
"""

from __future__ import annotations

import base64
import json
import logging
import os
from typing import Any

from ocrkit.gateway.backend import BackendError, BackendTimeout, check_predictions
from ocrkit.gateway.errors import Code, GatewayError
from ocrkit.gateway.images import sniff
from ocrkit.prediction import ImageDecodeError, Prediction

log = logging.getLogger("ocrkit.gateway")

MAX_PAYLOAD = 6 * 1024 * 1024
CONTENT_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp", "tiff": "image/tiff"}
THROTTLED = {"ThrottlingException", "TooManyRequestsException", "ServiceUnavailable"}


class SageMakerBackend:
    """`predict(images, timeout_s=...)` through `invoke_endpoint` on endpoint `endpoint_name`."""

    def __init__(
        self,
        endpoint_name: str,
        *,
        client: Any = None,
        region: str | None = None,
        endpoint_url: str | None = None,
        name: str | None = None,
        max_payload: int = MAX_PAYLOAD,
    ) -> None:
        self.endpoint_name = endpoint_name
        self.name = name or endpoint_name
        self.max_payload = max_payload
        self._client = client
        self._region = region
        self._endpoint_url = endpoint_url
        self._clients: dict[int, Any] = {}

    def ready(self) -> bool:
        return True

    def _runtime(self, timeout_s: float | None) -> Any:
        """A runtime client whose read timeout is the request's deadline (rounded up to whole seconds)."""
        if self._client is not None:
            return self._client
        seconds = max(1, int(-(-(timeout_s or 60) // 1)))
        if seconds not in self._clients:
            import boto3
            from botocore.config import Config

            config = Config(
                read_timeout=seconds,
                connect_timeout=min(5, seconds),
                retries={"max_attempts": 1, "mode": "standard"},  # the deadline leaves no time to retry
            )
            self._clients[seconds] = boto3.client(
                "sagemaker-runtime", region_name=self._region, endpoint_url=self._endpoint_url, config=config
            )
        return self._clients[seconds]

    def predict(self, images: list[bytes], *, timeout_s: float | None) -> list[Prediction]:
        images = list(images)
        out: list[Prediction] = []
        for chunk in self._chunks(images):
            out += self._invoke(chunk, timeout_s)
        return check_predictions(out, len(images))

    def _chunks(self, images: list[bytes]) -> list[list[bytes]]:
        if len(images) == 1:
            return [images]
        chunks: list[list[bytes]] = []
        current: list[bytes] = []
        size = 16
        for image in images:
            encoded = 4 * ((len(image) + 2) // 3) + 4
            if current and size + encoded > self.max_payload:
                chunks.append(current)
                current, size = [], 16
            current.append(image)
            size += encoded
        if current:
            chunks.append(current)
        return chunks

    def _invoke(self, images: list[bytes], timeout_s: float | None) -> list[Prediction]:
        if len(images) == 1:
            kind = sniff(images[0])
            body = images[0]
            content_type = CONTENT_TYPES.get(kind or "", "application/octet-stream")
        else:
            body = json.dumps({"images": [base64.b64encode(i).decode("ascii") for i in images]}).encode()
            content_type = "application/json"
        try:
            response = self._runtime(timeout_s).invoke_endpoint(
                EndpointName=self.endpoint_name,
                ContentType=content_type,
                Accept="application/json",
                Body=body,
            )
            payload = response["Body"].read()
        except Exception as exc:
            raise self._map_error(exc) from None
        return self._parse(payload, len(images))

    def _parse(self, payload: bytes, count: int) -> list[Prediction]:
        try:
            doc = json.loads(payload)
            items = doc["results"] if count > 1 else [doc]
            return [
                Prediction(
                    text=str(item["text"]),
                    confidence=float(item["confidence"]),
                    char_probs=item.get("char_probs"),
                )
                for item in items
            ]
        except (ValueError, KeyError, TypeError):
            log.error(
                "endpoint %s answered something that is not a prediction: %r",
                self.endpoint_name,
                payload[:200],
            )
            raise BackendError("the model returned a malformed answer") from None

    def _map_error(self, exc: BaseException) -> Exception:
        try:
            from botocore import exceptions as bx
        except ImportError:  # pragma: no cover - boto3 is in every Lambda runtime
            return BackendError("the model backend failed")
        if isinstance(exc, bx.ReadTimeoutError):
            return BackendTimeout("the model did not answer in time")
        if isinstance(exc, bx.ConnectTimeoutError | bx.EndpointConnectionError):
            log.error("cannot reach SageMaker runtime: %s", exc)
            return BackendError("the model endpoint could not be reached")
        if isinstance(exc, bx.ClientError):
            error = exc.response.get("Error") or {}
            code = str(error.get("Code") or "")
            message = str(error.get("Message") or "")
            if code == "ModelError":
                return self._model_error(exc.response, message)
            if code in ("ModelNotReadyException",):
                from ocrkit.gateway.backend import BackendUnavailable

                return BackendUnavailable("the model is not ready yet; try again shortly")
            if "timed out" in message.lower() or code in ("ModelTimeout", "RequestTimeout"):
                return BackendTimeout("the model did not answer in time")
            if code in THROTTLED:
                log.warning("endpoint %s throttled: %s", self.endpoint_name, message)
                return BackendError("the model is busy; try again shortly")
            log.error("invoke_endpoint %s failed: %s: %s", self.endpoint_name, code, message)
            return BackendError("the model backend failed")
        log.error("invoke_endpoint %s failed", self.endpoint_name, exc_info=exc)
        return BackendError("the model backend failed")

    def _model_error(self, response: dict, message: str) -> Exception:
        """SageMaker's ModelError: the container answered non-2xx; its status and body come along."""
        status = int(response.get("OriginalStatusCode") or 0)
        body = response.get("OriginalMessage") or message
        code, text = _error_body(body)
        if 400 <= status < 500:
            if code == Code.UNDECODABLE_IMAGE:
                return ImageDecodeError(text.removeprefix("the image could not be decoded: "))
            if code:
                return GatewayError(status, code, text)
            return GatewayError(400, Code.INVALID_FIELD, "the model refused the request")
        if "timed out" in str(body).lower() or status == 504:
            return BackendTimeout("the model did not answer in time")
        log.error("endpoint %s model error %s: %s", self.endpoint_name, status, str(body)[:500])
        return BackendError("the model failed on this request")


def _error_body(body: Any) -> tuple[str, str]:
    """(code, message) from the model server's JSON error body (it may be followed by a stack trace)."""
    text = body if isinstance(body, str) else str(body)
    start = text.find("{")
    if start < 0:
        return "", ""
    try:
        doc, _ = json.JSONDecoder().raw_decode(text[start:])
        error = doc.get("error") or {}
        return str(error.get("code") or ""), str(error.get("message") or "")
    except (ValueError, AttributeError):
        return "", ""


def from_environment(environ: dict[str, str] | None = None) -> SageMakerBackend:
    env = os.environ if environ is None else environ
    endpoint = env.get("OCRKIT_ENDPOINT_NAME", "").strip()
    if not endpoint:
        raise BackendError("the function is not configured: OCRKIT_ENDPOINT_NAME is not set")
    return SageMakerBackend(
        endpoint,
        region=env.get("AWS_REGION") or None,  # AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME is read by botocore
        name=env.get("OCRKIT_MODEL_NAME") or "ocrkit",
    )
