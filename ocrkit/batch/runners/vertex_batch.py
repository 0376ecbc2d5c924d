"""The Vertex AI batch prediction runner: the deployed model reads every pending image of a gs:// source.

ocrkit writes a file list of the pending images (one gs:// URI a line, ``instancesFormat: file-list``)
next to the results object; Vertex reads each file and sends it to the TorchServe handler as
``{"b64": "<base64>"}``, and writes ``predictions*.jsonl`` (``{"instance", "prediction"}``) and
``errors*.jsonl`` (``{"instance", "error"}``) under the output prefix. ocrkit waits (with the job's
completion counts), then reads those lines back into rows; an image with no line becomes an error row.
Ctrl-C while waiting cancels the job.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from ocrkit.batch.managed import GcpBatchConfig, ManagedRunner, chunks, row_from_answer
from ocrkit.batch.records import ResultRow
from ocrkit.batch.runners.base import Emit
from ocrkit.batch.sources import Source
from ocrkit.batch.storage import GcsStore
from ocrkit.batch.urls import parse_bucket_url
from ocrkit.errors import OcrkitError

DONE = ("JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_EXPIRED")
LABEL_KEY = "ocrkit-deployment"


def batch_job(
    display_name: str, model: str, list_uri: str, output_prefix: str, config: GcpBatchConfig, deployment: str
) -> dict[str, Any]:
    """The BatchPredictionJob ocrkit creates (as a dict the GAPIC type takes)."""
    machine: dict[str, Any] = {"machine_type": config.machine_type}
    if config.accelerator_type and config.accelerator_count:
        machine.update(accelerator_type=config.accelerator_type, accelerator_count=config.accelerator_count)
    return {
        "display_name": display_name,
        "model": model,
        "input_config": {"instances_format": "file-list", "gcs_source": {"uris": [list_uri]}},
        "output_config": {
            "predictions_format": "jsonl",
            "gcs_destination": {"output_uri_prefix": output_prefix},
        },
        "dedicated_resources": {
            "machine_spec": machine,
            "starting_replica_count": config.starting_replica_count,
            "max_replica_count": config.max_replica_count,
        },
        "labels": {LABEL_KEY: deployment},
    }


def is_output_file(name: str) -> bool:
    leaf = name.rsplit("/", 1)[-1]
    return leaf.startswith(("predictions", "prediction.results", "errors", "prediction.errors"))


class VertexBatchRunner(ManagedRunner):
    name = "vertex-batch"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.store = GcsStore(self.results)
        self.job_name: str | None = None
        self.final: Any = None
        self.total = 0
        self._stores: dict[str, GcsStore] = {}

    def prepare(self) -> None:
        from ocrkit.providers.gcp.session import gcp_errors, is_not_found

        with gcp_errors(f"read the Vertex AI model {self.model}"):
            try:
                self.session.models().get_model(name=self.model)
            except Exception as exc:
                if is_not_found(exc):
                    raise self.model_gone("Vertex AI", "gcp") from None
                raise

    def run(self, source: Source, pending: list[str], emit: Emit) -> None:
        from ocrkit.providers.gcp.session import gcp_errors

        self.total = len(pending)
        list_key = f"{self.work.key}files.txt"
        self.store.put(list_key, ("\n".join(pending) + "\n").encode(), "text/plain")
        output_prefix = f"gs://{self.work.bucket}/{self.work.key}output"
        job = batch_job(
            self.job,
            self.model,
            f"gs://{self.work.bucket}/{list_key}",
            output_prefix,
            self.config,
            self.deployment,
        )
        with gcp_errors("start the batch prediction job"):
            created = self.session.jobs().create_batch_prediction_job(
                parent=self.session.parent, batch_prediction_job=job
            )
            self.job_name = created.name
        try:
            with gcp_errors("read the batch prediction job"):
                self.waiter.until(self._read, self.status)
        except KeyboardInterrupt:
            with gcp_errors("cancel the batch prediction job"):
                self.session.jobs().cancel_batch_prediction_job(name=self.job_name)
            raise
        if self.status is not None:
            self.status("reading the outputs", 0, len(pending))
        rows = self._gather(source, pending, f"{self.work.key}output")
        for chunk in chunks(rows):
            emit(chunk)

    def _read(self) -> tuple[str, bool]:
        got = self.session.jobs().get_batch_prediction_job(name=self.job_name)
        self.final = got
        state = got.state.name if hasattr(got.state, "name") else str(got.state)
        stats = got.completion_stats
        done = (stats.successful_count + stats.failed_count) if stats else 0
        if self.status is not None and done:
            self.status(f"batch prediction job: {state}", done, self.total)
        return f"batch prediction job {self.job}: {state}", state in DONE

    def _gather(self, source: Source, pending: list[str], prefix: str) -> list[ResultRow]:
        answers: dict[str, ResultRow] = {}
        by_content: list[tuple[str, object, bool]] = []  # (sha256 of the image, answer, is_error)
        for name in sorted(self.store.list(prefix)):
            if not is_output_file(name):
                continue
            for line in self.store.get(name).decode("utf-8").splitlines():
                if not line.strip():
                    continue
                try:
                    doc = json.loads(line)
                except ValueError:
                    continue
                instance = doc.get("instance", doc.get("key"))
                answer = doc["error"] if "error" in doc and "prediction" not in doc else doc.get("prediction")
                failed = "prediction" not in doc
                if isinstance(instance, str):
                    answers[instance] = _row(instance, answer, failed)
                elif isinstance(instance, dict) and isinstance(instance.get("b64"), str):
                    digest = hashlib.sha256(base64.b64decode(instance["b64"])).hexdigest()
                    by_content.append((digest, answer, failed))
        if by_content:  # Vertex echoed the image itself: match it to its source by content
            missing = {}
            for key in pending:
                if key not in answers:
                    try:  # the raw bytes Vertex read, image or not
                        missing[hashlib.sha256(self._raw(key)).hexdigest()] = key
                    except (OSError, OcrkitError):
                        continue
            for digest, answer, failed in by_content:
                if digest in missing:
                    key = missing[digest]
                    answers[key] = _row(key, answer, failed)
        state = getattr(self.final, "state", None)
        words = state.name if hasattr(state, "name") else str(state)
        return [
            answers.get(key)
            or ResultRow.failed(key, f"the batch prediction job wrote no output for it ({words})")
            for key in pending
        ]

    def _raw(self, key: str) -> bytes:
        url = parse_bucket_url(key)
        store = self._stores.get(url.bucket)
        if store is None:
            store = self._stores[url.bucket] = GcsStore(url)
        return store.get(url.key)

    def close(self) -> None:
        pass


def _row(source: str, answer: object, failed: bool) -> ResultRow:
    if failed:
        message = answer.get("message") if isinstance(answer, dict) else answer
        return ResultRow.failed(source, f"Vertex AI: {message or 'prediction failed'}")
    return row_from_answer(source, answer)
