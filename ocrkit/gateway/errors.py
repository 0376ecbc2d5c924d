"""The gateway's error type and the codes that clients see in `{"error": {"code": ..., "message": ...}}`.

Every refusal is a `GatewayError` carrying the HTTP status, a stable machine-readable code and a sentence
that tells the client what to change. The table of codes lives here so that the gateway, the model server
and the platform entry points all answer with the same words.
"""

from __future__ import annotations

from enum import StrEnum

from ocrkit.errors import OcrkitError


class Code(StrEnum):
    """Stable error codes. Clients may branch on these; change them only with a version bump."""

    # 400: the request itself is malformed
    BAD_REQUEST = "bad_request"  # the HTTP message itself (request line, headers, chunked framing)
    EMPTY_BODY = "empty_body"
    BAD_JSON = "bad_json"
    BAD_BASE64 = "bad_base64"
    MISSING_FIELD = "missing_field"
    INVALID_FIELD = "invalid_field"
    NOT_AN_IMAGE = "not_an_image"
    TRUNCATED_IMAGE = "truncated_image"
    UNDECODABLE_IMAGE = "undecodable_image"
    # 404 / 405: routing
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    # 408: the request did not arrive in time (headers or body trickled too slowly)
    REQUEST_TIMEOUT = "request_timeout"
    # 413 / 414 / 431: too large
    REQUEST_TOO_LARGE = "request_too_large"
    IMAGE_TOO_LARGE = "image_too_large"
    IMAGE_TOO_MANY_PIXELS = "image_too_many_pixels"
    BATCH_TOO_LARGE = "batch_too_large"
    REQUEST_TOO_MANY_PIXELS = "request_too_many_pixels"  # all images of one request together
    URI_TOO_LONG = "uri_too_long"
    HEADERS_TOO_LARGE = "headers_too_large"
    # 415: a type we do not take
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    UNSUPPORTED_IMAGE_FORMAT = "unsupported_image_format"
    # 422: an image URL we will not or could not fetch
    URL_REFUSED = "url_refused"
    URL_FETCH_FAILED = "url_fetch_failed"
    URL_TIMEOUT = "url_timeout"
    # 5xx: our side
    INTERNAL_ERROR = "internal_error"
    BACKEND_FAILED = "backend_failed"
    MODEL_NOT_READY = "model_not_ready"
    OVERLOADED = "overloaded"  # 503 with Retry-After: the server is at its admission limit
    BACKEND_TIMEOUT = "backend_timeout"
    NOT_IMPLEMENTED = "not_implemented"  # 501: a transfer coding the server does not speak


class GatewayError(OcrkitError):
    """A request the gateway refuses, with the HTTP status and code to answer with."""

    def __init__(self, status: int, code: Code | str, message: str, *, allow: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = str(code)
        self.allow = allow  # the Allow header of a 405

    def to_json(self) -> dict:
        return {"error": {"code": self.code, "message": self.message}}


def bad_request(code: Code, message: str) -> GatewayError:
    return GatewayError(400, code, message)


def too_large(code: Code, message: str) -> GatewayError:
    return GatewayError(413, code, message)


def unsupported(code: Code, message: str) -> GatewayError:
    return GatewayError(415, code, message)


def url_error(code: Code, message: str) -> GatewayError:
    return GatewayError(422, code, message)
