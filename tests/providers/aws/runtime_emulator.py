"""A stand-in for the SageMaker runtime on 127.0.0.1: `POST /endpoints/{name}/invocations` answered by the
real model server (ocrkit.server.app), with SageMaker's own error shapes.

moto's sagemaker-runtime never runs a model (and fails on binary bodies), so the Lambda's runtime client is
pointed here (AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME). As on AWS:

- the container's 2xx answer is passed through (Content-Type included);
- a container 4xx/5xx becomes HTTP 424 `ModelError` with `OriginalStatusCode` and `OriginalMessage`;
- an unknown endpoint is HTTP 400 `ValidationError` ("Endpoint ... not found").

`delays` makes an endpoint slow (seconds before it answers), for the timeout path.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field

from ocrkit.gateway.messages import HttpRequest
from ocrkit.server.app import ServerApp

ROUTE = re.compile(r"^/endpoints/([^/]+)/invocations$")
ACCOUNT = "123456789012"


@dataclass
class RuntimeEmulator:
    endpoints: dict[str, ServerApp]
    delays: dict[str, float] = field(default_factory=dict)
    seen: list[dict] = field(default_factory=list)

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        match = ROUTE.match(path)
        if environ.get("REQUEST_METHOD") != "POST" or not match:
            return self._error(start_response, 404, "UnknownOperationException", "no such route")
        name = match.group(1)
        headers = {
            "Content-Type": environ.get("CONTENT_TYPE", ""),
            "Accept": environ.get("HTTP_ACCEPT", "application/json"),
        }
        self.seen.append({"endpoint": name, "content_type": headers["Content-Type"], "bytes": len(body)})
        app = self.endpoints.get(name)
        if app is None:
            message = f"Endpoint {name} of account {ACCOUNT} not found."
            return self._error(start_response, 400, "ValidationError", message)
        time.sleep(self.delays.get(name, 0))
        response = app.handle(HttpRequest("POST", "/invocations", headers, body))
        if response.status < 300:
            start_response(
                "200 OK",
                [
                    ("Content-Type", response.content_type or "application/json"),
                    ("x-Amzn-Invoked-Production-Variant", "AllTraffic"),
                ],
            )
            return [response.body]
        original = response.body.decode("utf-8", errors="replace")
        kind = "client" if response.status < 500 else "server"
        doc = {
            "ErrorCode": f"{kind.upper()}_ERROR_FROM_MODEL",
            "LogStreamArn": f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/aws/sagemaker/Endpoints/{name}",
            "Message": f'Received {kind} error ({response.status}) from primary with message "{original}". '
            f"See https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#logEventViewer:"
            f"group=/aws/sagemaker/Endpoints/{name} in account {ACCOUNT} for more information.",
            "OriginalMessage": original,
            "OriginalStatusCode": response.status,
        }
        return self._send(start_response, 424, "ModelError", doc)

    def _error(self, start_response, status: int, code: str, message: str):
        return self._send(start_response, status, code, {"message": message})

    @staticmethod
    def _send(start_response, status: int, code: str, doc: dict):
        reason = {400: "Bad Request", 404: "Not Found", 424: "Failed Dependency"}.get(status, "Error")
        start_response(
            f"{status} {reason}",
            [
                ("Content-Type", "application/json"),
                ("x-amzn-ErrorType", f"{code}:http://internal.amazon.com/coral/"),
            ],
        )
        return [json.dumps(doc).encode()]
