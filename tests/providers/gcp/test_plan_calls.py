"""Each GCP plan step carries, as data, the API methods it will call; the dry run's JSON shows the same."""

from __future__ import annotations

from ocrkit.deploy.plan import plan_to_dict


def test_a_fresh_plan_lists_the_calls_of_every_change(deployer, gcp) -> None:
    provider, plan, _ = deployer.plan(0)
    assert [c.resource for c in plan.changes] == [
        "bucket",
        "artifact",
        "model",
        "endpoint",
        "deployed-model",
        "service-account",
        "predict-binding",
        "function",
    ]
    calls = {c.resource: c.calls for c in plan.changes}
    assert calls["bucket"][0] == "storage.buckets.insert"
    assert calls["model"] == ("aiplatform.ModelService.UploadModel",)
    assert calls["deployed-model"] == ("aiplatform.EndpointService.DeployModel",)
    assert calls["function"][-1] == "functions.CreateFunction"
    invoker = next(c for c in plan.calls if c.resource == "invoker")
    assert invoker.action == "noop" and invoker.calls == ()  # private: no binding is made
    shown = {c["resource"]: c["calls"] for c in plan_to_dict(plan)["calls"]}
    assert list(shown["model"]) == ["aiplatform.ModelService.UploadModel"]
