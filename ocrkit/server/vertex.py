"""The Vertex AI custom-container contract.

Vertex sets `AIP_HTTP_PORT`, `AIP_HEALTH_ROUTE` and `AIP_PREDICT_ROUTE` in the container's environment.
When they are unset (running the container by hand) the routes default to `/health` and
`/v1/models/ocrkit:predict` (TF-Serving style), so that they never collide with the gateway's `/predict`;
the port defaults to 8080, Vertex's own default.

Request: `{"instances": [{"b64": "..."}, ...], "parameters": {"char_probs": false}}`; an instance may also
be `{"image": {"b64": "..."}}`, `{"image": "<base64>"}` or a bare base64 string.
Answer: `{"predictions": [{"text": ..., "confidence": ...}, ...]}`, errors as `{"error": {...}}`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from ocrkit.gateway.errors import Code, bad_request, too_large
from ocrkit.gateway.inputs import ParsedInput, check_request_pixels, read_item
from ocrkit.gateway.limits import Limits
from ocrkit.gateway.messages import HttpResponse
from ocrkit.gateway.responses import json_response
from ocrkit.prediction import Prediction

DEFAULT_HEALTH_ROUTE = "/health"
DEFAULT_PREDICT_ROUTE = "/v1/models/ocrkit:predict"
DEFAULT_PORT = 8080


@dataclass(frozen=True)
class VertexRoutes:
    health: str = DEFAULT_HEALTH_ROUTE
    predict: str = DEFAULT_PREDICT_ROUTE
    port: int = DEFAULT_PORT

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> VertexRoutes:
        env = os.environ if environ is None else environ
        port_text = (env.get("AIP_HTTP_PORT") or "").strip()
        try:
            port = int(port_text) if port_text else DEFAULT_PORT
        except ValueError:
            port = DEFAULT_PORT
        return cls(
            health=(env.get("AIP_HEALTH_ROUTE") or "").strip() or DEFAULT_HEALTH_ROUTE,
            predict=(env.get("AIP_PREDICT_ROUTE") or "").strip() or DEFAULT_PREDICT_ROUTE,
            port=port,
        )


def is_vertex_document(doc: object) -> bool:
    return isinstance(doc, dict) and "instances" in doc


def parse_instances(doc: object, limits: Limits) -> ParsedInput:
    """Read a Vertex prediction request into checked images; raises GatewayError."""
    if not isinstance(doc, dict):
        raise bad_request(Code.BAD_JSON, 'the body must be a JSON object {"instances": [...]}')
    if "instances" not in doc:
        raise bad_request(Code.MISSING_FIELD, 'the body needs "instances": a list of {"b64": "<base64>"}')
    instances = doc["instances"]
    if not isinstance(instances, list):
        raise bad_request(Code.INVALID_FIELD, "field 'instances' must be a list")
    if not instances:
        raise bad_request(Code.INVALID_FIELD, "field 'instances' is an empty list")
    if len(instances) > limits.max_batch:
        raise too_large(
            Code.BATCH_TOO_LARGE,
            f"{len(instances)} instances in one request; the limit is {limits.max_batch}",
        )
    parameters = doc.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise bad_request(Code.INVALID_FIELD, "field 'parameters' must be an object")
    char_probs = parameters.get("char_probs", False)
    if not isinstance(char_probs, bool):
        raise bad_request(Code.INVALID_FIELD, "field 'parameters.char_probs' must be true or false")
    images = [read_item(item, f"instances[{i}]", limits, None) for i, item in enumerate(instances)]
    check_request_pixels(images, limits)
    return ParsedInput(images, batch=True, char_probs=char_probs)


def render_predictions(predictions: list[Prediction], parsed: ParsedInput) -> HttpResponse:
    return json_response(
        200, {"predictions": [p.to_json(with_char_probs=parsed.char_probs) for p in predictions]}
    )
