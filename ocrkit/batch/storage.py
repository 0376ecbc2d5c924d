"""The few object-store calls batch needs (list, get, put, delete), for S3 (boto3) and GCS.

Clients are made on first use and dropped when pickled, so that a store can travel to a Ray worker
and open its own connection there. Every provider error becomes one ``OcrkitError`` sentence.
S3 honours ``AWS_ENDPOINT_URL`` (a moto server in tests); GCS honours ``STORAGE_EMULATOR_HOST`` and
then needs no credentials.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any, Protocol

from ocrkit.batch.urls import BucketUrl
from ocrkit.errors import OcrkitError


class ObjectStore(Protocol):
    url: BucketUrl

    def check(self) -> None:
        """Raise ``OcrkitError`` unless the bucket answers."""

    def list(self, prefix: str) -> Iterator[str]: ...

    def get(self, key: str) -> bytes: ...

    def exists(self, key: str) -> bool: ...

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None: ...

    def delete(self, key: str) -> None: ...


class _Lazy:
    _client: Any = None

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_client"] = None
        return state


class S3Store(_Lazy):
    def __init__(self, url: BucketUrl) -> None:
        self.url = url
        self._client = None

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            config = Config(connect_timeout=5, read_timeout=60, retries={"max_attempts": 3})
            self._client = boto3.client("s3", config=config)
        return self._client

    def _fail(self, exc: Exception, what: str) -> OcrkitError:
        from botocore.exceptions import ClientError

        if isinstance(exc, ClientError):
            code = exc.response.get("Error", {}).get("Code", "?")
            message = exc.response.get("Error", {}).get("Message", "") or code
            return OcrkitError(f"{what}: {code} ({message})")
        return OcrkitError(f"{what}: {exc}")

    def check(self) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.head_bucket(Bucket=self.url.bucket)
        except (BotoCoreError, ClientError) as exc:
            raise self._fail(exc, f"cannot reach bucket s3://{self.url.bucket}") from None

    def list(self, prefix: str) -> Iterator[str]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.url.bucket, Prefix=prefix
            )
            for page in pages:
                for obj in page.get("Contents", []):
                    yield obj["Key"]
        except (BotoCoreError, ClientError) as exc:
            raise self._fail(exc, f"cannot list s3://{self.url.bucket}/{prefix}") from None

    def get(self, key: str) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return self.client.get_object(Bucket=self.url.bucket, Key=key)["Body"].read()
        except (BotoCoreError, ClientError) as exc:
            raise self._fail(exc, f"cannot read s3://{self.url.bucket}/{key}") from None

    def exists(self, key: str) -> bool:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.head_object(Bucket=self.url.bucket, Key=key)
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise self._fail(exc, f"cannot read s3://{self.url.bucket}/{key}") from None
        except BotoCoreError as exc:
            raise self._fail(exc, f"cannot read s3://{self.url.bucket}/{key}") from None

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.put_object(Bucket=self.url.bucket, Key=key, Body=data, ContentType=content_type)
        except (BotoCoreError, ClientError) as exc:
            raise self._fail(exc, f"cannot write s3://{self.url.bucket}/{key}") from None

    def delete(self, key: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.delete_object(Bucket=self.url.bucket, Key=key)
        except (BotoCoreError, ClientError) as exc:
            raise self._fail(exc, f"cannot delete s3://{self.url.bucket}/{key}") from None


class GcsStore(_Lazy):
    def __init__(self, url: BucketUrl) -> None:
        self.url = url
        self._client = None

    @property
    def client(self) -> Any:
        if self._client is None:
            from google.cloud import storage

            if (os.environ.get("STORAGE_EMULATOR_HOST") or "").strip():
                from google.auth.credentials import AnonymousCredentials

                project = os.environ.get("GOOGLE_CLOUD_PROJECT") or "local"
                self._client = storage.Client(project=project, credentials=AnonymousCredentials())
            else:
                try:
                    self._client = storage.Client()
                except Exception as exc:  # google.auth's DefaultCredentialsError and friends
                    raise OcrkitError(
                        f"cannot open Cloud Storage: {exc}",
                        hint="run `gcloud auth application-default login`",
                    ) from None
        return self._client

    @property
    def bucket(self) -> Any:
        return self.client.bucket(self.url.bucket)

    @staticmethod
    def _errors() -> tuple[type[BaseException], ...]:
        import requests
        from google.api_core import exceptions as gx
        from google.auth import exceptions as auth_exceptions

        return (gx.GoogleAPIError, requests.RequestException, auth_exceptions.GoogleAuthError)

    def _fail(self, exc: Exception, what: str) -> OcrkitError:
        message = getattr(exc, "message", None) or str(exc).splitlines()[0]
        return OcrkitError(f"{what}: {message}")

    def check(self) -> None:
        try:
            if not self.bucket.exists(timeout=15):
                raise OcrkitError(f"cannot reach bucket gs://{self.url.bucket}: it does not exist")
        except self._errors() as exc:
            raise self._fail(exc, f"cannot reach bucket gs://{self.url.bucket}") from None

    def list(self, prefix: str) -> Iterator[str]:
        try:
            for blob in self.client.list_blobs(self.url.bucket, prefix=prefix or None):
                yield blob.name
        except self._errors() as exc:
            raise self._fail(exc, f"cannot list gs://{self.url.bucket}/{prefix}") from None

    def get(self, key: str) -> bytes:
        try:
            return self.bucket.blob(key).download_as_bytes()
        except self._errors() as exc:
            raise self._fail(exc, f"cannot read gs://{self.url.bucket}/{key}") from None

    def exists(self, key: str) -> bool:
        try:
            return bool(self.bucket.blob(key).exists())
        except self._errors() as exc:
            raise self._fail(exc, f"cannot read gs://{self.url.bucket}/{key}") from None

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        try:
            self.bucket.blob(key).upload_from_string(data, content_type=content_type)
        except self._errors() as exc:
            raise self._fail(exc, f"cannot write gs://{self.url.bucket}/{key}") from None

    def delete(self, key: str) -> None:
        try:
            self.bucket.blob(key).delete()
        except self._errors() as exc:
            raise self._fail(exc, f"cannot delete gs://{self.url.bucket}/{key}") from None


def open_store(url: BucketUrl) -> ObjectStore:
    return S3Store(url) if url.scheme == "s3" else GcsStore(url)
