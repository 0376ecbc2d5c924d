"""The plan says, as data, which API operations each step will make; these tests run the steps against moto
and check that no step writes anything its planned call does not list (create, redeploy with new weights
and another instance type, the sweeper's deletions, and teardown)."""

from __future__ import annotations

from ocrkit.deploy.pipeline import destroy
from ocrkit.deploy.plan import ExecutablePlan, Step
from ocrkit.deploy.progress import RecordingEvents
from ocrkit.deploy.records import PlannedCall
from ocrkit.deploy.state import load_state
from tests.providers.aws.conftest import WRITE_PREFIXES, Deployer

# botocore's event names use the service id; the plan uses the boto3 client name
CLIENT = {"cloudwatch-logs": "logs", "application-auto-scaling": "application-autoscaling"}
OVERRIDES = {"sagemaker.autoscaling.enabled": True}


class Watch:
    """Wraps steps so that the write calls each one makes are kept beside its planned call."""

    def __init__(self, deployer: Deployer) -> None:
        self.deployer = deployer
        self.seen: list[tuple[PlannedCall, set[str]]] = []

    def step(self, step: Step) -> Step:
        def run(ctx):
            start = len(self.deployer.calls)
            try:
                return step.run(ctx)
            finally:
                made = set()
                for call in self.deployer.calls[start:]:
                    service, operation = call.split(".", 1)
                    if operation.startswith(WRITE_PREFIXES):
                        made.add(f"{CLIENT.get(service, service)}.{operation}")
                self.seen.append((step.call, made))

        return Step(step.call, run)

    def plan(self, plan: ExecutablePlan) -> ExecutablePlan:
        return ExecutablePlan.of(plan.cloud, plan.name, [self.step(s) for s in plan.steps])

    def unlisted(self) -> list[str]:
        return [
            f"{call.action} {call.resource}: {sorted(made - set(call.calls))}"
            for call, made in self.seen
            if not made <= set(call.calls)
        ]


def deploy(deployer: Deployer, watch: Watch, seed: int, **overrides) -> ExecutablePlan:
    provider, plan, state = deployer.plan(seed, **overrides)
    provider.apply(deployer.spec(seed, **overrides), watch.plan(plan), state, RecordingEvents())
    return plan


def test_every_write_is_listed_in_the_plan(deployer: Deployer, monkeypatch) -> None:
    deployer.calls = []
    watch = Watch(deployer)
    first = deploy(deployer, watch, 0, **OVERRIDES)
    assert {c.action for c in first.calls} == {"create"} and all(c.calls for c in first.calls)
    assert {"s3.CreateBucket", "sagemaker.CreateEndpoint", "lambda.CreateFunction"} <= {
        op for c in first.calls for op in c.calls
    }
    # new weights on another instance type: switch, re-register the scaling target, sweep the old ones
    second = deploy(deployer, watch, 1, **OVERRIDES, **{"sagemaker.instance_type": "ml.g4dn.2xlarge"})
    endpoint = next(c for c in second.calls if c.resource == "endpoint")
    assert "sagemaker.UpdateEndpoint" in endpoint.calls and "sagemaker.CreateEndpoint" not in endpoint.calls
    assert any(c.action == "delete" and "sagemaker.DeleteModel" in c.calls for c in second.calls)
    assert watch.unlisted() == []
    assert all(not made for call, made in watch.seen if call.action == "noop")

    # teardown: every deletion step lists what it calls
    provider = deployer.provider(1)
    original = provider.teardown_target

    def watched(name, state):
        target = original(name, state)
        make = target.delete_step
        target.delete_step = lambda key, rec: watch.step(make(key, rec))  # type: ignore[method-assign]
        return target

    monkeypatch.setattr(provider, "teardown_target", watched)
    watch.seen.clear()
    report = destroy(provider, "demo", load_state("demo", "aws"), RecordingEvents())
    assert report.remaining == [] and len(watch.seen) >= 19
    assert watch.unlisted() == []
