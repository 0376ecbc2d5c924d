"""Which model a managed batch job runs: the one `ocrkit deploy` put on the cloud, from its state file
(else found by its tags / labels, as `ocrkit status` finds it), with the session that reaches it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ocrkit.errors import OcrkitError

MODEL_KINDS = {"aws": "sagemaker:model", "gcp": "vertex:model"}


@dataclass(frozen=True)
class CloudTarget:
    cloud: str
    deployment: str
    model: str  # SageMaker model name / Vertex model resource name
    artifact_sha256: str | None
    region: str
    session: Any  # AwsSession / GcpSession


def find_target(cloud: str, name: str | None, region: str | None, project: str | None) -> CloudTarget:
    from ocrkit.deploy import pipeline
    from ocrkit.deploy.state import load_state
    from ocrkit.providers import get_provider

    kwargs: dict[str, Any] = {"region": region}
    if cloud == "gcp":
        kwargs["project"] = project
    provider = get_provider(cloud, **kwargs)
    spec = provider.load_spec(None, {"name": name} if name else {})
    spec = getattr(spec, "spec", spec)
    deployment = spec.name
    if hasattr(provider, "default_region"):
        provider.default_region = getattr(spec, "region", None)
        provider.default_profile = getattr(spec, "profile", None)
    if hasattr(provider, "default_project"):
        provider.default_project = getattr(spec, "project", None)
    state = load_state(deployment, cloud)
    if state is None or not state.resources:
        state = pipeline.find_by_tags(provider, deployment) or state
    records = [] if state is None else [r for r in state.resources.values() if r.kind == MODEL_KINDS[cloud]]
    if not records:
        raise OcrkitError(
            f"no deployment named '{deployment}' with a model on {cloud} (no state file or tagged model)",
            hint=f"deploy it first: ocrkit deploy --cloud {cloud} --name {deployment} (or pass --name)",
        )
    record = next((r for r in records if r is state.resources.get("model")), records[-1])
    session = provider._session_for_state(state)
    return CloudTarget(
        cloud=cloud,
        deployment=deployment,
        model=record.id,
        artifact_sha256=getattr(state, "artifact_sha256", None) or record.attrs.get("artifact_sha256"),
        region=session.region,
        session=session,
    )
