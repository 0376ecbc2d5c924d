"""The executor: runs a plan's steps in order and writes the state after every one.

Each step gets the `Context` (values from earlier steps and from the saved state) and returns a
`StepResult`: the record to keep under its resource key, values to pass forward, or that the resource is
gone. When a record replaces another one under the same key (a new SageMaker model for new weights), the
old record is kept under `key@old-id` until the sweeper's deletion step removes it, so that nothing is ever
forgotten while it still exists. A step that fails leaves the state as of the last finished step; running
the same command again plans from there.
"""

from __future__ import annotations

from ocrkit.deploy.plan import Context, ExecutablePlan, Step, StepResult, retired_key
from ocrkit.deploy.records import Events, StateLike
from ocrkit.errors import OcrkitError

VERBS = {"create": "Creating", "update": "Updating", "delete": "Deleting"}


class StepFailed(OcrkitError):
    """A step failed; the state file holds everything done before it."""

    def __init__(self, step: Step, cause: BaseException, state_path: str) -> None:
        reason = cause.message if isinstance(cause, OcrkitError) else f"{type(cause).__name__}: {cause}"
        hint_parts = [f"progress so far is saved in {state_path}; run the same command again to resume"]
        if isinstance(cause, OcrkitError) and cause.hint:
            hint_parts.insert(0, cause.hint)
        super().__init__(
            f"{step.call.action} {step.call.resource} ({step.call.kind}) failed: {reason}",
            hint="; ".join(hint_parts),
        )
        self.step = step
        self.cause = cause


def record_result(state: StateLike, step: Step, result: StepResult) -> None:
    key = step.call.resource
    if result.forget:
        state.resources.pop(key, None)
    if result.record is not None:
        old = state.resources.get(key)
        if old is not None and old.id != result.record.id:
            state.resources[retired_key(key, old.id)] = old
        state.resources[key] = result.record
    if result.outputs:
        state.outputs.update(result.outputs)


def execute(plan: ExecutablePlan, state: StateLike, events: Events) -> StateLike:
    """Run every step; save the state after each. Raises StepFailed (state saved) on the first failure."""
    ctx = Context(state, events)
    for step in plan.steps:
        action = step.call.action
        if action != "noop":
            events.step(f"{VERBS.get(action, action)} {step.call.resource} ({step.call.kind})")
        try:
            result = step.run(ctx)
        except KeyboardInterrupt:
            state.save()
            raise
        except Exception as exc:
            state.save()
            raise StepFailed(step, exc, str(getattr(state, "path", "the state file"))) from exc
        result = result or StepResult()
        ctx.set(**result.outputs)
        record_result(state, step, result)
        state.save()
    return state
