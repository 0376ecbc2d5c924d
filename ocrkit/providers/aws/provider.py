"""`AwsProvider`: plan / apply / status / invoke / teardown for the report's AWS architecture.

S3 (the model artifact) -> SageMaker real-time endpoint (PyTorch container, ml.g4dn.xlarge by default, with
target-tracking autoscaling) <- Lambda (the gateway, via sagemaker-runtime) <- API Gateway HTTP API
(`POST /predict`). The stages follow ocrkit.deploy: a local build (artifact, zip, policies), a plan made of
describe/list calls, a sweeper for what is no longer wanted, and the executor that runs the steps and writes
the state after each one.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from ocrkit.deploy.cloud import CloudProvider, CloudTeardown
from ocrkit.deploy.plan import ExecutablePlan, is_retired, sweep
from ocrkit.deploy.pricing import hourly_now, try_estimate, unit_price
from ocrkit.deploy.records import InvokeResult, StateLike, StatusReport
from ocrkit.deploy.serving import ServingOption, previous_hourly, serving_of, switching
from ocrkit.deploy.spec import LoadedSpec
from ocrkit.errors import OcrkitError
from ocrkit.providers.aws import package, trigger
from ocrkit.providers.aws.desired import Desired, desired_state
from ocrkit.providers.aws.function_package import FunctionBuild, build_function
from ocrkit.providers.aws.function_wheels import WheelTarget
from ocrkit.providers.aws.names import Names
from ocrkit.providers.aws.planner import REGISTRY, discover, plan_steps
from ocrkit.providers.aws.planning import AwsAccess, AwsPlanContext, Options, gone
from ocrkit.providers.aws.quotas import check_endpoint_quota
from ocrkit.providers.aws.serving import is_accelerated, plan_cost
from ocrkit.providers.aws.session import AwsSession, aws_errors, make_session, translate
from ocrkit.providers.aws.spec import AwsDeploySpec, load_aws_spec
from ocrkit.providers.aws.usage import deployment_usage, running_usage
from ocrkit.weights import demo_weights_notes


@dataclass
class Built:
    desired: Desired
    names: Names


class AwsProvider(CloudProvider):
    cloud: ClassVar[str] = "aws"
    spec_type = AwsDeploySpec
    spec_label = "an AWS"

    def __init__(
        self,
        *,
        region: str | None = None,
        profile: str | None = None,
        session: AwsSession | None = None,
        build_dir: Path | None = None,
        options: Options | None = None,
    ) -> None:
        self.region = region
        self.profile = profile
        # used when neither the command line nor the state says (the config's region: and profile:)
        self.default_region: str | None = None
        self.default_profile: str | None = None
        self._session = session
        self.build_dir = build_dir
        self.options = options or Options()

    # -- specs and sessions -------------------------------------------------------------------------

    @staticmethod
    def load_spec(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> LoadedSpec:
        return load_aws_spec(path, overrides)

    def session(self, *, region: str | None = None, profile: str | None = None) -> AwsSession:
        if self._session is None:
            self._session = make_session(profile=profile or self.profile, region=region or self.region)
        return self._session

    def _session_for_spec(self, spec: AwsDeploySpec) -> AwsSession:
        return self.session(region=self.region or spec.region, profile=self.profile or spec.profile)

    def _session_for_state(self, state: StateLike | None) -> AwsSession:
        outputs = state.outputs if state is not None else {}
        return self.session(
            region=self.region or outputs.get("region") or self.default_region,
            profile=self.profile or outputs.get("profile") or self.default_profile,
        )

    # -- build --------------------------------------------------------------------------------------

    def build(self, loaded: LoadedSpec, aws: AwsSession) -> Built:
        """The local build stage: artifact, zip, policies and names. No remote call but the account id."""
        spec: AwsDeploySpec = loaded.spec
        names = Names(spec.name, aws.account_id, aws.region, aws.partition)
        if spec.serving == ServingOption.function:
            fn = self.build_function(spec)
            return Built(desired_state(spec, names, fn.model, fn.zip), names)
        folder = self.build_folder(spec)
        outputs = package.build_all(self.weights_path(spec), folder)
        return Built(desired_state(spec, names, outputs.model, outputs.function), names)

    def build_function(self, spec: AwsDeploySpec) -> FunctionBuild:
        """`--serving function`: the ONNX model archive and the model function's zip, every size limit
        checked (no cloud call; the package index is read once for the wheels)."""
        target = WheelTarget(spec.lambda_.runtime, spec.lambda_.architecture)
        memory = spec.lambda_.memory_for(spec.serving)
        return build_function(self.weights_path(spec), target, memory, self.build_folder(spec))

    def check_inputs(self, loaded: Any) -> None:
        """Local checks before any cloud call: the weights; for `--serving function` also the ONNX extra,
        the model's size and the zip's (built here, reused by the plan)."""
        super().check_inputs(loaded)
        spec: AwsDeploySpec = self._loaded(loaded).spec
        if spec.serving == ServingOption.function:
            self.build_function(spec)

    # -- plan ---------------------------------------------------------------------------------------

    def plan(self, spec: Any, state: StateLike | None) -> ExecutablePlan:
        loaded = self._loaded(spec)
        s: AwsDeploySpec = loaded.spec
        aws = self._session_for_spec(s)
        built = self.build(loaded, aws)
        quota_client = aws.client("service-quotas", attempts=1, read_timeout=15)
        planner = AwsPlanContext(
            aws,
            built.desired,
            state,
            quota=lambda needed: check_endpoint_quota(
                quota_client, built.desired.shape.instance_type or s.sagemaker.instance_type, needed
            ),
            options=self.options,
        )
        access = AwsAccess(aws, built.names, self.options)
        n = built.names
        with aws_errors("plan the deployment (describe the existing resources)"):
            steps = plan_steps(planner)
            steps, foreign = self._check_foreign(
                steps,
                REGISTRY,
                access,
                {
                    "bucket": n.bucket,
                    "sagemaker_role": n.sagemaker_role,
                    "lambda_role": n.lambda_role,
                    "endpoint_log_group": n.endpoint_log_group,
                    "lambda_log_group": n.lambda_log_group,
                    "api_log_group": n.api_log_group,
                    "endpoint": n.endpoint,
                    "function": n.function,
                    "trigger_bucket": n.trigger_bucket,
                    "trigger_queue": n.trigger_queue,
                    "trigger_log_group": n.trigger_log_group,
                    "trigger_role": n.trigger_role,
                    "trigger_function": n.trigger_function,
                },
            )
        target = self._teardown(access)
        steps += sweep(
            state, built.desired.wanted(), self._deleter(target), rank=lambda r: REGISTRY.rank(r.kind)
        )
        steps = [self._guarded(step) for step in steps]
        shape = built.desired.shape
        list_estimate: tuple[Any, str | None] = (None, None)
        if s.serving == ServingOption.gpu_endpoint:  # the report's option: priced as it always was
            list_estimate = try_estimate(
                deployment_usage(
                    s, aws.region, artifact_bytes=built.desired.artifact.size, source=str(loaded.path)
                )
            )
        cost = plan_cost(s, shape, aws.region, list_estimate)
        warnings = list(shape.notes) + list(planner.warnings)
        warnings += demo_weights_notes(self.weights_path(s))
        if s.api.auth == "none":
            warnings.insert(
                0,
                f"the API is public: anyone with the URL can call it; it is throttled to "
                f"{s.api.throttling_rate_limit:g} requests/s (burst {s.api.throttling_burst_limit}). "
                "Set api.auth: iam to require SigV4-signed requests",
            )
        warnings += list(cost.notes)
        if s.trigger.enabled:
            warnings.append(
                "the S3 trigger is not priced in this plan: each uploaded image adds one Lambda invocation "
                f"({built.desired.trigger_memory_mb} MB x its duration), S3 GET/PUT requests and, for the "
                "endpoint options, one endpoint invocation; `ocrkit cost --batch N` prices the triggered "
                "path per image"
            )
        switch = switching(state, s.serving)
        return ExecutablePlan.of(
            "aws",
            s.name,
            steps,
            hourly_cost=cost.hourly,
            monthly_cost=cost.monthly,
            warnings=warnings,
            foreign=foreign,
            serving=s.serving.value,
            switching_from=switch,
            previous_hourly=previous_hourly(state) if switch else None,
        )

    def _translate_error(self, exc: Exception, action: str) -> Exception | None:
        from botocore import exceptions as bx

        if isinstance(exc, bx.BotoCoreError | bx.ClientError) or type(exc).__module__.startswith("boto3"):
            return translate(exc, action)
        return None

    # -- apply --------------------------------------------------------------------------------------

    def record_outputs(self, loaded: LoadedSpec, state: StateLike) -> None:
        aws = self._session_for_spec(loaded.spec)
        state.outputs.update({"region": aws.region, "account": aws.account_id, "auth": loaded.spec.api.auth})
        if loaded.spec.profile or self.profile:
            state.outputs["profile"] = self.profile or loaded.spec.profile

    # -- status -------------------------------------------------------------------------------------

    def status(self, state: StateLike) -> StatusReport:
        aws = self._session_for_state(state)
        access = AwsAccess(aws, Names(state.name, aws.account_id, aws.region, aws.partition), self.options)
        rows: list[tuple[str, str, str]] = []
        healthy = bool(state.resources)
        instances, instance_type, serverless = 0, None, False
        with aws_errors("read the deployment's status"):
            for key, rec in state.resources.items():
                described = REGISTRY.describe(access, rec)
                words = described.words
                if is_retired(key) and not getattr(state, "from_tags", False):
                    words += " (left over from an earlier deploy; the next deploy removes it)"
                rows.append((key, rec.id, words))
                healthy = healthy and described.healthy and not described.words.startswith("missing")
                if described.attrs.get("instance_type"):
                    instances, instance_type = described.running, described.attrs["instance_type"]
                serverless = serverless or bool(described.attrs.get("serverless"))
        usage = running_usage(state.name, aws.region, instance_type, instances)
        hourly = hourly_now(usage)
        if hourly is None and instance_type:  # CPU instances are priced in the serving-options catalog
            unit = unit_price("aws", aws.region, f"sagemaker.hosting.{instance_type}")
            hourly = None if unit is None else unit * instances
        seen = None
        if serverless:
            seen = ServingOption.serverless_endpoint
        elif instance_type:
            seen = ServingOption.gpu_endpoint if is_accelerated(instance_type) else ServingOption.cpu_endpoint
        return StatusReport(
            cloud="aws",
            name=state.name,
            resources=rows,
            url=state.outputs.get("url"),
            hourly_cost=hourly,
            healthy=healthy,
            serving=serving_of(state, seen),
        )

    # -- invoke -------------------------------------------------------------------------------------

    def invoke(self, state: StateLike, body: bytes, content_type: str) -> InvokeResult:
        url = state.outputs.get("invoke_url")
        if not url:
            raise OcrkitError(
                f"deployment {state.name} has no URL in its state",
                hint=f"run ocrkit deploy --cloud aws --name {state.name} first",
            )
        headers = {"Content-Type": content_type, "Accept": "application/json"}
        if state.outputs.get("auth") == "iam":
            headers = self._signed_headers(state, url, body, headers)
        request = urllib.request.Request(url, data=body, method="POST", headers=headers)
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - the deployment's own URL
                data = response.read()
                status = response.status
                ctype = response.headers.get("Content-Type", "")
        except urllib.error.HTTPError as exc:
            data = exc.read()
            status = exc.code
            ctype = exc.headers.get("Content-Type", "") if exc.headers else ""
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise OcrkitError(f"could not reach {url}: {getattr(exc, 'reason', exc)}") from None
        latency = (time.perf_counter() - started) * 1000.0
        return InvokeResult(status=status, body=data, content_type=ctype, latency_ms=latency)

    def _signed_headers(
        self, state: StateLike, url: str, body: bytes, headers: dict[str, str]
    ) -> dict[str, str]:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        aws = self._session_for_state(state)
        request = AWSRequest(method="POST", url=url, data=body, headers=dict(headers))
        with aws_errors("sign the request"):
            SigV4Auth(aws.credentials(), "execute-api", aws.region).add_auth(request)
        return dict(request.headers.items())

    # -- teardown (run by ocrkit.deploy.pipeline.destroy) ---------------------------------------------

    def _teardown(self, access: AwsAccess) -> CloudTeardown:
        return CloudTeardown(
            registry=REGISTRY,
            access=access,
            find=lambda: discover(access),
            errors=aws_errors,
            guard=self._guarded,
            gone=gone,
            counted=lambda rec: trigger.counted(access, rec),
        )

    def teardown_target(self, name: str, state: StateLike | None) -> CloudTeardown:
        aws = self._session_for_state(state)
        names = Names(name, aws.account_id, aws.region, aws.partition)
        return self._teardown(AwsAccess(aws, names, self.options))
