"""One gateway per serverless execution environment: built on the first request, reused while warm.

Shared by the Lambda handler and the Cloud Function entry, which differ only in their backend.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

from ocrkit.gateway.backend import Backend
from ocrkit.gateway.handler import Gateway
from ocrkit.gateway.limits import Limits

BackendFromEnv = Callable[[Mapping[str, str]], Backend]


class GatewayCache:
    def __init__(self, backend_from_env: BackendFromEnv) -> None:
        self._backend_from_env = backend_from_env
        self._gateway: Gateway | None = None

    def build(self, environ: Mapping[str, str] | None = None, backend: Backend | None = None) -> Gateway:
        """A gateway with limits (and, unless given, a backend) from the environment the deploy set."""
        env = dict(os.environ if environ is None else environ)
        limits = Limits.from_env(env)
        return Gateway(
            backend or self._backend_from_env(env), limits, paths=("/predict", "/"), model_name="ocrkit"
        )

    def get(self) -> Gateway:
        if self._gateway is None:
            self._gateway = self.build()
        return self._gateway

    def reset(self) -> None:
        """Forget the cached gateway (tests, or after the environment changed)."""
        self._gateway = None
