"""What the AWS and GCP providers share around the executor: spec coercion, the weights to ship,
deletion steps for retired resources, SDK errors turned into sentences, and the apply stage.

A provider subclasses `CloudProvider` and fills in the hooks: which spec class it takes, how one of
its SDK's exceptions becomes an OcrkitError, and what it records in the state's outputs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from ocrkit.deploy.executor import execute
from ocrkit.deploy.plan import ExecutablePlan, Step, StepResult
from ocrkit.deploy.provider import Events, PlannedCall, ResourceRecord, StateLike
from ocrkit.deploy.spec import LoadedSpec, config_hash
from ocrkit.errors import OcrkitError
from ocrkit.weights import resolve_weights


class CloudProvider:
    """Template for a cloud target: plan() and the SDK-specific hooks are the subclass's."""

    spec_type: ClassVar[type]
    spec_label: ClassVar[str]  # "an AWS", "a GCP": for the TypeError on a wrong spec

    # -- hooks ---------------------------------------------------------------------------------------

    def plan(self, spec: Any, state: StateLike | None) -> ExecutablePlan:  # pragma: no cover - abstract
        raise NotImplementedError

    def _translate_error(self, exc: Exception, action: str) -> Exception | None:
        """The SDK's exception as a one-sentence OcrkitError, or None when it is not the SDK's."""
        raise NotImplementedError  # pragma: no cover - abstract

    def _record_outputs(self, loaded: LoadedSpec, state: StateLike) -> None:
        """What status, invoke and teardown need later (region, account or project, auth...)."""
        raise NotImplementedError  # pragma: no cover - abstract

    def _delete_summary(self, rec: ResourceRecord) -> str:
        return f"{rec.id} (no longer wanted)"

    # -- shared ----------------------------------------------------------------------------------------

    @classmethod
    def _loaded(cls, spec: Any) -> LoadedSpec:
        if isinstance(spec, LoadedSpec):
            return spec
        if isinstance(spec, cls.spec_type):
            return LoadedSpec(spec=spec, path=Path("<config>"), config_hash=config_hash(spec))
        raise TypeError(f"expected {cls.spec_label} deploy spec, got {type(spec).__name__}")

    @staticmethod
    def weights_path(spec: Any) -> Path:
        """``weights:`` / ``--weights``, else ``$OCRKIT_WEIGHTS``, else the shipped demo checkpoint."""
        return resolve_weights(spec.weights, what="no model weights to deploy")

    def _deleter(self, remover: Any) -> Callable[[str, ResourceRecord], Step]:
        """Steps that delete what the state holds and the desired deployment no longer wants."""

        def make(key: str, rec: ResourceRecord) -> Step:
            def run(ctx) -> StepResult:
                remover.delete(rec, ctx.events)
                return StepResult(forget=True)

            return Step(PlannedCall(key, rec.kind, "delete", self._delete_summary(rec), {}), run)

        return make

    def _guarded(self, step: Step) -> Step:
        """SDK errors inside a step become one-sentence OcrkitErrors; other exceptions pass through."""

        def run(ctx):
            try:
                return step.run(ctx)
            except OcrkitError:
                raise
            except Exception as exc:
                translated = self._translate_error(exc, f"{step.call.action} {step.call.resource}")
                if translated is not None:
                    raise translated from exc
                raise

        return Step(step.call, run)

    def apply(self, spec: Any, plan: Any, state: StateLike, events: Events) -> StateLike:
        loaded = self._loaded(spec)
        if not isinstance(plan, ExecutablePlan):
            plan = self.plan(loaded, state)
        self._record_outputs(loaded, state)
        execute(plan, state, events)
        if hasattr(state, "config_hash"):
            state.config_hash = loaded.config_hash  # type: ignore[attr-defined]
        artifact = state.resources.get("artifact")
        if artifact is not None and hasattr(state, "artifact_sha256"):
            state.artifact_sha256 = artifact.attrs.get("sha256")  # type: ignore[attr-defined]
        state.save()
        return state
