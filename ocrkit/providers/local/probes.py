"""HTTP probes of a local server: wait until `GET /ping` answers (showing the log's end when it dies),
read `/healthz`, and POST an image to `/predict`."""

from __future__ import annotations

import http.client
import json
import subprocess
import time
from pathlib import Path

from ocrkit.deploy.records import Events, InvokeResult
from ocrkit.errors import OcrkitError

LOG_TAIL_LINES = 25


def tail(path: Path, offset: int = 0, lines: int = LOG_TAIL_LINES) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read()
    except OSError:
        return ""
    text = data.decode("utf-8", "replace").rstrip("\n")
    return "\n".join(text.splitlines()[-lines:])


def wait_ready(
    url: str,
    process: subprocess.Popen,
    *,
    timeout_s: float,
    log_path: Path,
    log_offset: int = 0,
    events: Events | None = None,
) -> None:
    """Poll `GET /ping` until 200; raise with the log's tail if the process exits or the model fails."""
    started = time.monotonic()
    until = started + timeout_s
    shown = -1
    while True:
        code = process.poll()
        if code is not None:
            raise OcrkitError(
                f"the local server exited (status {code}) before it was ready; "
                f"the end of {log_path}:\n{tail(log_path, log_offset)}"
            )
        status, doc = _get(f"{url}/ping", timeout_s=2.0)
        if status == 200:
            return
        message = ""
        if isinstance(doc, dict):
            message = str((doc.get("error") or {}).get("message", ""))
        if status == 503 and "failed to load" in message:
            raise OcrkitError(
                f"the model failed to load in the local server; the end of {log_path}:\n"
                f"{tail(log_path, log_offset)}"
            )
        now = time.monotonic()
        if now >= until:
            raise OcrkitError(
                f"the local server was not ready after {timeout_s:g} s; the end of {log_path}:\n"
                f"{tail(log_path, log_offset)}",
                hint="a large model on a busy CPU can take longer: "
                "raise start_timeout_s in the local deploy config",
            )
        elapsed = int(now - started)
        if events is not None and elapsed != shown:
            shown = elapsed
            events.progress("waiting for the model to load", elapsed, None)
        time.sleep(0.25)


def _split(url: str) -> tuple[str, int, str]:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 80, parts.path or "/"


def _get(url: str, *, timeout_s: float) -> tuple[int | None, object]:
    host, port, path = _split(url)
    conn = http.client.HTTPConnection(host, port, timeout=timeout_s)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        data = response.read()
    except (OSError, http.client.HTTPException):
        return None, None
    finally:
        conn.close()
    try:
        return response.status, json.loads(data)
    except ValueError:
        return response.status, None


def get_json(url: str, *, timeout_s: float) -> dict | None:
    status, doc = _get(url, timeout_s=timeout_s)
    return doc if status is not None and isinstance(doc, dict) else None


def post(url: str, body: bytes, content_type: str, *, timeout_s: float = 60.0) -> InvokeResult:
    host, port, path = _split(url)
    conn = http.client.HTTPConnection(host, port, timeout=timeout_s)
    started = time.perf_counter()
    try:
        conn.request(
            "POST", path, body=body, headers={"Content-Type": content_type, "Accept": "application/json"}
        )
        response = conn.getresponse()
        data = response.read()
    except (OSError, http.client.HTTPException) as exc:
        raise OcrkitError(
            f"the local endpoint at {url} does not answer ({exc})",
            hint="is it running? see `ocrkit status --cloud local`; "
            "start it with `ocrkit deploy --cloud local`",
        ) from None
    finally:
        conn.close()
    latency_ms = (time.perf_counter() - started) * 1000.0
    return InvokeResult(
        status=response.status,
        body=data,
        content_type=response.getheader("Content-Type", "application/octet-stream"),
        latency_ms=latency_ms,
    )
