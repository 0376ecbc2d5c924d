"""IAM for a GCP deployment: the function's service account and the two bindings ocrkit makes.

- The service account `<name>-fn@PROJECT.iam.gserviceaccount.com` (IAM Admin). Service accounts have no
  labels, so its description starts with `ocrkit-deployment=<name>`: teardown without a state file lists
  the project's accounts and matches the address and that description.
- predict: `roles/aiplatform.user` for `serviceAccount:<sa>` in the endpoint's own IAM policy (Vertex AI
  v1beta1 `endpoints.setIamPolicy`), nothing on the project: the account may call that endpoint only.
- invoker (only with `--public`): `allUsers` get `roles/run.invoker` on the function's Cloud Run service.
  A private function gets no binding: callers need roles/run.invoker on it and an identity token.

Policies are changed read-modify-write with the etag (version 3 when a binding has a condition); a
concurrent change (ABORTED, HTTP 409) is retried.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ocrkit.providers.gcp.spec import LABEL_KEY

PREDICT_ROLE = "roles/aiplatform.user"
INVOKER_ROLE = "roles/run.invoker"
PUBLIC_MEMBER = "allUsers"
POLICY_VERSION = 3
ATTEMPTS = 5


def account_description(name: str, duty: str = "may only call predict on its endpoint") -> str:
    return f"{LABEL_KEY}={name}: runs the ocrkit gateway function; {duty}"


def is_ours(account: Any, name: str, email: str) -> bool:
    """The account ocrkit made for deployment `name` (its address and the description's marker)."""
    description = str(getattr(account, "description", "") or "")
    return getattr(account, "email", "") == email and description.startswith(f"{LABEL_KEY}={name}:")


def get_policy(client: Any, resource: str) -> Any:
    from google.iam.v1 import iam_policy_pb2, options_pb2

    request = iam_policy_pb2.GetIamPolicyRequest(
        resource=resource, options=options_pb2.GetPolicyOptions(requested_policy_version=POLICY_VERSION)
    )
    return client.get_iam_policy(request=request)


def find_binding(policy: Any, role: str, member: str, title: str | None = None) -> Any:
    """The binding of `role` that holds `member` (with the condition titled `title`, or none), or None."""
    for binding in policy.bindings:
        if binding.role != role or member not in binding.members:
            continue
        has_condition = binding.HasField("condition")
        if title is None and not has_condition:
            return binding
        if title is not None and has_condition and binding.condition.title == title:
            return binding
    return None


def _modify(client: Any, resource: str, change: Callable[[Any], bool]) -> bool:
    """Read the policy, let `change` edit it (True: it did), write it back; retried on a concurrent write."""
    from google.api_core import exceptions as gx
    from google.iam.v1 import iam_policy_pb2

    for attempt in range(ATTEMPTS):
        policy = get_policy(client, resource)
        if not change(policy):
            return False
        if any(b.HasField("condition") for b in policy.bindings):
            policy.version = POLICY_VERSION
        try:
            client.set_iam_policy(
                request=iam_policy_pb2.SetIamPolicyRequest(resource=resource, policy=policy)
            )
            return True
        except gx.Conflict:  # ABORTED (a concurrent change; HTTP 409) included
            if attempt == ATTEMPTS - 1:
                raise
    return False  # pragma: no cover


def _drop(policy: Any, role: str, member: str, title: str | None) -> bool:
    changed = False
    for binding in list(policy.bindings):
        if binding.role != role or member not in binding.members:
            continue
        conditioned = binding.HasField("condition")
        if (title is None) != (not conditioned) or (title is not None and binding.condition.title != title):
            continue
        binding.members.remove(member)
        changed = True
        if not binding.members:
            policy.bindings.remove(binding)
    return changed


def grant(
    client: Any, resource: str, role: str, member: str, condition: dict[str, str] | None = None
) -> bool:
    """Add `member` to `role` on `resource` (with `condition`: title, expression, description); replaces
    the member's binding under the same condition title (an older endpoint). True when the policy changed."""
    from google.type import expr_pb2

    title = condition["title"] if condition else None

    def change(policy: Any) -> bool:
        existing = find_binding(policy, role, member, title)
        if existing is not None and (
            condition is None or existing.condition.expression == condition["expression"]
        ):
            return False
        _drop(policy, role, member, title)
        binding = policy.bindings.add(role=role, members=[member])
        if condition is not None:
            binding.condition.CopyFrom(expr_pb2.Expr(**condition))
        return True

    return _modify(client, resource, change)


def revoke(client: Any, resource: str, role: str, member: str, title: str | None = None) -> bool:
    """Remove `member` from `role` on `resource` (the binding under condition `title`, or the
    unconditioned one). True when the policy changed."""
    return _modify(client, resource, lambda policy: _drop(policy, role, member, title))
