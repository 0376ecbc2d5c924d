"""Fixtures for the GCP tests: drongo (Vertex AI + Cloud Functions admin APIs) and gcp-storage-emulator on
127.0.0.1 with free ports (no Google account, no network), started once per session and stopped by PID;
drongo's IAM Admin emulator (service accounts; a gRPC server, which `drongo server` does not expose, so
it runs in the test process on a free localhost port); the environment that points the client libraries
at them (REST base URLs, the IAM host:port, anonymous credentials); small real checkpoints; and a fast
GcpProvider whose function-source PUT is recorded (drongo's generateUploadUrl answers a
storage.googleapis.com URL, which cannot be reached from here).

IAM policies (the Vertex AI endpoint's, the Cloud Run service's, a Pub/Sub topic's) are served by no
emulator here: drongo routes no getIamPolicy/setIamPolicy. `FakePolicies` stands in at the client-library
boundary (the GAPIC call shape, google.iam.v1 messages, etags and the version-3 rule for conditions), for
all three. Pub/Sub topics themselves are drongo's Pub/Sub gRPC emulator (in this process).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ocrkit.deploy.progress import RecordingEvents
from ocrkit.deploy.state import open_state
from ocrkit.providers.gcp.planning import Options
from ocrkit.providers.gcp.provider import GcpProvider
from tests.providers.helpers import free_port

BIN = Path(os.sys.executable).parent
PROJECT = "demo-project"
REGION = "us-east4"


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log: Path

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


def start_server(
    args: list[str],
    port: int,
    health: str,
    log_dir: Path,
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> Server:
    log = log_dir / f"{Path(args[0]).name}-{port}.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, cwd=cwd or log_dir, env=env)
    server = Server(f"http://127.0.0.1:{port}", process, log)
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{args[0]} exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            with urllib.request.urlopen(f"{server.url}{health}", timeout=2):
                return server
        except urllib.error.HTTPError:
            return server  # it answers
        except OSError:
            if time.monotonic() > deadline:
                server.stop()
                raise RuntimeError(f"{args[0]} did not start within 30 s") from None
            time.sleep(0.1)


@pytest.fixture(scope="session")
def drongo(tmp_path_factory) -> Iterator[Server]:
    port = free_port()
    server = start_server(
        [str(BIN / "drongo"), "server", "--host", "127.0.0.1", "--port", str(port)],
        port,
        "/drongo/health",
        tmp_path_factory.mktemp("drongo"),
    )
    yield server
    server.stop()


@pytest.fixture(scope="session")
def iam_emulator() -> str:
    """drongo's IAM Admin gRPC emulator, in this process; its localhost:port."""
    from drongo.services.iam import IAMEmulator, iam_backends

    emulator = IAMEmulator(iam_backends)
    emulator.start()
    if emulator.address is None:  # pragma: no cover - grpcio / google-cloud-iam missing
        pytest.skip("drongo's IAM emulator needs grpcio and google-cloud-iam")
    return emulator.address


class FakePolicies:
    """getIamPolicy / setIamPolicy as Vertex AI and Cloud Run answer them, kept in memory."""

    def __init__(self) -> None:
        from google.iam.v1 import policy_pb2

        self.policies: dict[str, policy_pb2.Policy] = {}
        self.writes: list[str] = []

    def _current(self, resource: str):
        from google.iam.v1 import policy_pb2

        return self.policies.get(resource) or policy_pb2.Policy(version=1, etag=b"0")

    def get_iam_policy(self, request):
        from google.iam.v1 import policy_pb2

        out = policy_pb2.Policy()
        out.CopyFrom(self._current(request.resource))
        return out

    def set_iam_policy(self, request):
        from google.api_core import exceptions as gx
        from google.iam.v1 import policy_pb2

        current = self._current(request.resource)
        if request.policy.etag and request.policy.etag != current.etag:
            raise gx.Aborted("There were concurrent policy changes")
        if any(b.HasField("condition") for b in request.policy.bindings) and request.policy.version != 3:
            raise gx.InvalidArgument("a policy with conditions must be version 3")
        stored = policy_pb2.Policy()
        stored.CopyFrom(request.policy)
        stored.etag = str(int(current.etag or b"0") + 1).encode()
        self.policies[request.resource] = stored
        self.writes.append(request.resource)
        out = policy_pb2.Policy()
        out.CopyFrom(stored)
        return out

    def bindings(self, resource: str) -> list[tuple[str, list[str], str]]:
        """(role, members, condition expression or '') for each binding on `resource`."""
        policy = self.policies.get(resource)
        return [
            (b.role, list(b.members), b.condition.expression) for b in (policy.bindings if policy else [])
        ]


@pytest.fixture
def policies(monkeypatch) -> FakePolicies:
    from ocrkit.providers.gcp.session import GcpSession

    fake = FakePolicies()
    monkeypatch.setattr(GcpSession, "endpoint_iam", lambda self: fake)
    monkeypatch.setattr(GcpSession, "run_iam", lambda self: fake)
    monkeypatch.setattr(GcpSession, "topic_iam", lambda self: fake)  # drongo's Pub/Sub has no IAM either
    return fake


@pytest.fixture(scope="session")
def pubsub_server() -> str:
    """drongo's Pub/Sub gRPC emulator, in this process (like the IAM one); its localhost:port. Topics
    (create/get/list/delete), publish and pull are real; topic IAM policies are FakePolicies'."""
    from drongo.services.pubsub.emulator import PubSubEmulator

    emulator = PubSubEmulator()
    emulator.start()  # sets PUBSUB_EMULATOR_HOST; the tests set it themselves through monkeypatch
    address = os.environ.get("PUBSUB_EMULATOR_HOST")
    emulator.stop()  # restores the environment; the server keeps serving
    if not address:  # pragma: no cover - google-cloud-pubsub missing
        pytest.skip("drongo's Pub/Sub emulator needs google-cloud-pubsub")
    return address


@pytest.fixture
def pubsub(pubsub_server, monkeypatch) -> str:
    """The Pub/Sub emulator, emptied, with PUBSUB_EMULATOR_HOST pointing at it."""
    from drongo.services.pubsub.models import pubsub_backends

    pubsub_backends.reset()
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", pubsub_server)
    return pubsub_server


@pytest.fixture(scope="session")
def gcs(tmp_path_factory) -> Iterator[Server]:
    port = free_port()
    server = start_server(
        [
            str(BIN / "gcp-storage-emulator"),
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--in-memory",
        ],
        port,
        "/storage/v1/b?project=x",
        tmp_path_factory.mktemp("gcs"),
    )
    yield server
    server.stop()


def point_at(monkeypatch, drongo_url: str, gcs_url: str, tmp_path: Path, iam_address: str = "") -> None:
    for var in ("GOOGLE_APPLICATION_CREDENTIALS", "CLOUDSDK_CONFIG", "GOOGLE_CLOUD_PROJECT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "no-gcloud"))  # no ADC from a gcloud login
    # ADC finds nothing at once (a missing key file), so the emulators' anonymous credentials are used
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "no-credentials.json"))
    monkeypatch.setenv("OCRKIT_GCP_VERTEX_ENDPOINT", drongo_url)
    monkeypatch.setenv("OCRKIT_GCP_FUNCTIONS_ENDPOINT", drongo_url)
    if iam_address:
        monkeypatch.setenv("OCRKIT_GCP_IAM_ENDPOINT", iam_address)
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_url)
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", PROJECT)
    monkeypatch.setenv("OCRKIT_STATE_DIR", str(tmp_path / ".ocrkit" / "state"))
    monkeypatch.delenv("OCRKIT_WEIGHTS", raising=False)


def wipe_buckets() -> None:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    client = storage.Client(project=PROJECT, credentials=AnonymousCredentials())
    for bucket in client.list_buckets():
        for blob in list(bucket.list_blobs(versions=True)):
            blob.delete()
        bucket.delete()


@pytest.fixture
def gcp(drongo, gcs, iam_emulator, policies, monkeypatch, tmp_path) -> tuple[Server, Server]:
    """The client libraries pointed at freshly reset emulators; state files under tmp_path."""
    from drongo.services.iam import iam_backends

    request = urllib.request.Request(f"{drongo.url}/drongo/reset", data=b"", method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass
    iam_backends.reset()
    point_at(monkeypatch, drongo.url, gcs.url, tmp_path, iam_emulator)
    wipe_buckets()
    monkeypatch.chdir(tmp_path)
    return drongo, gcs


@dataclass
class Deployer:
    """Drives GcpProvider as the CLI does, with recorded events and the function-source uploads."""

    weights: dict[int, Path]
    build_dirs: dict[int, Path]
    name: str = "demo"
    uploads: list[tuple[str, bytes]] = field(default_factory=list)
    put: Callable[[str, bytes], None] | None = None

    def provider(self, seed: int = 0) -> GcpProvider:
        options = Options(
            sleep=lambda s: None,
            poll_s=0,
            deploy_timeout_s=30,
            put_source=self.put or (lambda url, data: self.uploads.append((url, data))),
        )
        return GcpProvider(build_dir=self.build_dirs[seed], options=options)

    def spec(self, seed: int = 0, **overrides):
        return GcpProvider.load_spec(
            None, {"name": self.name, "weights": str(self.weights[seed]), **overrides}
        )

    def plan(self, seed: int = 0, **overrides):
        provider = self.provider(seed)
        state = open_state(self.name, "gcp")
        return (
            provider,
            provider.plan(self.spec(seed, **overrides), state if state.resources else None),
            state,
        )

    def deploy(self, seed: int = 0, **overrides):
        provider, plan, state = self.plan(seed, **overrides)
        events = RecordingEvents()
        provider.apply(self.spec(seed, **overrides), plan, state, events)
        return plan, state, events


@pytest.fixture
def deployer(gcp, weights, build_dirs) -> Deployer:
    return Deployer(weights, build_dirs)
