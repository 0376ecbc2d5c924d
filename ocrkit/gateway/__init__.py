"""The provider-neutral request handler: inputs in, limits enforced, a backend called, answers shaped.

Standard library only: this package is zipped into the AWS Lambda and the Cloud Function as it is, and
must import where torch, numpy, OpenCV and Pillow are absent.

    from ocrkit.gateway import Gateway, HttpRequest, InProcessBackend, Limits
    gateway = Gateway(InProcessBackend(predictor), Limits.from_env())
    response = gateway.handle(HttpRequest("POST", "/predict", {"Content-Type": "image/png"}, png_bytes))
"""

from __future__ import annotations

from ocrkit.gateway.backend import (
    Backend,
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    InProcessBackend,
)
from ocrkit.gateway.errors import Code, GatewayError
from ocrkit.gateway.fetch import UrlFetcher
from ocrkit.gateway.handler import Gateway
from ocrkit.gateway.images import ImageInfo, inspect_image, sniff
from ocrkit.gateway.limits import Limits
from ocrkit.gateway.messages import Headers, HttpRequest, HttpResponse

__all__ = [
    "Backend",
    "BackendError",
    "BackendTimeout",
    "BackendUnavailable",
    "Code",
    "Gateway",
    "GatewayError",
    "Headers",
    "HttpRequest",
    "HttpResponse",
    "ImageInfo",
    "InProcessBackend",
    "Limits",
    "UrlFetcher",
    "inspect_image",
    "sniff",
]
