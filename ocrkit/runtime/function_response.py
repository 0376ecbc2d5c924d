"""What the HTTP Cloud Function entries share when they cannot start: the 500 JSON answer (the details go
to the function's log). The backends they build are ocrkit.runtime.vertex_backend (the endpoint options)
and ocrkit.runtime.onnx_backend (serving: function), each a module of its own: a function source is
bundled from the modules its entry imports, and one option's source must not carry the other's code."""

from __future__ import annotations

import json


def internal_error(message: str) -> tuple[bytes, int, dict[str, str]]:
    body = {"error": {"code": "internal_error", "message": message}}
    return json.dumps(body).encode(), 500, {"Content-Type": "application/json; charset=utf-8"}
