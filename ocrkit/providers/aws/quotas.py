"""Service Quotas: is the account allowed to run this SageMaker instance type on an endpoint?

A new account's quota for GPU endpoint instances ("ml.g4dn.xlarge for endpoint usage") is often 0, and
CreateEndpoint then fails after the model and config exist. The deploy checks first, when it can: the
quota API may be unavailable (an emulator, a region without it) or denied (no
servicequotas:ListServiceQuotas); then it says it could not check and goes on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SERVICE_CODE = "sagemaker"


@dataclass(frozen=True)
class QuotaCheck:
    quota_name: str
    value: float | None  # None: could not tell
    needed: int
    message: str

    @property
    def known(self) -> bool:
        return self.value is not None

    @property
    def enough(self) -> bool:
        return self.value is None or self.value >= self.needed


def quota_name(instance_type: str) -> str:
    return f"{instance_type} for endpoint usage"


def _find(client: Any, operation: str, name: str) -> dict | None:
    paginator = client.get_paginator(operation)
    for page in paginator.paginate(ServiceCode=SERVICE_CODE):
        for quota in page.get("Quotas", []):
            if str(quota.get("QuotaName", "")).strip().lower() == name.lower():
                return quota
    return None


def check_endpoint_quota(client: Any, instance_type: str, needed: int) -> QuotaCheck:
    """Look the quota up (applied value first, then AWS's default); never raises."""
    name = quota_name(instance_type)
    try:
        quota = _find(client, "list_service_quotas", name) or _find(
            client, "list_aws_default_service_quotas", name
        )
    except Exception as exc:  # any failure means "could not check", never "stop"
        reason = _reason(exc)
        return QuotaCheck(
            name, None, needed, f"could not check the Service Quotas for '{name}' ({reason}); continuing"
        )
    if quota is None:
        return QuotaCheck(
            name, None, needed, f"Service Quotas lists no '{name}'; continuing without the check"
        )
    value = float(quota.get("Value", 0))
    if value < needed:
        return QuotaCheck(
            name,
            value,
            needed,
            f"this account's quota '{name}' is {value:g}, and the endpoint needs {needed}: SageMaker "
            "would refuse to create it. New accounts often start at 0 for GPU instances. Request an "
            f"increase in the Service Quotas console (AWS services > Amazon SageMaker > '{name}'), or "
            "serve without a GPU meanwhile: --serving cpu-endpoint, serverless-endpoint or function "
            "(`ocrkit cost --serving all` compares them)",
        )
    return QuotaCheck(name, value, needed, f"quota '{name}' is {value:g}; the endpoint needs {needed}")


def _reason(exc: BaseException) -> str:
    response = getattr(exc, "response", None) or {}
    error = response.get("Error") or {}
    code = error.get("Code")
    if code in ("AccessDeniedException", "AccessDenied"):
        return "servicequotas:ListServiceQuotas was denied"
    if str(code).isdigit():
        return f"the Service Quotas API answered HTTP {code}"
    if code:
        return f"{code}"
    return type(exc).__name__
