"""The SageMaker container contract: `GET /ping`, `POST /invocations`.

`/invocations` takes `image/png`, `image/jpeg`, `application/x-image`, `application/octet-stream` (raw
bytes; WebP and TIFF are recognised by content and refused with 415) or `application/json`
(`{"image": "<base64>"}`, `{"images": [...]}`), and answers `{"text", "confidence"}` (`{"results": [...]}`
for a batch), or the bare text for `Accept: text/plain`. It never fetches URLs: the gateway does that
before calling the endpoint. The same functions back `ocrkit.runtime.sagemaker_entry` (the PyTorch
container's inference.py).
"""

from __future__ import annotations

from ocrkit.gateway.handler import render
from ocrkit.gateway.inputs import ParsedInput, decode_body, parse_body
from ocrkit.gateway.limits import Limits
from ocrkit.gateway.messages import HttpResponse
from ocrkit.prediction import Prediction

INVOCATION_TYPES = (
    "image/png",
    "image/jpeg",
    "image/webp",
    "image/tiff",
    "application/x-image",
    "application/octet-stream",
    "application/json",
)


def parse_invocation(
    body: bytes | bytearray | str | None, content_type: str | None, limits: Limits
) -> ParsedInput:
    """Read an /invocations body into checked images; raises GatewayError (400/413/415/422)."""
    if body is None:
        body = b""
    if isinstance(body, str):
        body = body.encode("utf-8")
    data = decode_body(bytes(body), False, limits)
    return parse_body(data, content_type or "", limits, fetcher=None)


def render_invocation(predictions: list[Prediction], parsed: ParsedInput, accept: str | None) -> HttpResponse:
    """`{"text", "confidence"}` (or the batch form), or the bare text for `Accept: text/plain`."""
    return render(predictions, parsed, accept=accept, model=None, started=None)
