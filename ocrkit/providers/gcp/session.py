"""Google Cloud clients for the deploy: credentials, project, endpoints and error translation.

- Credentials: Application Default Credentials (`google.auth.default()`). When an API endpoint override
  is set (`OCRKIT_GCP_VERTEX_ENDPOINT`, `OCRKIT_GCP_FUNCTIONS_ENDPOINT`, `OCRKIT_GCP_IAM_ENDPOINT`,
  `OCRKIT_GCP_RUN_ENDPOINT`, `STORAGE_EMULATOR_HOST`) and no
  credentials are found, `AnonymousCredentials()` are used: the local emulators need none.
- Project: `--project`, then the config's `project:`, then `GOOGLE_CLOUD_PROJECT`, then the one ADC names.
- Vertex AI and Cloud Functions go through the GAPIC clients (`aiplatform_v1`, `functions_v2`) over REST;
  the overrides are REST base URLs (`http://127.0.0.1:8765`). Cloud Storage honours
  `STORAGE_EMULATOR_HOST` by itself.
- IAM Admin (`iam_admin_v1.IAMClient`, service accounts) ships a gRPC transport only: its override is a
  `host:port` served without TLS (an emulator), e.g. `127.0.0.1:9123`.
- The endpoint's own IAM policy goes through `aiplatform_v1beta1.EndpointServiceClient` over REST (Vertex
  AI serves getIamPolicy/setIamPolicy on endpoints in v1beta1 only; same override as Vertex AI); the Cloud
  Run service behind the function is reached with `RunIamClient` (getIamPolicy / setIamPolicy over REST,
  the only two Cloud Run calls ocrkit makes, so google-cloud-run is not needed).
- Pub/Sub (the trigger's dead-letter topic and its IAM policy) goes through `pubsub_v1.PublisherClient`
  (gRPC), which honours `PUBSUB_EMULATOR_HOST` by itself.
- Google API errors become one-sentence `OcrkitError`s (`gcp_errors`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ocrkit.errors import OcrkitError

VERTEX_ENDPOINT_ENV = "OCRKIT_GCP_VERTEX_ENDPOINT"
FUNCTIONS_ENDPOINT_ENV = "OCRKIT_GCP_FUNCTIONS_ENDPOINT"
STORAGE_EMULATOR_ENV = "STORAGE_EMULATOR_HOST"
PROJECT_ENV = "GOOGLE_CLOUD_PROJECT"
IAM_ENDPOINT_ENV = "OCRKIT_GCP_IAM_ENDPOINT"
RUN_ENDPOINT_ENV = "OCRKIT_GCP_RUN_ENDPOINT"
PUBSUB_EMULATOR_ENV = "PUBSUB_EMULATOR_HOST"
OVERRIDES = (
    PUBSUB_EMULATOR_ENV,
    VERTEX_ENDPOINT_ENV,
    FUNCTIONS_ENDPOINT_ENV,
    IAM_ENDPOINT_ENV,
    RUN_ENDPOINT_ENV,
    STORAGE_EMULATOR_ENV,
)


def overrides_set() -> bool:
    return any((os.environ.get(v) or "").strip() for v in OVERRIDES)


def vertex_base_url(region: str) -> str:
    """The REST base URL of Vertex AI for `region` (the override when it is set)."""
    override = (os.environ.get(VERTEX_ENDPOINT_ENV) or "").strip()
    return override.rstrip("/") if override else f"https://{region}-aiplatform.googleapis.com"


def find_credentials() -> tuple[Any, str | None, bool]:
    """(credentials, ADC's project or None, anonymous?)."""
    import google.auth
    from google.auth import exceptions as auth_exceptions
    from google.auth.credentials import AnonymousCredentials

    try:
        credentials, project = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
        return credentials, project, False
    except auth_exceptions.DefaultCredentialsError:
        if overrides_set():
            return AnonymousCredentials(), None, True
        raise OcrkitError(
            "no Google Cloud credentials found",
            hint="run `gcloud auth application-default login`, or point GOOGLE_APPLICATION_CREDENTIALS "
            "at a key file",
        ) from None


@dataclass
class GcpSession:
    """The clients one deploy uses, made on first use."""

    project: str
    region: str
    credentials: Any
    anonymous: bool = False
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def parent(self) -> str:
        return f"projects/{self.project}/locations/{self.region}"

    def _options(self, env: str, default_host: str) -> tuple[str, dict[str, Any]]:
        override = (os.environ.get(env) or "").strip()
        if override:
            return "rest", {"api_endpoint": override.rstrip("/")}
        return "rest", {"api_endpoint": default_host}

    def _gapic(self, key: str, factory: Any, env: str, default_host: str) -> Any:
        if key not in self._clients:
            transport, options = self._options(env, default_host)
            self._clients[key] = factory(
                transport=transport, client_options=options, credentials=self.credentials
            )
        return self._clients[key]

    def models(self) -> Any:
        from google.cloud import aiplatform_v1

        host = f"{self.region}-aiplatform.googleapis.com"
        return self._gapic("models", aiplatform_v1.ModelServiceClient, VERTEX_ENDPOINT_ENV, host)

    def endpoints(self) -> Any:
        from google.cloud import aiplatform_v1

        host = f"{self.region}-aiplatform.googleapis.com"
        return self._gapic("endpoints", aiplatform_v1.EndpointServiceClient, VERTEX_ENDPOINT_ENV, host)

    def predictions(self) -> Any:
        from google.cloud import aiplatform_v1

        host = f"{self.region}-aiplatform.googleapis.com"
        return self._gapic("predictions", aiplatform_v1.PredictionServiceClient, VERTEX_ENDPOINT_ENV, host)

    def jobs(self) -> Any:
        """Vertex AI batch prediction jobs (`ocrkit batch --cloud gcp`)."""
        from google.cloud import aiplatform_v1

        host = f"{self.region}-aiplatform.googleapis.com"
        return self._gapic("jobs", aiplatform_v1.JobServiceClient, VERTEX_ENDPOINT_ENV, host)

    def functions(self) -> Any:
        from google.cloud import functions_v2

        return self._gapic(
            "functions",
            functions_v2.FunctionServiceClient,
            FUNCTIONS_ENDPOINT_ENV,
            "cloudfunctions.googleapis.com",
        )

    def iam(self) -> Any:
        """IAM Admin (service accounts). gRPC only; an override is an emulator's host:port without TLS."""
        if "iam" not in self._clients:
            try:
                from google.cloud import iam_admin_v1
            except ImportError:
                raise OcrkitError(
                    "the Google Cloud IAM client is not installed (needed to make the function's "
                    "service account)",
                    hint="pip install google-cloud-iam",
                ) from None

            override = (os.environ.get(IAM_ENDPOINT_ENV) or "").strip()
            if override:
                import grpc
                from google.cloud.iam_admin_v1.services.iam.transports import IAMGrpcTransport

                target = override.split("://", 1)[-1].rstrip("/")
                transport = IAMGrpcTransport(channel=grpc.insecure_channel(target))
                self._clients["iam"] = iam_admin_v1.IAMClient(transport=transport)
            else:
                self._clients["iam"] = iam_admin_v1.IAMClient(credentials=self.credentials)
        return self._clients["iam"]

    def endpoint_iam(self) -> Any:
        """The IAM policy of Vertex AI endpoints (v1beta1: v1 has no IAM methods on endpoints)."""
        from google.cloud import aiplatform_v1beta1

        host = f"{self.region}-aiplatform.googleapis.com"
        return self._gapic(
            "endpoint_iam", aiplatform_v1beta1.EndpointServiceClient, VERTEX_ENDPOINT_ENV, host
        )

    def run_iam(self) -> Any:
        """The IAM policy of Cloud Run services (the function's underlying service)."""
        if "run_iam" not in self._clients:
            override = (os.environ.get(RUN_ENDPOINT_ENV) or "").strip().rstrip("/")
            self._clients["run_iam"] = RunIamClient(
                override or "https://run.googleapis.com", self.credentials
            )
        return self._clients["run_iam"]

    def pubsub(self) -> Any:
        """Pub/Sub topics (create, get, list, delete) and their IAM policy: the publisher client."""
        if "pubsub" not in self._clients:
            from google.cloud import pubsub_v1

            emulated = bool((os.environ.get(PUBSUB_EMULATOR_ENV) or "").strip())
            kwargs = {} if emulated else {"credentials": self.credentials}
            self._clients["pubsub"] = pubsub_v1.PublisherClient(**kwargs)
        return self._clients["pubsub"]

    def topic_iam(self) -> Any:
        """A topic's IAM policy (getIamPolicy / setIamPolicy with the google.iam.v1 call shape)."""
        return self.pubsub()

    def storage(self) -> Any:
        if "storage" not in self._clients:
            from google.cloud import storage

            self._clients["storage"] = storage.Client(project=self.project, credentials=self.credentials)
        return self._clients["storage"]


class RunIamClient:
    """`getIamPolicy` / `setIamPolicy` of Cloud Run v2 services over REST, with the GAPIC call shape
    (`request=` a `google.iam.v1` Get/SetIamPolicyRequest; answers a Policy)."""

    def __init__(self, base_url: str, credentials: Any) -> None:
        self.base_url = base_url
        self.credentials = credentials
        self._session: Any = None

    def _call(self, resource: str, verb: str, body: dict[str, Any] | None) -> Any:
        from google.api_core import exceptions as gx
        from google.auth.transport.requests import AuthorizedSession
        from google.iam.v1 import policy_pb2
        from google.protobuf import json_format

        if self._session is None:
            self._session = AuthorizedSession(self.credentials)
        url = f"{self.base_url}/v2/{resource}:{verb}"
        if body is None:  # getIamPolicy is a GET in Cloud Run v2
            response = self._session.get(url, timeout=60)
        else:
            response = self._session.post(url, json=body, timeout=60)
        if response.status_code >= 400:
            try:
                message = response.json().get("error", {}).get("message") or response.text
            except ValueError:
                message = response.text
            raise gx.from_http_status(response.status_code, f"{verb} {resource}: {message}")
        return json_format.ParseDict(response.json(), policy_pb2.Policy(), ignore_unknown_fields=True)

    def get_iam_policy(self, request: Any) -> Any:
        return self._call(request.resource, "getIamPolicy", None)

    def set_iam_policy(self, request: Any) -> Any:
        from google.protobuf import json_format

        policy = json_format.MessageToDict(request.policy)
        return self._call(request.resource, "setIamPolicy", {"policy": policy})


def make_session(project: str | None, region: str) -> GcpSession:
    credentials, adc_project, anonymous = find_credentials()
    chosen = project or (os.environ.get(PROJECT_ENV) or "").strip() or adc_project
    if not chosen:
        raise OcrkitError(
            "no Google Cloud project given",
            hint=f"pass --project, set project: in the config, or export {PROJECT_ENV}",
        )
    return GcpSession(project=chosen, region=region, credentials=credentials, anonymous=anonymous)


def is_not_found(exc: BaseException) -> bool:
    from google.api_core import exceptions as gx

    if isinstance(exc, gx.NotFound):
        return True
    code = getattr(exc, "code", None)
    return code == 404


def translate(exc: BaseException, action: str) -> OcrkitError:
    """A Google API error as one sentence about what failed and what to do."""
    from google.api_core import exceptions as gx

    message = getattr(exc, "message", None) or str(exc)
    message = " ".join(str(message).split())
    if len(message) > 300:
        message = message[:297] + "..."
    hint = None
    if isinstance(exc, gx.PermissionDenied | gx.Unauthenticated):
        hint = "check that the deploying identity has the roles listed in the README (Deploy to GCP)"
    elif isinstance(exc, gx.ResourceExhausted):
        hint = "a quota is exhausted: request more (e.g. Vertex AI custom model serving T4 GPUs) or try later"
    elif isinstance(exc, gx.FailedPrecondition) and "API" in message:
        hint = "enable the API in the project (gcloud services enable aiplatform.googleapis.com ...)"
    reason = type(exc).__name__ if isinstance(exc, gx.GoogleAPIError) else "error"
    return OcrkitError(f"could not {action}: {reason}: {message}", hint=hint)


def is_google_error(exc: BaseException) -> bool:
    try:
        from google.api_core import exceptions as gx
        from google.auth import exceptions as ax
    except ImportError:  # pragma: no cover
        return False
    if isinstance(exc, gx.GoogleAPIError | ax.GoogleAuthError):
        return True
    module = type(exc).__module__
    return module.startswith(("google.", "requests.")) or type(exc).__name__ in ("ConnectionError",)


@contextlib.contextmanager
def gcp_errors(action: str) -> Iterator[None]:
    try:
        yield
    except OcrkitError:
        raise
    except Exception as exc:
        if is_google_error(exc):
            raise translate(exc, action) from exc
        raise
