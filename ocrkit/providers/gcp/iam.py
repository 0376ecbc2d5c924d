"""IAM: the function's service account (made by ocrkit, marked in its description), its
roles/aiplatform.user binding on the endpoint only, and the function's invoker binding (--public:
allUsers get roles/run.invoker on its Cloud Run service; private: no binding at all).

Plan, apply, delete, describe and find for `iam:service-account` and `iam:binding`. The policy edits
themselves (etags, conditions, retries) are in ocrkit.providers.gcp.iam_policy.
"""

from __future__ import annotations

from typing import Any

from ocrkit.deploy.plan import Context, ResourceModel, Step, StepResult
from ocrkit.deploy.records import Events, PlannedCall, ResourceRecord
from ocrkit.deploy.resource import Described, Family, Found
from ocrkit.providers.gcp import iam_policy as iam
from ocrkit.providers.gcp.planning import GcpAccess, GcpPlanContext, get_request, labelled, service_name
from ocrkit.providers.gcp.session import is_not_found
from ocrkit.providers.gcp.spec import LABEL_KEY


def plan_service_account(p: GcpPlanContext) -> Step:
    email = p.names.service_account
    duty = "read its model object" if p.d.holds_model else "call predict on the endpoint"
    return plan_account(
        p,
        "service-account",
        email,
        display=f"ocrkit {p.names.name} gateway",
        duty=f"may only {duty}",
        output="service_account",
        summary=f"{email}: the function runs as it; it may only {duty}",
        runs="the function",
    )


def plan_account(
    p: GcpPlanContext,
    resource: str,
    email: str,
    *,
    display: str,
    duty: str,
    output: str,
    summary: str,
    runs: str,
) -> Step:
    """A service account ocrkit runs something as (`runs`: the gateway function, the trigger): kept when it
    exists (a foreign one is warned about and left at teardown), else created."""
    p.wanted[resource] = email
    existing = None
    try:
        existing = p.gcp.iam().get_service_account(name=f"projects/{p.names.project}/serviceAccounts/{email}")
    except Exception as exc:
        if not is_not_found(exc):
            raise
    if existing is not None:
        attrs = {"unique_id": existing.unique_id, "ours": iam.is_ours(existing, p.names.name, email)}
        if not attrs["ours"]:
            p.warnings.append(
                f"the service account {email} exists and was not made by ocrkit for {p.names.name}: "
                f"{runs} will run as it, and teardown will leave it"
            )
        record = ResourceRecord("iam:service-account", email, attrs)
        return Step(
            PlannedCall(resource, "iam:service-account", "noop", summary),
            lambda ctx: StepResult(record=record, outputs={output: email}),
        )
    description = iam.account_description(p.names.name, duty)
    return create_account_step(p, resource, email, display[:100], description, output, summary)


def create_account_step(
    p: GcpPlanContext, resource: str, email: str, display: str, description: str, output: str, summary: str
) -> Step:
    """The step that creates a service account ocrkit runs something as (the gateway's, the trigger's);
    its unique id is recorded so that teardown deletes only the account it made."""
    account_id = email.split("@")[0]

    def run(ctx: Context) -> StepResult:
        from google.cloud import iam_admin_v1

        request = iam_admin_v1.CreateServiceAccountRequest(
            name=f"projects/{p.names.project}",
            account_id=account_id,
            service_account=iam_admin_v1.ServiceAccount(display_name=display, description=description),
        )
        made = p.gcp.iam().create_service_account(request=request)
        attrs = {"unique_id": made.unique_id, "ours": True}
        return StepResult(
            record=ResourceRecord("iam:service-account", made.email or email, attrs),
            outputs={output: made.email or email},
        )

    want = {"account_id": account_id, "display_name": display, "description": description}
    return Step(
        PlannedCall(
            resource, "iam:service-account", "create", summary, want, ("iam.serviceAccounts.create",)
        ),
        run,
    )


def _predict_record(p: GcpPlanContext, endpoint: str) -> ResourceRecord:
    return ResourceRecord(
        "iam:binding",
        f"{endpoint}#{iam.PREDICT_ROLE}",
        {
            "resource": endpoint,
            "role": iam.PREDICT_ROLE,
            "member": f"serviceAccount:{p.names.service_account}",
        },
    )


def added_by_hand(policy: Any, member: str, also: str | None = None) -> list[tuple[str, str]]:
    """(role, member) pairs on the endpoint's IAM policy other than ocrkit's bindings (the gateway's, and
    `also`: the bucket trigger's account, with --trigger gcs): the drift."""
    extra = []
    ours = {(iam.PREDICT_ROLE, member)} | ({(iam.PREDICT_ROLE, also)} if also else set())
    for binding in policy.bindings:
        for who in binding.members:
            if (binding.role, who) not in ours:
                extra.append((binding.role, who))
    return sorted(set(extra))


def _pairs(pairs: list[tuple[str, str]]) -> str:
    return ", ".join(f"{who}: {role}" for role, who in pairs)


def plan_predict_binding(p: GcpPlanContext) -> Step:
    member = f"serviceAccount:{p.names.service_account}"
    p.wanted["predict-binding"] = None
    summary = f"{member}: {iam.PREDICT_ROLE} on the endpoint only (its IAM policy, not the project's)"
    endpoint = p.seen.endpoint
    action = "create"
    extra: list[tuple[str, str]] = []
    present = False
    if endpoint is not None:
        policy = iam.get_policy(p.gcp.endpoint_iam(), endpoint.name)
        present = iam.find_binding(policy, iam.PREDICT_ROLE, member) is not None
        trigger = f"serviceAccount:{p.names.trigger_account}" if p.d.triggered else None
        extra = added_by_hand(policy, member, trigger)
        if present and not extra:
            record = _predict_record(p, endpoint.name)
            return Step(
                PlannedCall("predict-binding", "iam:binding", "noop", summary),
                lambda ctx: StepResult(record=record),
            )
        if extra:
            action = "update"
            old = _pairs(extra + ([(iam.PREDICT_ROLE, member)] if present else []))
            summary += f"; drift: {old} → {member}: {iam.PREDICT_ROLE} (remove what was added by hand)"

    def run(ctx: Context) -> StepResult:
        endpoint_name = ctx.get("endpoint")
        client = p.gcp.endpoint_iam()
        if not present:
            iam.grant(client, endpoint_name, iam.PREDICT_ROLE, member)
        for role, who in extra:  # drift: back to ocrkit's one binding on ocrkit's endpoint
            iam.revoke(client, endpoint_name, role, who)
        return StepResult(record=_predict_record(p, endpoint_name))

    want = {"member": member, "role": iam.PREDICT_ROLE, "resource": "the endpoint"}
    if extra:
        want["drift"] = [f"{who}: {role}" for role, who in extra]
    calls = ("aiplatform.EndpointService.SetIamPolicy",)
    return Step(PlannedCall("predict-binding", "iam:binding", action, summary, want, calls), run)


def _invoker_record(p: GcpPlanContext, service: str, public: bool) -> ResourceRecord:
    return ResourceRecord(
        "iam:binding",
        f"{service}#{iam.INVOKER_ROLE}",
        {
            "resource": service,
            "role": iam.INVOKER_ROLE,
            "member": iam.PUBLIC_MEMBER if public else None,
            "public": public,
        },
    )


def plan_invoker(p: GcpPlanContext) -> Step:
    public = p.d.spec.function.public
    p.wanted["invoker"] = None
    summary = (
        f"PUBLIC: anyone with the URL can call the function ({iam.PUBLIC_MEMBER}: {iam.INVOKER_ROLE} "
        "on its Cloud Run service)"
        if public
        else f"private: no public binding; callers need {iam.INVOKER_ROLE} on it and an identity token"
    )
    existing = p.seen.function
    action = "create"
    if existing is None and not public:  # a new private function: nothing to grant or remove

        def private(ctx: Context) -> StepResult:
            service = ctx.values.get("service") or service_name(p.names)
            return StepResult(record=_invoker_record(p, service, False))

        return Step(PlannedCall("invoker", "iam:binding", "noop", summary), private)
    if existing is not None:
        service = service_name(p.names, existing)
        try:
            policy = p.gcp.run_iam().get_iam_policy(request=get_request(service))
            is_public = iam.find_binding(policy, iam.INVOKER_ROLE, iam.PUBLIC_MEMBER) is not None
        except Exception as exc:
            if not is_not_found(exc):
                raise
            is_public = False
        if is_public == public:
            record = _invoker_record(p, service, public)
            return Step(
                PlannedCall("invoker", "iam:binding", "noop", summary),
                lambda ctx: StepResult(record=record),
            )
        action = "create" if public else "delete"
        if not public:
            summary = f"remove the public binding ({iam.PUBLIC_MEMBER}: {iam.INVOKER_ROLE}); " + summary

    def run(ctx: Context) -> StepResult:
        service = ctx.values.get("service") or service_name(p.names)
        client = p.gcp.run_iam()
        if public:
            iam.grant(client, service, iam.INVOKER_ROLE, iam.PUBLIC_MEMBER)
        else:
            iam.revoke(client, service, iam.INVOKER_ROLE, iam.PUBLIC_MEMBER)
        return StepResult(record=_invoker_record(p, service, public))

    calls = ("run.services.setIamPolicy",)
    return Step(PlannedCall("invoker", "iam:binding", action, summary, {}, calls), run)


def delete_service_account(a: GcpAccess, rec: ResourceRecord, events: Events) -> None:
    if rec.attrs.get("ours") is False:
        a.notes.append(f"the service account {rec.id} was not made by ocrkit: it is left as it is")
        return
    a.gcp.iam().delete_service_account(name=f"projects/{a.names.project}/serviceAccounts/{rec.id}")


def delete_binding(a: GcpAccess, rec: ResourceRecord, events: Events) -> None:
    member, role, resource = rec.attrs.get("member"), rec.attrs.get("role"), rec.attrs.get("resource")
    if not member or not role or not resource:
        return  # a private function's invoker: no binding was made
    if role == iam.PREDICT_ROLE:
        iam.revoke(a.gcp.endpoint_iam(), resource, role, member)
    elif role == iam.INVOKER_ROLE:
        iam.revoke(a.gcp.run_iam(), resource, role, member)


def counted(rec: ResourceRecord) -> bool:
    """Whether teardown deletes something for this record (not: a binding never made, an account not ours)."""
    if rec.kind == "iam:binding":
        return bool(rec.attrs.get("member"))
    if rec.kind == "iam:service-account":
        return rec.attrs.get("ours") is not False
    return True


def describe_service_account(a: GcpAccess, rec: ResourceRecord) -> Described:
    name = f"projects/{a.gcp.project}/serviceAccounts/{rec.id}"
    try:
        got = a.gcp.iam().get_service_account(name=name)
    except Exception as exc:
        if not is_not_found(exc):
            raise
        return Described("missing", healthy=False)
    return Described("disabled" if got.disabled else "exists", healthy=not got.disabled)


def describe_binding(a: GcpAccess, rec: ResourceRecord) -> Described:
    member, role, resource = rec.attrs.get("member"), rec.attrs.get("role"), rec.attrs.get("resource")
    if not member:
        return Described("private: no public binding (callers need roles/run.invoker)")
    client = a.gcp.endpoint_iam() if role == iam.PREDICT_ROLE else a.gcp.run_iam()
    try:
        found = iam.find_binding(iam.get_policy(client, resource), role, member)
    except Exception as exc:
        if not is_not_found(exc):
            raise
        found = None
    if found is None:
        return Described(f"missing: {member} has no {role} on {resource}", healthy=False)
    if role == iam.PREDICT_ROLE:
        trigger = f"serviceAccount:{a.names.trigger_account}"  # --trigger gcs: ocrkit's too
        extra = added_by_hand(iam.get_policy(client, resource), member, trigger)
        if extra:
            return Described(
                f"DRIFT: {_pairs(extra)} added by hand on the endpoint (the next deploy leaves only "
                f"{member}: {role})",
                healthy=False,
            )
        return Described(f"{member}: {role} on the endpoint")
    return Described(f"PUBLIC: {member}: {role}")


def owner_service_account(a: GcpAccess, rec: ResourceRecord) -> bool | None:
    """A service account has no labels: it is ours when it carries the description ocrkit writes for this
    deployment, or is the very account the state recorded (same unique id) as ours."""
    try:
        got = a.gcp.iam().get_service_account(name=f"projects/{a.names.project}/serviceAccounts/{rec.id}")
    except Exception as exc:
        if not is_not_found(exc):
            raise
        return None
    if iam.is_ours(got, a.names.name, rec.id):
        return True
    recorded = rec.attrs.get("unique_id")
    return bool(recorded) and rec.attrs.get("ours") is True and str(got.unique_id) == str(recorded)


def discover(a: GcpAccess) -> Found:
    """The service account (its address + the description's marker) and its binding on the endpoint."""
    n = a.names
    found: Found = []
    accounts = a.gcp.iam().list_service_accounts(request={"name": f"projects/{n.project}"})
    for account in accounts:
        if iam.is_ours(account, n.name, n.service_account):
            attrs = {"unique_id": account.unique_id, "ours": True}
            found.append(("service-account", ResourceRecord("iam:service-account", account.email, attrs)))
    member = f"serviceAccount:{n.service_account}"
    request = {"parent": n.parent, "filter": f'labels.{LABEL_KEY}="{n.name}"'}
    for endpoint in a.gcp.endpoints().list_endpoints(request=request):
        if not labelled(endpoint, n.name):
            continue
        policy = iam.get_policy(a.gcp.endpoint_iam(), endpoint.name)
        if iam.find_binding(policy, iam.PREDICT_ROLE, member) is not None:
            attrs = {"resource": endpoint.name, "role": iam.PREDICT_ROLE, "member": member}
            rid = f"{endpoint.name}#{iam.PREDICT_ROLE}"
            found.append(("predict-binding", ResourceRecord("iam:binding", rid, attrs)))
    return found


FAMILY = Family[GcpPlanContext, GcpAccess](
    name="iam",
    models=(
        ResourceModel("service-account", "iam:service-account"),
        ResourceModel("predict-binding", "iam:binding", ("service-account", "endpoint")),
        ResourceModel("invoker", "iam:binding", ("function",)),
    ),
    plan={
        "service-account": plan_service_account,
        "predict-binding": plan_predict_binding,
        "invoker": plan_invoker,
    },
    delete={"iam:service-account": delete_service_account, "iam:binding": delete_binding},
    describe={"iam:service-account": describe_service_account, "iam:binding": describe_binding},
    discover=discover,
    # the invoker binding lives on the function's Cloud Run service: removed before the function
    rank={"iam:binding": 1, "iam:service-account": 5},
    owner={"iam:service-account": owner_service_account},
    delete_calls={
        "iam:service-account": ("iam.serviceAccounts.delete",),
        "iam:binding": ("aiplatform.EndpointService.SetIamPolicy", "run.services.setIamPolicy"),
    },
)
