"""What the managed cloud runners share: their config (configs/batch/<cloud>.yaml), the model server's
answer turned into a row, the wait loop, and the content type a set of images is sent with.

A managed job runs on the cloud's own batch service (SageMaker Batch Transform, Vertex AI batch
prediction) with the model that `ocrkit deploy` put there; ocrkit writes the job's input list, starts the
job, waits, and reads the job's outputs back into the same rows the local runner writes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ocrkit.batch.records import ResultRow
from ocrkit.config import config_error, read_yaml
from ocrkit.errors import OcrkitError
from ocrkit.resources import configs_dir

T = TypeVar("T")

#: rows handed to the sink at a time while gathering a job's outputs
GATHER_CHUNK = 500

#: status(words, done or None, total or None): what the job is doing, for the progress display
Status = Callable[[str, int | None, int | None], None]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AwsBatchConfig(_Strict):
    instance_type: str = "ml.g4dn.xlarge"
    instance_count: int = Field(1, ge=1)
    profile: str = "report-t4-estimate"
    vcpus: float = Field(4, gt=0)
    max_concurrent_transforms: int = Field(1, ge=1)
    max_payload_mb: int = Field(6, ge=1, le=100)
    timeout_s: int = Field(60, ge=1, le=3600)
    startup_s: int = Field(300, ge=0)
    poll_s: float = Field(30, gt=0)


class GcpBatchConfig(_Strict):
    machine_type: str = "n1-standard-4"
    accelerator_type: str | None = "NVIDIA_TESLA_T4"
    accelerator_count: int = Field(1, ge=0)
    starting_replica_count: int = Field(1, ge=1)
    max_replica_count: int = Field(1, ge=1)
    profile: str = "report-t4-estimate"
    vcpus: float = Field(4, gt=0)
    startup_s: int = Field(300, ge=0)
    poll_s: float = Field(30, gt=0)


BatchConfig = AwsBatchConfig | GcpBatchConfig
Cloud = Literal["aws", "gcp"]


def load_batch_config(cloud: str, path: Path | None = None) -> BatchConfig:
    """configs/batch/<cloud>.yaml, or the planner's copy; a bad field is one ConfigError."""
    model: type[BaseModel] = AwsBatchConfig if cloud == "aws" else GcpBatchConfig
    path = path or configs_dir() / "batch" / f"{cloud}.yaml"
    raw = read_yaml(path)
    try:
        return model.model_validate(raw)  # type: ignore[return-value]
    except ValidationError as exc:
        raise config_error(path, exc, model) from None


def content_type_for(keys: list[str]) -> str:
    """One content type for the whole job: the images' own when they share one, else application/x-image
    (the model server reads the format from the bytes either way)."""
    kinds = set()
    for key in keys:
        suffix = key.rsplit(".", 1)[-1].lower() if "." in key.rsplit("/", 1)[-1] else ""
        kinds.add({"jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png"}.get(suffix, "other"))
    if len(kinds) == 1 and "other" not in kinds:
        return kinds.pop()
    return "application/x-image"


def row_from_answer(source: str, answer: object) -> ResultRow:
    """The model server's JSON answer for one image (``{"text", "confidence"}`` or ``{"error": ...}``)."""
    if isinstance(answer, dict) and isinstance(answer.get("error"), dict | str):
        error = answer["error"]
        message = error.get("message") or error.get("code") if isinstance(error, dict) else error
        return ResultRow.failed(source, f"the model server refused it: {message}")
    if isinstance(answer, dict) and isinstance(answer.get("text"), str):
        confidence = answer.get("confidence")
        return ResultRow(source, answer["text"], float(confidence) if confidence is not None else None)
    return ResultRow.failed(source, "the model server's answer has no text")


def row_from_body(source: str, body: bytes) -> ResultRow:
    try:
        return row_from_answer(source, json.loads(body.decode("utf-8")))
    except (UnicodeDecodeError, ValueError):
        return ResultRow.failed(source, "the job's output is not the model server's JSON")


@dataclass
class Waiter:
    """Polls a job until it is done; ``sleep`` is the clock (a test passes its own)."""

    poll_s: float
    sleep: Callable[[float], None] = time.sleep

    def until(self, read: Callable[[], tuple[str, bool]], status: Status | None) -> str:
        """``read()`` -> (state words, finished?); returns the last state words."""
        while True:
            words, finished = read()
            if status is not None:
                status(words, None, None)
            if finished:
                return words
            self.sleep(self.poll_s)


class ManagedRunner:
    """What the managed-job runners share: the deployment and its model, the instances, the results URL,
    the job's name (<deployment>-batch-<UTC stamp>, within SageMaker's 63 characters) and its work folder
    `RESULTS.jobs/<job>/`, and the poller. Subclasses add `prepare` / `run` for their cloud."""

    def __init__(
        self,
        session: Any,
        deployment: str,
        model: str,
        config: BatchConfig,
        results: Any,  # ocrkit.batch.urls.BucketUrl
        *,
        waiter: Waiter | None = None,
        stamp: str | None = None,
    ) -> None:
        self.session = session
        self.deployment = deployment
        self.model = model
        self.config = config
        self.results = results
        self.waiter = waiter or Waiter(config.poll_s)
        self.job = f"{deployment[:40]}-batch-{stamp or job_stamp()}"
        self.work = results.child(f"{results.key}.jobs/{self.job}/")
        self.status: Status | None = None

    def model_gone(self, service: str, cloud: str) -> OcrkitError:
        return OcrkitError(
            f"the {service} model {self.model} of '{self.deployment}' no longer exists",
            hint=f"deploy again: ocrkit deploy --cloud {cloud}",
        )


def job_stamp() -> str:
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime())


def startup(config: BatchConfig) -> Decimal:
    return Decimal(config.startup_s)


def chunks(items: list[T], size: int = GATHER_CHUNK) -> list[list[T]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def require(condition: bool, message: str, hint: str | None = None) -> None:
    if not condition:
        raise OcrkitError(message, hint=hint)


def estimate(cloud: str, region: str, config: BatchConfig, images: int):
    """The job's cost estimate (a ``BatchQuote``), or the sentence saying why it cannot be priced."""
    from ocrkit.costing.batch import batch_catalog, named_profile, speed_of, transform_job, vertex_job
    from ocrkit.errors import ConfigError

    try:
        catalog = batch_catalog(cloud, region)
    except ConfigError as exc:
        return f"not priced: {exc.message}"
    speed = speed_of(named_profile(config.profile), config.vcpus)
    try:
        if isinstance(config, AwsBatchConfig):
            return transform_job(
                images, catalog, config.instance_type, config.instance_count, speed, startup(config)
            )
        return vertex_job(
            images,
            catalog,
            config.machine_type,
            config.accelerator_type if config.accelerator_count else None,
            config.accelerator_count,
            config.max_replica_count,
            speed,
            startup(config),
        )
    except OcrkitError as exc:  # an instance type the catalog has no price for
        return f"not priced: {exc.message}"
