"""A grant added by hand to the endpoint's IAM policy (ocrkit's endpoint holds one binding: the function's
service account may predict) is drift: `status` flags it, the plan shows old -> new, and the next deploy
removes it, as the AWS roles' hand-added policies are (tests/providers/aws/test_status_drift.py)."""

from __future__ import annotations

from ocrkit.deploy.state import open_state
from ocrkit.providers.gcp import iam_policy as iam

HAND = ("roles/aiplatform.admin", "user:mallory@example.com")


def test_a_hand_made_grant_on_the_endpoint_is_drift_in_status_and_plan(deployer, policies) -> None:
    deployer.deploy(0)
    state = open_state(deployer.name, "gcp")
    endpoint = state.resources["endpoint"].id
    iam.grant(policies, endpoint, *HAND)

    status = {key: words for key, _, words in deployer.provider(0).status(state).resources}
    assert status["predict-binding"].startswith("DRIFT: user:mallory@example.com: roles/aiplatform.admin")

    _, plan, _ = deployer.plan(0)
    changes = {c.resource: c for c in plan.changes}
    assert set(changes) == {"predict-binding"}
    binding = changes["predict-binding"]
    assert binding.action == "update"
    assert "drift: " in binding.summary and "mallory" in binding.summary and " → " in binding.summary
    assert binding.details["drift"] == ["user:mallory@example.com: roles/aiplatform.admin"]

    deployer.deploy(0)
    roles = [(role, members) for role, members, _ in policies.bindings(endpoint)]
    assert len(roles) == 1 and roles[0][0] == iam.PREDICT_ROLE
    assert [m.split(":")[0] for m in roles[0][1]] == ["serviceAccount"]
    state = open_state(deployer.name, "gcp")
    status = {key: words for key, _, words in deployer.provider(0).status(state).resources}
    assert not status["predict-binding"].startswith("DRIFT")
    _, plan, _ = deployer.plan(0)
    assert "predict-binding" not in {c.resource for c in plan.changes}
