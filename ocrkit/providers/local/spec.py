"""The local deploy config (`configs/deploy/local.yaml`): the embedded endpoint on this machine.

The same settings as `ocrkit serve`, plus how long `deploy` waits for the model to load and how long
`teardown` lets the server finish its requests before it is killed.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator

from ocrkit.deploy.spec import DeploySpecBase, LoadedSpec, load_spec
from ocrkit.server.production import ServeOptions

PositiveInt = Annotated[int, Field(ge=1)]


class LocalDeploySpec(DeploySpecBase):
    path_fields = ("weights",)

    name: str = Field("ocrkit", pattern=r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$")
    host: str = "127.0.0.1"  # 0.0.0.0 makes the endpoint reachable from the network
    port: Annotated[int, Field(ge=0, le=65535)] = 0  # 0: any free port (recorded in the state)
    weights: str | None = None  # model checkpoint (.pt); else --weights, $OCRKIT_WEIGHTS, the demo checkpoint
    workers: PositiveInt = 1
    threads: Annotated[int, Field(ge=2)] | None = None  # per worker; default max_inflight + 8
    max_inflight: PositiveInt = 32  # prediction requests admitted per worker; more get 503
    timeout_s: Annotated[float, Field(gt=0, le=600)] | None = None  # per request; default 25 s
    batching: bool = True
    max_batch: Annotated[int, Field(ge=1, le=64)] = 8
    max_wait_ms: Annotated[float, Field(ge=0, le=1000)] = 5.0
    device: str | None = None  # None: CUDA when available, else CPU
    max_len: Annotated[int, Field(ge=1, le=100)] | None = None  # tokens per image; default 100
    torch_threads: PositiveInt | None = None  # CPU threads per worker; default (cores - 1) / workers
    log_level: str = "info"
    environment: dict[str, str] = {}  # extra variables for the server, e.g. OCRKIT_URL_ALLOWED_NETWORKS
    start_timeout_s: Annotated[float, Field(gt=0, le=3600)] = 180.0  # deploy waits this long for /ping
    stop_timeout_s: Annotated[float, Field(gt=0, le=600)] = 15.0  # SIGTERM, then SIGKILL after this
    predictor: str | None = None  # "module:factory" served instead of weights (tests, custom models)

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        value = value.strip()
        if value != "localhost":
            try:
                ipaddress.ip_address(value)
            except ValueError:
                raise ValueError("must be an IP address such as 127.0.0.1 (or localhost)") from None
        return value

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        value = value.strip().lower()
        if value not in ("debug", "info", "warning", "error"):
            raise ValueError("must be debug, info, warning or error")
        return value

    @property
    def is_public(self) -> bool:
        return self.host not in ("127.0.0.1", "::1", "localhost") and not self.host.startswith("127.")

    def serve_options(self, *, port: int | None = None) -> ServeOptions:
        return ServeOptions(
            name=self.name,
            host=self.host,
            port=self.port if port is None else port,
            workers=self.workers,
            threads=self.threads,
            max_inflight=self.max_inflight,
            timeout_s=self.timeout_s,
            batching=self.batching,
            max_batch=self.max_batch,
            max_wait_ms=self.max_wait_ms,
            weights=self.weights,
            device=self.device,
            max_len=self.max_len,
            torch_threads=self.torch_threads,
            predictor=self.predictor,
            log_level=self.log_level,
        )


def load_local_spec(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> LoadedSpec:
    return load_spec(LocalDeploySpec, "local", path, overrides)
