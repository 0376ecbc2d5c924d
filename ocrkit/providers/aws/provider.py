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
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

from ocrkit.deploy.cloud import CloudProvider
from ocrkit.deploy.plan import ExecutablePlan, is_retired, sweep
from ocrkit.deploy.provider import (
    Events,
    InvokeResult,
    ResourceRecord,
    StateLike,
    StatusReport,
    TeardownReport,
)
from ocrkit.deploy.spec import LoadedSpec
from ocrkit.deploy.state import state_dir
from ocrkit.errors import OcrkitError
from ocrkit.providers.aws import package
from ocrkit.providers.aws.cost import try_estimate
from ocrkit.providers.aws.names import Names
from ocrkit.providers.aws.quotas import check_endpoint_quota
from ocrkit.providers.aws.resources import RANK, Desired, Options, Planner, desired_state
from ocrkit.providers.aws.session import AwsSession, aws_errors, make_session, translate
from ocrkit.providers.aws.spec import AwsDeploySpec, load_aws_spec
from ocrkit.providers.aws.teardown import Remover, sort_for_deletion
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
        folder = self.build_dir or (state_dir().parent / "build" / f"{spec.name}-aws")
        outputs = package.build_all(self.weights_path(spec), folder)
        return Built(desired_state(spec, names, outputs.model, outputs.function), names)

    # -- plan ---------------------------------------------------------------------------------------

    def plan(self, spec: Any, state: StateLike | None) -> ExecutablePlan:
        loaded = self._loaded(spec)
        s: AwsDeploySpec = loaded.spec
        aws = self._session_for_spec(s)
        built = self.build(loaded, aws)
        quota_client = aws.client("service-quotas", attempts=1, read_timeout=15)
        planner = Planner(
            aws,
            built.desired,
            state,
            quota=lambda needed: check_endpoint_quota(quota_client, s.sagemaker.instance_type, needed),
            options=self.options,
        )
        with aws_errors("plan the deployment (describe the existing resources)"):
            steps = planner.steps()
        remover = Remover(aws, built.names, sleep=self.options.sleep, poll_s=self.options.endpoint_poll_s)
        steps += sweep(
            state, built.desired.wanted(), self._deleter(remover), rank=lambda r: RANK.get(r.kind, 99)
        )
        steps = [self._guarded(step) for step in steps]
        estimate, why = try_estimate(
            s, aws.region, config_path=loaded.path, artifact_bytes=built.desired.artifact.size
        )
        warnings = list(planner.warnings)
        warnings += demo_weights_notes(self.weights_path(s))
        if s.api.auth == "none":
            warnings.insert(
                0,
                f"the API is public: anyone with the URL can call it; it is throttled to "
                f"{s.api.throttling_rate_limit:g} requests/s (burst {s.api.throttling_burst_limit}). "
                "Set api.auth: iam to require SigV4-signed requests",
            )
        if why:
            warnings.append(why)
        elif estimate is not None:
            warnings += list(estimate.notes)
        return ExecutablePlan.of(
            "aws",
            s.name,
            steps,
            hourly_cost=None if estimate is None else estimate.hourly,
            monthly_cost=None if estimate is None else estimate.monthly,
            warnings=warnings,
        )

    def _translate_error(self, exc: Exception, action: str) -> Exception | None:
        from botocore import exceptions as bx

        if isinstance(exc, bx.BotoCoreError | bx.ClientError) or type(exc).__module__.startswith("boto3"):
            return translate(exc, action)
        return None

    # -- apply --------------------------------------------------------------------------------------

    def _record_outputs(self, loaded: LoadedSpec, state: StateLike) -> None:
        aws = self._session_for_spec(loaded.spec)
        state.outputs.update({"region": aws.region, "account": aws.account_id, "auth": loaded.spec.api.auth})
        if loaded.spec.profile or self.profile:
            state.outputs["profile"] = self.profile or loaded.spec.profile

    # -- status -------------------------------------------------------------------------------------

    def status(self, state: StateLike) -> StatusReport:
        aws = self._session_for_state(state)
        rows: list[tuple[str, str, str]] = []
        healthy = True
        instances = 0
        instance_type = None
        with aws_errors("read the deployment's status"):
            for key, rec in state.resources.items():
                words = self._describe_state(aws, rec)
                if is_retired(key):
                    words += " (left over from an earlier deploy; the next deploy removes it)"
                rows.append((key, rec.id, words))
                if rec.kind == "sagemaker:endpoint":
                    info = self._endpoint_info(aws, rec.id)
                    if info is not None:
                        instances = sum(
                            int(v.get("CurrentInstanceCount") or 0)
                            for v in info.get("ProductionVariants", [])
                        )
                        cfg = aws.client("sagemaker").describe_endpoint_config(
                            EndpointConfigName=info["EndpointConfigName"]
                        )
                        instance_type = cfg["ProductionVariants"][0]["InstanceType"]
                        healthy = healthy and info.get("EndpointStatus") == "InService"
                    else:
                        healthy = False
                if words.startswith("missing"):
                    healthy = False
        hourly = self._hourly(aws, instance_type, instances)
        if not state.resources:
            healthy = False
        return StatusReport(
            cloud="aws",
            name=state.name,
            resources=rows,
            url=state.outputs.get("url"),
            hourly_cost=hourly,
            healthy=healthy,
        )

    def _endpoint_info(self, aws: AwsSession, name: str) -> dict | None:
        try:
            return aws.client("sagemaker").describe_endpoint(EndpointName=name)
        except Exception as exc:
            from ocrkit.providers.aws.session import is_not_found

            if is_not_found(exc):
                return None
            raise

    def _hourly(self, aws: AwsSession, instance_type: str | None, instances: int) -> Decimal | None:
        if not instance_type:
            return Decimal(0)
        from ocrkit.costing.catalog import default_catalog

        try:
            catalog = default_catalog("aws", aws.region)
            key = f"sagemaker.inference.{instance_type}"
            if not catalog.has(key):
                return None
            return catalog.entry(key).list_price * instances
        except OcrkitError:
            return None

    def _describe_state(self, aws: AwsSession, rec: ResourceRecord) -> str:
        from ocrkit.providers.aws.session import is_not_found

        def exists(call) -> dict | None:
            try:
                return call() or {}
            except Exception as exc:
                if is_not_found(exc) or getattr(exc, "response", {}).get("Error", {}).get("Code") in (
                    "ObjectNotFoundException",
                ):
                    return None
                raise

        kind = rec.kind
        if kind == "s3:bucket":
            return (
                "exists"
                if exists(lambda: aws.client("s3").head_bucket(Bucket=rec.id)) is not None
                else "missing"
            )
        if kind == "s3:object":
            bucket = rec.attrs.get("bucket")
            listing = aws.client("s3").list_objects_v2(Bucket=bucket, Prefix=rec.id, MaxKeys=1)
            present = any(o["Key"] == rec.id for o in listing.get("Contents", []))
            return f"uploaded, {rec.attrs.get('size', 0):,} bytes" if present else "missing"
        if kind == "s3:bucket-policy":
            got = exists(lambda: aws.client("s3").get_bucket_policy(Bucket=rec.id))
            return "TLS only" if got else "missing"
        if kind == "logs:log-group":
            groups = aws.client("logs").describe_log_groups(logGroupNamePrefix=rec.id).get("logGroups", [])
            match = [g for g in groups if g["logGroupName"] == rec.id]
            return f"kept {match[0].get('retentionInDays', 'forever')} days" if match else "missing"
        if kind == "iam:role":
            return (
                "exists"
                if exists(lambda: aws.client("iam").get_role(RoleName=rec.id)) is not None
                else "missing"
            )
        if kind == "sagemaker:model":
            got = exists(lambda: aws.client("sagemaker").describe_model(ModelName=rec.id))
            return "exists" if got is not None else "missing"
        if kind == "sagemaker:endpoint-config":
            got = exists(lambda: aws.client("sagemaker").describe_endpoint_config(EndpointConfigName=rec.id))
            if got is None:
                return "missing"
            v = got["ProductionVariants"][0]
            return f"{v['InstanceType']} x {v.get('InitialInstanceCount', '?')}"
        if kind == "sagemaker:endpoint":
            got = exists(lambda: aws.client("sagemaker").describe_endpoint(EndpointName=rec.id))
            if got is None:
                return "missing"
            count = sum(int(v.get("CurrentInstanceCount") or 0) for v in got.get("ProductionVariants", []))
            words = f"{got['EndpointStatus']}, {count} instance(s)"
            if got.get("FailureReason"):
                words += f": {got['FailureReason']}"
            return words
        if kind == "autoscaling:scalable-target":
            targets = (
                aws.client("application-autoscaling")
                .describe_scalable_targets(ServiceNamespace="sagemaker", ResourceIds=[rec.id])
                .get("ScalableTargets", [])
            )
            if not targets:
                return "missing"
            return f"{targets[0]['MinCapacity']}-{targets[0]['MaxCapacity']} instances"
        if kind == "lambda:function":
            got = exists(lambda: aws.client("lambda").get_function(FunctionName=rec.id))
            if got is None:
                return "missing"
            conf = got["Configuration"]
            return f"{conf.get('State', 'Active')}, {conf.get('Runtime')}, {conf.get('MemorySize')} MB"
        if kind == "lambda:alias":
            function, _, alias = rec.id.partition(":")
            got = exists(lambda: aws.client("lambda").get_alias(FunctionName=function, Name=alias))
            return f"-> version {got.get('FunctionVersion')}" if got is not None else "missing"
        if kind == "lambda:permission":
            return "granted to API Gateway"
        if kind == "apigateway:api":
            got = exists(lambda: aws.client("apigatewayv2").get_api(ApiId=rec.id))
            return f"{got.get('ApiEndpoint')}" if got is not None else "missing"
        if kind in ("apigateway:integration", "apigateway:route", "apigateway:stage"):
            return "configured"
        return "recorded"

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

    # -- teardown -----------------------------------------------------------------------------------

    def teardown(self, name: str, state: StateLike | None, events: Events) -> TeardownReport:
        aws = self._session_for_state(state)
        names = Names(name, aws.account_id, aws.region, aws.partition)
        remover = Remover(
            aws,
            names,
            sleep=self.options.sleep,
            poll_s=self.options.endpoint_poll_s,
            timeout_s=self.options.endpoint_timeout_s,
        )
        with aws_errors("find the deployment's resources"):
            found = remover.discover()
        known = list(state.resources.items()) if state is not None else []
        merged: dict[tuple[str, str], tuple[str, ResourceRecord]] = {}
        for key, rec in known + found:
            merged.setdefault((rec.kind, rec.id), (key, rec))
        deleted: list[str] = []
        for _, rec in sort_for_deletion(list(merged.values())):
            label = f"{rec.kind} {rec.id}"
            events.step(f"Deleting {label}")
            with aws_errors(f"delete {label}"):
                remover.delete(rec, events)
            deleted.append(label)
            if state is not None:
                for k in [k for k, r in state.resources.items() if (r.kind, r.id) == (rec.kind, rec.id)]:
                    state.resources.pop(k, None)
                state.save()
        for note in remover.notes:
            events.info(note)
        with aws_errors("check that nothing is left"):
            remaining = [f"{rec.kind} {rec.id}" for _, rec in remover.discover()]
        if state is not None and not remaining:
            state.outputs.clear()
            remove = getattr(state, "remove_file", None)
            if callable(remove):
                remove()
        return TeardownReport(deleted=deleted, remaining=remaining)
