"""What the AWS and GCP providers share around the pipeline: spec coercion, the weights to ship,
deletion steps (for the sweeper and for teardown, from the family registry), SDK errors turned into
sentences, and the teardown target `ocrkit.deploy.pipeline.destroy` runs.

A provider subclasses `CloudProvider` and fills in the hooks: which spec class it takes, how one of
its SDK's exceptions becomes an OcrkitError, and what it records in the state's outputs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

from ocrkit.deploy.plan import ExecutablePlan, Step, StepResult
from ocrkit.deploy.records import Events, PlannedCall, ResourceRecord, StateLike
from ocrkit.deploy.resource import Registry
from ocrkit.deploy.spec import LoadedSpec, config_hash
from ocrkit.deploy.state import state_dir
from ocrkit.errors import OcrkitError
from ocrkit.weights import check_checkpoint, resolve_weights


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

    def record_outputs(self, loaded: LoadedSpec, state: StateLike) -> None:
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
        """``weights:`` / ``--weights``, else ``$OCRKIT_WEIGHTS``, else the shipped demo checkpoint; checked
        (torch-free) to be a checkpoint of ocrkit's model before anything is built or planned."""
        path = resolve_weights(spec.weights, what="no model weights to deploy")
        try:
            st = path.stat()
        except OSError:
            st = None
        _checked(str(path), None if st is None else (st.st_mtime_ns, st.st_size))
        return path

    def build_folder(self, spec: Any) -> Path:
        """Where the build stage writes (the artifact, the function's zip): `.ocrkit/build/NAME-CLOUD`."""
        given = getattr(self, "build_dir", None)
        return given or (state_dir().parent / "build" / f"{spec.name}-{self.cloud}")

    def run_folders(self, loaded: Any) -> list[Path]:
        """The folders a deploy may create, innermost first (a failed run removes those it created)."""
        build = self.build_folder(self._loaded(loaded).spec)
        return [build, build.parent, state_dir(), state_dir().parent]

    def check_inputs(self, loaded: Any) -> None:
        """What can be checked locally before any cloud call: the weights are ocrkit's model."""
        self.weights_path(self._loaded(loaded).spec)

    def _deleter(self, target: CloudTeardown) -> Callable[[str, ResourceRecord], Step]:
        """Steps that delete what the state holds and the desired deployment no longer wants."""

        def make(key: str, rec: ResourceRecord) -> Step:
            step = target.delete_step(key, rec)
            call = PlannedCall(key, rec.kind, "delete", self._delete_summary(rec), {}, step.call.calls)
            return Step(call, step.run)

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

    adopt: bool = False  # --adopt: take over same-named resources ocrkit did not make (shown in the plan)

    def _check_foreign(
        self, steps: list[Step], registry: Registry, access: Any, ids: dict[str, str]
    ) -> tuple[list[Step], list[str]]:
        """Mark the planned steps whose resource exists but is not this deployment's (`ids`: resource key ->
        the id it has). Without --adopt they are listed and deploy stops before any write; with it, the
        step says it adopts the resource and what it changes."""
        out, foreign = [], []
        for step in steps:
            call = step.call
            rid = ids.get(call.resource)
            if rid is None or call.action not in ("update", "noop"):
                out.append(step)
                continue
            if registry.owned(access, ResourceRecord(call.kind, rid)) is not False:
                out.append(step)
                continue
            foreign.append(f"{call.kind} {rid}")
            if self.adopt:
                summary = f"ADOPT (not made by ocrkit; takes it over): {call.summary}"
            else:
                summary = f"NOT ocrkit's: {rid} exists without this deployment's tag; left as it is"
            out.append(
                Step(replace(call, summary=summary, details={**call.details, "foreign": True}), step.run)
            )
        return out, foreign

    def record_deployed(self, loaded: Any, state: StateLike) -> None:
        """The record stage: which config and artifact the deployment now runs."""
        loaded = self._loaded(loaded)
        if hasattr(state, "config_hash"):
            state.config_hash = loaded.config_hash  # type: ignore[attr-defined]
        artifact = state.resources.get("artifact")
        if artifact is not None and hasattr(state, "artifact_sha256"):
            state.artifact_sha256 = artifact.attrs.get("sha256")  # type: ignore[attr-defined]

    def apply(self, spec: Any, plan: Any, state: StateLike, events: Events) -> StateLike:
        """execute -> record through the pipeline (kept as a method for the Provider protocol)."""
        from ocrkit.deploy.pipeline import apply

        return apply(self, self._loaded(spec), plan, state, events)


@lru_cache(maxsize=8)
def _checked(path: str, version: tuple[int, int] | None) -> None:
    """check_checkpoint once per file version (the plan asks for the weights more than once)."""
    check_checkpoint(path)


@dataclass
class CloudTeardown:
    """The teardown target of a cloud deployment, built from its family registry: the pipeline's
    `destroy` discovers with it, asks it for one deletion step per resource, and lists what remains."""

    registry: Registry
    access: Any  # the provider's cloud access (its `notes` collect what teardown should say)
    find: Callable[[], list[tuple[str, ResourceRecord]]]
    errors: Callable[[str], AbstractContextManager[Any]]
    guard: Callable[[Step], Step]
    gone: Callable[[BaseException], bool]
    counted: Callable[[ResourceRecord], bool] = lambda rec: True  # False: nothing to delete (noop)

    @property
    def notes(self) -> list[str]:
        return self.access.notes

    def discover(self) -> list[tuple[str, ResourceRecord]]:
        return self.find()

    def sort(self, items: Iterable[tuple[str, ResourceRecord]]) -> list[tuple[str, ResourceRecord]]:
        return self.registry.sort_for_deletion(items)

    def delete_step(self, key: str, rec: ResourceRecord) -> Step:
        deleter = self.registry.deleter(rec.kind)
        label = f"{rec.kind} {rec.id}"

        def run(ctx) -> StepResult:
            try:
                deleter(self.access, rec, ctx.events)
            except Exception as exc:
                if not self.gone(exc):
                    raise
            return StepResult(forget=True)

        action = "delete" if self.counted(rec) else "noop"
        calls = self.registry.delete_calls(rec.kind) if action == "delete" else ()
        return self.guard(Step(PlannedCall(key, rec.kind, action, rec.id, {"label": label}, calls), run))

    def knows(self, kind: str) -> bool:
        return self.registry.knows(kind)

    def owned(self, rec: ResourceRecord) -> bool | None:
        return self.registry.owned(self.access, rec)

    def remaining(self) -> list[str]:
        """What a fresh listing still finds of this deployment (same-named foreign resources excluded)."""
        return [f"{rec.kind} {rec.id}" for _, rec in self.find() if self.owned(rec) is not False]

    def finish(self, state: StateLike) -> None:
        state.outputs.clear()
        remove = getattr(state, "remove_file", None)
        if callable(remove):
            remove()
