"""Each GCP plan step carries, as data, the API methods it will call; the dry run's JSON shows the same."""

from __future__ import annotations

import json
import zipfile

from ocrkit.deploy.plan import plan_to_dict
from ocrkit.providers.gcp import package
from ocrkit.providers.gcp.vertex import batching_text


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


def test_the_plan_shows_torchserve_batching_and_the_archive_carries_it(deployer, gcp) -> None:
    _, plan, _ = deployer.plan(0)
    model = next(c for c in plan.changes if c.resource == "model")
    assert "TorchServe batches up to 8 requests arriving within 10 ms" in model.summary
    assert (model.details["batch_size"], model.details["max_batch_delay_ms"]) == (8, 10)
    built = package.build_mar(
        deployer.weights[0], deployer.build_dirs[0] / "batch-1.mar", package.Batching(1)
    )
    with zipfile.ZipFile(built.path) as zf:
        assert json.loads(zf.read("MAR-INF/MANIFEST.json"))["model"]["configFile"] == "model-config.yaml"
        assert "batchSize: 1\n" in zf.read("model-config.yaml").decode()
    assert "batching off" in batching_text(1, 10)
