"""The moto server the AWS tests run: `python tests/providers/aws/moto_server.py -H 127.0.0.1 -p PORT`.

It is moto's own server with two corrections where moto 5.2 does not behave like AWS, so that the tests
can exercise what ocrkit does on AWS:

- SageMaker `UpdateEndpoint` is missing from moto (it answers 500). Added here: the endpoint switches to
  the new endpoint config and stays InService, as AWS's blue/green update ends.
- moto applies a bucket policy's conditional statements whatever their condition (it evaluates only
  `StringEquals`, so a TLS-only `Deny` with `Bool aws:SecureTransport = false` refuses every object
  request). Here `Bool` is evaluated, a statement applies only when its condition holds, and requests
  count as made over TLS, as boto3's are against AWS.

`--plain` runs moto unchanged (one test proves that the deploy order works with moto's strict Deny).
"""

from __future__ import annotations

import sys


def patch_moto() -> None:
    from moto.core.common_types import TYPE_RESPONSE  # noqa: F401 - moto is importable
    from moto.iam import access_control, policy_conditions
    from moto.s3 import models as s3_models
    from moto.sagemaker.responses import SageMakerResponse

    def update_endpoint(self):
        from moto.core.responses import ActionResult

        backend = self.sagemaker_backend
        name = self._get_param("EndpointName")
        config_name = self._get_param("EndpointConfigName")
        backend.describe_endpoint(name)  # raises the ValidationException AWS gives for an unknown endpoint
        config = backend.describe_endpoint_config(config_name)
        endpoint = backend.endpoints[name]
        endpoint.endpoint_config_name = config_name
        endpoint.production_variants = endpoint._process_production_variants(config["ProductionVariants"])
        endpoint.endpoint_status = "InService"
        return ActionResult({"EndpointArn": endpoint.arn})

    SageMakerResponse.update_endpoint = update_endpoint

    def bool_operation(expected, actual) -> bool:
        values = expected if isinstance(expected, list) else [expected]
        return str(actual).lower() in [str(v).lower() for v in values]

    policy_conditions.CONDITION_OPERATIONS.setdefault("Bool", bool_operation)

    statement_cls = access_control.IAMPolicyStatement
    original = statement_cls.is_action_permitted

    def is_action_permitted(self, action, resource="*", principal=None, incoming_condition_values=None):
        if self._statement.get("Condition") and not self._check_conditions(incoming_condition_values):
            return access_control.PermissionResult.NEUTRAL
        return original(self, action, resource, principal, incoming_condition_values)

    statement_cls.is_action_permitted = is_action_permitted

    def get_permission(self, action, resource):
        if self.policy is None:
            return access_control.PermissionResult.NEUTRAL
        policy = access_control.IAMPolicy(self.policy.decode())
        return policy.is_action_permitted(
            action, resource, incoming_condition_values={"aws:SecureTransport": "true"}
        )

    s3_models.FakeBucket.get_permission = get_permission


def main(argv: list[str]) -> None:
    if "--plain" in argv:
        argv = [a for a in argv if a != "--plain"]
    else:
        patch_moto()
    from moto.server import main as moto_main

    moto_main(argv)


if __name__ == "__main__":
    main(sys.argv[1:])
