"""`GET /openapi.json`: the HTTP contract as an OpenAPI 3.1 document, built from the running server.

The paths come from the server's own route table (so a route cannot be documented and missing, or
served and undocumented), the error codes from `ocrkit.gateway.errors.Code`, and the limits from the
server's `Limits`. Standard library only.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

from ocrkit.gateway.errors import Code
from ocrkit.gateway.limits import Limits

OPENAPI_VERSION = "3.1.0"

# The status each error code is answered with.
_BY_STATUS: dict[int, tuple[Code, ...]] = {
    400: (
        Code.BAD_REQUEST,
        Code.EMPTY_BODY,
        Code.BAD_JSON,
        Code.BAD_BASE64,
        Code.MISSING_FIELD,
        Code.INVALID_FIELD,
        Code.NOT_AN_IMAGE,
        Code.TRUNCATED_IMAGE,
        Code.UNDECODABLE_IMAGE,
    ),
    404: (Code.NOT_FOUND,),
    405: (Code.METHOD_NOT_ALLOWED,),
    408: (Code.REQUEST_TIMEOUT,),
    413: (
        Code.REQUEST_TOO_LARGE,
        Code.IMAGE_TOO_LARGE,
        Code.IMAGE_TOO_MANY_PIXELS,
        Code.BATCH_TOO_LARGE,
        Code.REQUEST_TOO_MANY_PIXELS,
    ),
    414: (Code.URI_TOO_LONG,),
    415: (Code.UNSUPPORTED_MEDIA_TYPE, Code.UNSUPPORTED_IMAGE_FORMAT),
    422: (Code.URL_REFUSED, Code.URL_FETCH_FAILED, Code.URL_TIMEOUT),
    431: (Code.HEADERS_TOO_LARGE,),
    500: (Code.INTERNAL_ERROR,),
    501: (Code.NOT_IMPLEMENTED,),
    502: (Code.BACKEND_FAILED,),
    503: (Code.MODEL_NOT_READY, Code.OVERLOADED),
    504: (Code.BACKEND_TIMEOUT,),
}
_POST_STATUSES = (400, 408, 413, 415, 422, 503, 504, 502)


def error_codes() -> dict[int, tuple[str, ...]]:
    return {status: tuple(str(c) for c in codes) for status, codes in _BY_STATUS.items()}


_URL = {"type": "string", "format": "uri"}
_TEXT = {"type": "string"}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _error(status: int) -> dict:
    codes = ", ".join(f"`{c}`" for c in error_codes()[status])
    out: dict = {
        "description": f"Error: {codes}.",
        "content": {"application/json": {"schema": _ref("Error")}},
    }
    if status == 503:
        out["headers"] = {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}}
    return out


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _schemas(limits: Limits) -> dict:
    prediction = {
        "type": "object",
        "required": ["text", "confidence"],
        "properties": {
            "text": {"type": "string", "description": "The recognised text."},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
            "char_probs": {"type": "array", "items": {"type": "number"}, "description": "With char_probs."},
        },
    }
    base64_image = {"type": "string", "description": "Base64 (standard or URL-safe) or a data: URL."}
    item = {
        "oneOf": [
            base64_image,
            {"type": "object", "required": ["image"], "properties": {"image": base64_image}},
            {
                "type": "object",
                "required": ["url"],
                "properties": {"url": {"type": "string", "format": "uri"}},
            },
            {"type": "object", "required": ["b64"], "properties": {"b64": base64_image}},
        ]
    }
    char_probs = {"type": "boolean", "default": False, "description": "Add per-character probabilities."}
    return {
        "Prediction": prediction,
        "Answer": {
            "allOf": [_ref("Prediction")],
            "properties": {"model": {"type": "string"}, "latency_ms": {"type": "number"}},
        },
        "BatchAnswer": {
            "type": "object",
            "required": ["results"],
            "properties": {
                "results": {"type": "array", "items": _ref("Prediction")},
                "model": {"type": "string"},
                "latency_ms": {"type": "number"},
            },
        },
        "JsonRequest": {
            "type": "object",
            "description": 'Exactly one of "image", "url" or "images".',
            "properties": {
                "image": base64_image,
                "url": {"type": "string", "format": "uri", "description": "https only; public addresses."},
                "images": {"type": "array", "items": item, "minItems": 1, "maxItems": limits.max_batch},
                "char_probs": char_probs,
            },
        },
        "FormRequest": {
            "type": "object",
            "required": ["image"],
            "properties": {
                "image": {
                    "type": "array",
                    "items": {"type": "string", "contentMediaType": "image/png"},
                    "maxItems": limits.max_batch,
                    "description": "One file part per image (curl -F image=@crop.png); several make a batch.",
                },
                "char_probs": {"type": "string", "enum": ["true", "false"]},
            },
        },
        "VertexRequest": {
            "type": "object",
            "required": ["instances"],
            "properties": {
                "instances": {"type": "array", "items": item, "minItems": 1, "maxItems": limits.max_batch},
                "parameters": {"type": "object", "properties": {"char_probs": char_probs}},
            },
        },
        "VertexAnswer": {
            "type": "object",
            "required": ["predictions"],
            "properties": {"predictions": {"type": "array", "items": _ref("Prediction")}},
        },
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {
                        "code": {"type": "string", "enum": sorted(str(c) for c in Code)},
                        "message": {"type": "string"},
                    },
                }
            },
        },
        "Health": {
            "type": "object",
            "properties": {
                "status": {"type": "string"},
                "model": {"type": "string"},
                "ready": {"type": "boolean"},
            },
        },
    }


def _image_body(limits: Limits, *, json_too: bool = True, form: bool = True) -> dict:
    raw = {"schema": {"type": "string", "contentMediaType": "image/png"}}
    content: dict = {
        "image/png": raw,
        "image/jpeg": {"schema": {"type": "string", "contentMediaType": "image/jpeg"}},
        "application/octet-stream": {"schema": {"type": "string", "description": "PNG or JPEG bytes."}},
    }
    if json_too:
        content["application/json"] = {"schema": _ref("JsonRequest")}
    if form:
        content["multipart/form-data"] = {"schema": _ref("FormRequest")}
    return {
        "required": True,
        "description": (
            f"PNG or JPEG, recognised by content; at most {limits.max_request_bytes:,} bytes per request, "
            f"{limits.max_image_bytes:,} bytes and {limits.max_pixels:,} pixels per image, "
            f"{limits.max_request_pixels:,} pixels and {limits.max_batch} images per request."
        ),
        "content": content,
    }


def _predict_op(limits: Limits, summary: str, *, urls: bool) -> dict:
    responses = {
        "200": {
            "description": "The recognised text (JSON, or the bare text with Accept: text/plain).",
            "content": {
                "application/json": {"schema": {"oneOf": [_ref("Answer"), _ref("BatchAnswer")]}},
                "text/plain": {"schema": {"type": "string"}},
            },
        }
    }
    for status in _POST_STATUSES:
        responses[str(status)] = _error(status)
    description = "Image URLs are fetched (https, public addresses only)." if urls else "No URL input."
    return {
        "summary": summary,
        "description": description,
        "requestBody": _image_body(limits),
        "responses": responses,
    }


def build_spec(
    routes: Mapping[str, tuple[str, ...]],
    limits: Limits,
    *,
    vertex_predict: str,
    vertex_health: str,
    title: str = "ocrkit",
    version: str = "1",
) -> dict:
    """The document for a server whose route table is `routes` ({path: methods})."""
    described: dict[tuple[str, str], dict] = {
        ("/predict", "POST"): _predict_op(limits, "Read the text in one image, or a batch", urls=True),
        ("/invocations", "POST"): _predict_op(limits, "SageMaker inference contract", urls=False),
        ("/ping", "GET"): _json(_ref("Health"), "SageMaker health: 200 once the model is loaded, else 503."),
        ("/healthz", "GET"): _json(_ref("Health"), "Liveness: 200 while the process serves."),
        ("/metrics", "GET"): {
            "description": "Prometheus metrics (text format).",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        },
        ("/openapi.json", "GET"): _json({"type": "object"}, "This document."),
        ("/samples.json", "GET"): _json(
            {"type": "array", "items": {"type": "object"}}, "The sample images shipped with ocrkit."
        ),
        ("/", "GET"): {
            "description": "The web page.",
            "content": {"text/html": {"schema": {"type": "string"}}},
        },
        ("/static/{name}", "GET"): {"description": "The web page's files and the sample images."},
    }
    paths: dict[str, dict] = {}
    for path, methods in sorted(routes.items()):
        for method in methods:
            key = (path, method)
            if path == vertex_predict and method == "POST":
                summary = "Vertex AI prediction ({instances} or the /predict contract)"
                op = copy.deepcopy(described.get(key)) or _predict_op(limits, summary, urls=False)
                op["requestBody"]["content"]["application/json"] = {
                    "schema": {"oneOf": [_ref("VertexRequest"), _ref("JsonRequest")]}
                }
                op["responses"]["200"]["content"]["application/json"]["schema"]["oneOf"].append(
                    _ref("VertexAnswer")
                )
            elif key in described and "summary" in described[key]:
                op = described[key]
            elif key in described:
                op = {"responses": {"200": described[key]}}
            elif path == vertex_health:
                op = {"responses": {"200": _json(_ref("Health"), "Vertex AI health.")}}
            else:
                op = {"responses": {"200": {"description": "OK"}}}
            op = dict(op)
            if method == "GET" and path in ("/ping", vertex_health):
                op["responses"] = {**op["responses"], "503": _error(503)}
            if path == "/static/{name}":
                op["parameters"] = [
                    {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
                ]
                op["responses"] = {"200": described[key], "404": _error(404)}
            op.setdefault("operationId", f"{method.lower()}_{_slug(path)}")
            paths.setdefault(path, {})[method.lower()] = op
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": title,
            "version": version,
            "description": (
                "Read a line of handwritten Cyrillic text from an image. The same contract on AWS, GCP "
                'and this machine. Errors are JSON {"error": {"code", "message"}}.'
            ),
        },
        "paths": paths,
        "components": {"schemas": _schemas(limits)},
    }


def _slug(path: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in path).strip("_") or "root"
