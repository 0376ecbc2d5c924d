"""The bucket-triggered function's source (`--trigger gcs`), built locally with no remote calls:
`main.py` (-> ocrkit.runtime.gcs_trigger_entry.on_object), the ocrkit modules it imports and a pinned
`requirements.txt`: functions-framework, google-cloud-storage (the store adapter) and google-cloud-pubsub
(the dead-letter publish), plus the ONNX extra's runtime packages when the function holds the model
(serving: function; the model itself is the same `model-onnx.zip` object the HTTP function reads).

Also the function's environment: the rule (OCRKIT_TRIGGER_*), the input bucket, the dead-letter topic,
the backend (`onnx` with the model's address, or `vertex` with the endpoint's) and the gateway's limits.
"""

from __future__ import annotations

from pathlib import Path

from ocrkit.deploy.artifact import (
    BuiltArchive,
    Entry,
    build_cached,
    build_zip,
    bundle_modules,
    module_entries,
)
from ocrkit.deploy.serving import ServingOption
from ocrkit.errors import OcrkitError
from ocrkit.gateway.limits import MiB
from ocrkit.providers.gcp import function_serving
from ocrkit.providers.gcp.package import PACKAGE_ROOT
from ocrkit.providers.gcp.spec import GcpDeploySpec, gateway_environment, size_mb

ENTRY_MODULE = "ocrkit.runtime.gcs_trigger_entry"
ENTRY_POINT = "on_object"
EVENT_TYPE = "google.cloud.storage.object.v1.finalized"
# pinned to what the tests run the entry with (the shared environment's versions)
REQUIREMENTS: dict[str, str] = {
    "functions-framework": function_serving.REQUIREMENTS["functions-framework"],
    "google-cloud-storage": "3.17.1",
    "google-cloud-pubsub": "2.44.0",
}
MAIN_PY = (
    '"""Cloud Function entry point (functions-framework CloudEvent target `on_object`): the bucket '
    'trigger."""\n\n'
    "from ocrkit.runtime.gcs_trigger_entry import on_object  # noqa: F401\n"
)


def requirements(serving: ServingOption) -> dict[str, str]:
    """The pinned packages: the trigger's own, plus the ONNX engine's when the function holds the model."""
    out = dict(REQUIREMENTS)
    if serving is ServingOption.function:
        out.update({k: v for k, v in function_serving.REQUIREMENTS.items() if k not in out})
    return out


def requirements_txt(serving: ServingOption) -> str:
    lines = [
        "# the bucket trigger: functions-framework + Cloud Storage + Pub/Sub (+ the ONNX engine), pinned"
    ]
    lines += [f"{name}=={version}" for name, version in requirements(serving).items()]
    return "\n".join(lines) + "\n"


def check_memory(memory: str, export: Path) -> None:
    """serving: function -- the trigger function holds the model too: one line before anything is created
    when its memory cannot (the HTTP function's estimate, ocrkit.providers.gcp.function_serving)."""
    unpacked = function_serving.unpacked_size(export)
    needed = function_serving.memory_needed_mb(unpacked)
    if size_mb(memory) < needed:
        raise OcrkitError(
            f"the trigger function's memory {memory} is too small for this model: its export is "
            f"{unpacked / MiB:,.0f} MiB, about {needed:,} MiB with it unpacked in /tmp (an estimate)",
            hint=f"set trigger.memory to at least {-(-needed // 1024)}Gi in the deploy config",
        )


def build_trigger_source(out: Path, serving: ServingOption) -> BuiltArchive:
    entries = [
        Entry("main.py", MAIN_PY.encode()),
        Entry("requirements.txt", requirements_txt(serving).encode()),
        *module_entries(bundle_modules([ENTRY_MODULE], package_root=PACKAGE_ROOT), package_root=PACKAGE_ROOT),
    ]
    return build_cached(entries, out, build_zip)


def trigger_environment(
    spec: GcpDeploySpec,
    *,
    bucket: str,
    topic: str,
    model_uri: str | None,
    model_sha256: str | None,
    endpoint: str | None,
) -> dict[str, str]:
    """The trigger function's environment (`model_uri` for serving: function, else `endpoint`)."""
    t = spec.trigger
    env = {
        **t.rule().to_env(),
        "OCRKIT_TRIGGER_BUCKET": bucket,
        "OCRKIT_DEAD_LETTER_TOPIC": topic,
        "OCRKIT_MAX_IMAGE_BYTES": str(spec.limits.max_image_bytes),
        "OCRKIT_BACKEND_TIMEOUT_S": str(max(1, t.timeout_s - 5)),
    }
    if spec.serving is ServingOption.function:
        env.update(
            {
                "OCRKIT_TRIGGER_BACKEND": "onnx",
                "OCRKIT_MODEL_URI": model_uri or "",
                "OCRKIT_MODEL_SHA256": model_sha256 or "",
            }
        )
    else:
        gateway = gateway_environment(spec, endpoint or "")
        env.update(
            {
                "OCRKIT_TRIGGER_BACKEND": "vertex",
                "OCRKIT_VERTEX_ENDPOINT_NAME": gateway["OCRKIT_VERTEX_ENDPOINT_NAME"],
                "OCRKIT_GCP_REGION": gateway["OCRKIT_GCP_REGION"],
                "OCRKIT_BACKEND_TIMEOUT_S": str(min(spec.vertex.predict_timeout_s, t.timeout_s - 1)),
            }
        )
    return env
