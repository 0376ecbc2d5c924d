"""The SageMaker Batch Transform runner: the deployed model reads every pending image of an s3:// source.

ocrkit writes a manifest of the pending images (``S3DataType: ManifestFile``, so a resumed run sends only
what is still to do) next to the results object, starts one transform job with one image per record
(``SplitType: None``: each S3 object is one request, sent with the images' content type), waits, then
reads each image's ``<key>.out`` (the model server's JSON answer) into a row. An image without an output
-- a record the model refused fails the job on SageMaker -- becomes an error row naming the job's reason.
Ctrl-C while waiting stops the job (nothing is left running).
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ocrkit.batch.managed import (
    AwsBatchConfig,
    ManagedRunner,
    chunks,
    content_type_for,
    row_from_body,
)
from ocrkit.batch.records import ResultRow
from ocrkit.batch.runners.base import Emit
from ocrkit.batch.sources import Source
from ocrkit.batch.urls import parse_bucket_url
from ocrkit.errors import OcrkitError

DONE = ("Completed", "Failed", "Stopped")
#: concurrent GETs while gathering the .out objects (one per image)
GATHER_THREADS = 16
TAG_KEY = "ocrkit:deployment"


def manifest_document(bucket: str, keys: list[str]) -> list:
    """A SageMaker manifest: a prefix, then each object's key relative to it (the whole key here)."""
    return [{"prefix": f"s3://{bucket}/"}, *keys]


def transform_request(
    name: str,
    model: str,
    manifest_uri: str,
    output_uri: str,
    content_type: str,
    config: AwsBatchConfig,
    deployment: str,
) -> dict[str, Any]:
    """The create_transform_job arguments: one image per record, JSON answers, the configured instances."""
    return {
        "TransformJobName": name,
        "ModelName": model,
        "MaxConcurrentTransforms": config.max_concurrent_transforms,
        "MaxPayloadInMB": config.max_payload_mb,
        "BatchStrategy": "SingleRecord",
        "ModelClientConfig": {"InvocationsTimeoutInSeconds": config.timeout_s, "InvocationsMaxRetries": 1},
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "ManifestFile", "S3Uri": manifest_uri}},
            "ContentType": content_type,
            "CompressionType": "None",
            "SplitType": "None",
        },
        "TransformOutput": {"S3OutputPath": output_uri, "Accept": "application/json", "AssembleWith": "None"},
        "TransformResources": {"InstanceType": config.instance_type, "InstanceCount": config.instance_count},
        "Tags": [{"Key": TAG_KEY, "Value": deployment}],
    }


class SageMakerTransformRunner(ManagedRunner):
    name = "sagemaker-transform"

    final: dict[str, Any]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.final = {}

    @property
    def sm(self) -> Any:
        return self.session.client("sagemaker")

    @property
    def s3(self) -> Any:
        return self.session.client("s3")

    def prepare(self) -> None:
        from ocrkit.providers.aws.session import aws_errors, is_not_found

        with aws_errors(f"read the SageMaker model {self.model}"):
            try:
                self.sm.describe_model(ModelName=self.model)
            except Exception as exc:
                if is_not_found(exc) or "Could not find model" in str(exc):
                    raise self.model_gone("SageMaker", "aws") from None
                raise

    def run(self, source: Source, pending: list[str], emit: Emit) -> None:
        from ocrkit.providers.aws.session import aws_errors

        src = parse_bucket_url(source.spec)
        keys = [parse_bucket_url(k).key for k in pending]
        manifest_key = f"{self.work.key}input.manifest"
        output_uri = f"s3://{self.work.bucket}/{self.work.key}output"
        request = transform_request(
            self.job,
            self.model,
            f"s3://{self.work.bucket}/{manifest_key}",
            output_uri,
            content_type_for(keys),
            self.config,
            self.deployment,
        )
        with aws_errors("start the transform job"):
            body = json.dumps(manifest_document(src.bucket, keys)).encode()
            self.s3.put_object(
                Bucket=self.work.bucket, Key=manifest_key, Body=body, ContentType="application/json"
            )
            self.sm.create_transform_job(**request)
        try:
            with aws_errors("read the transform job"):
                self.waiter.until(self._read, self.status)
        except KeyboardInterrupt:
            with aws_errors("stop the transform job"):
                self.sm.stop_transform_job(TransformJobName=self.job)
            raise
        reason = self.final.get("FailureReason")
        if self.status is not None:
            self.status("reading the outputs", 0, len(pending))
        with ThreadPoolExecutor(max_workers=GATHER_THREADS, thread_name_prefix="ocrkit-gather") as pool:
            for part in chunks(keys):  # reads overlap; rows reach the sink a chunk at a time, in order
                out = [f"{self.work.key}output/{key}.out" for key in part]
                emit(list(pool.map(lambda k, o: self._row(src.bucket, k, o, reason), part, out)))

    def _read(self) -> tuple[str, bool]:
        got = self.sm.describe_transform_job(TransformJobName=self.job)
        self.final = got
        state = str(got.get("TransformJobStatus"))
        return f"transform job {self.job}: {state}", state in DONE

    def _row(self, bucket: str, key: str, out_key: str, reason: str | None) -> ResultRow:
        from botocore.exceptions import ClientError

        source = f"s3://{bucket}/{key}"
        try:
            body = self.s3.get_object(Bucket=self.work.bucket, Key=out_key)["Body"].read()
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code not in ("NoSuchKey", "404"):
                raise OcrkitError(f"cannot read s3://{self.work.bucket}/{out_key}: {code}") from None
            why = f" (the job: {reason})" if reason else ""
            return ResultRow.failed(source, f"the transform job wrote no output for it{why}")
        return row_from_body(source, body)

    def close(self) -> None:
        pass
