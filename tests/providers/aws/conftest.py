"""Fixtures for the AWS tests: a moto server on 127.0.0.1 (no AWS account, no network), the environment
that points boto3 at it, small real checkpoints, and a fast AwsProvider.

The server is started once per session (`moto_server.py`, moto with two corrections; see that file) and
reset between tests with `POST /moto-api/reset`; it is stopped by its PID at the end.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ocrkit.deploy.progress import RecordingEvents
from ocrkit.deploy.state import open_state
from ocrkit.providers.aws.planning import Options
from ocrkit.providers.aws.provider import AwsProvider
from tests.gateway.imagehost import image_host  # noqa: F401 - fixture for the URL-input tests
from tests.providers.helpers import free_port

LAUNCHER = Path(__file__).with_name("moto_server.py")
REGION = "us-east-1"
WRITE_PREFIXES = (
    "Create",
    "Put",
    "Update",
    "Delete",
    "Register",
    "Deregister",
    "Add",
    "Remove",
    "Tag",
    "Untag",
    "Publish",
    "Upload",
    "CompleteMultipart",
)


@dataclass
class MotoServer:
    url: str
    process: subprocess.Popen
    log: Path

    def reset(self) -> None:
        request = urllib.request.Request(f"{self.url}/moto-api/reset", data=b"", method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


def start_moto(log_dir: Path, *, plain: bool = False) -> MotoServer:
    port = free_port()
    log = log_dir / f"moto-{port}.log"
    args = [sys.executable, str(LAUNCHER), "-H", "127.0.0.1", "-p", str(port)] + (
        ["--plain"] if plain else []
    )
    with open(log, "wb") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, cwd=log_dir)
    server = MotoServer(f"http://127.0.0.1:{port}", process, log)
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"moto server exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            with urllib.request.urlopen(f"{server.url}/moto-api/data.json", timeout=2):
                return server
        except OSError:
            if time.monotonic() > deadline:
                server.stop()
                raise RuntimeError("moto server did not start within 30 s") from None
            time.sleep(0.1)


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory) -> Iterator[MotoServer]:
    server = start_moto(tmp_path_factory.mktemp("moto"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def plain_moto_server(tmp_path_factory) -> Iterator[MotoServer]:
    server = start_moto(tmp_path_factory.mktemp("moto-plain"), plain=True)
    yield server
    server.stop()


def point_at(monkeypatch, url: str, tmp_path: Path) -> None:
    for var in list(os.environ):
        if var.startswith("AWS_"):
            monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("OCRKIT_STATE_DIR", str(tmp_path / ".ocrkit" / "state"))
    monkeypatch.delenv("OCRKIT_WEIGHTS", raising=False)


@pytest.fixture
def aws(moto_server, monkeypatch, tmp_path) -> MotoServer:
    """boto3 pointed at a freshly reset moto server; state files under tmp_path."""
    moto_server.reset()
    point_at(monkeypatch, moto_server.url, tmp_path)
    monkeypatch.chdir(tmp_path)
    return moto_server


def fast_options() -> Options:
    return Options(
        sleep=lambda s: None, endpoint_poll_s=0, endpoint_timeout_s=5, iam_retry_s=0, lambda_poll_s=1
    )


@dataclass
class Deployer:
    """Drives AwsProvider as the CLI does, with recorded events and the boto3 calls it makes."""

    weights: dict[int, Path]
    build_dirs: dict[int, Path]
    name: str = "demo"
    calls: list[str] | None = None

    def provider(self, seed: int = 0) -> AwsProvider:
        provider = AwsProvider(build_dir=self.build_dirs[seed], options=fast_options())
        calls = self.calls if self.calls is not None else []
        self.calls = calls

        def record(event_name: str, **kwargs) -> None:
            _, service, operation = event_name.split(".", 2)
            calls.append(f"{service}.{operation}")

        provider.session(region=REGION).session.events.register("before-call", record)
        return provider

    def spec(self, seed: int = 0, path: Path | None = None, **overrides):
        return AwsProvider.load_spec(
            path, {"name": self.name, "weights": str(self.weights[seed]), **overrides}
        )

    def plan(self, seed: int = 0, **overrides):
        provider = self.provider(seed)
        state = open_state(self.name, "aws")
        return provider, provider.plan(self.spec(seed, **overrides), state), state

    def deploy(self, seed: int = 0, **overrides):
        provider, plan, state = self.plan(seed, **overrides)
        events = RecordingEvents()
        provider.apply(self.spec(seed, **overrides), plan, state, events)
        return plan, state, events

    def writes(self) -> list[str]:
        return [c for c in self.calls or [] if c.split(".", 1)[1].startswith(WRITE_PREFIXES)]


@pytest.fixture
def deployer(aws, weights, build_dirs) -> Deployer:
    return Deployer(weights, build_dirs)


def policy_doc(value) -> dict:
    return json.loads(value) if isinstance(value, str) else value


@pytest.fixture(scope="session")
def fn_cache(tmp_path_factory) -> Path:
    """One ocrkit cache for the session's `--serving function` tests (ONNX exports, the function's
    manylinux wheels): each is made, and each wheel downloaded, once."""
    return tmp_path_factory.mktemp("ocrkit-cache")


@pytest.fixture
def cache_env(fn_cache, monkeypatch) -> Path:
    monkeypatch.setenv("OCRKIT_CACHE_DIR", str(fn_cache))
    return fn_cache
