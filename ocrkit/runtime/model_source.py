"""Where the model function gets its exported model: the archive named by `OCRKIT_MODEL_URI`, read once
per execution environment (cold start), checked against `OCRKIT_MODEL_SHA256` and unpacked under /tmp.

`s3://bucket/key` is read with the boto3 that Lambda's Python runtime provides (the function's role may
read exactly that object); a plain path reads a local archive (benchmarks, tests). Standard library only
otherwise: this module ships in the function's zip.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
from collections.abc import Mapping
from pathlib import Path

from ocrkit.errors import OcrkitError

URI_ENV = "OCRKIT_MODEL_URI"
SHA_ENV = "OCRKIT_MODEL_SHA256"
DIR_ENV = "OCRKIT_MODEL_DIR"  # where to unpack (default: /tmp/ocrkit-model, Lambda's writable disk)
DEFAULT_DIR = "/tmp/ocrkit-model"  # noqa: S108 - Lambda's only writable folder


def read_archive(uri: str) -> bytes:
    """The archive's bytes, from S3 or from a local file."""
    if uri.startswith("s3://"):
        bucket, _, key = uri[5:].partition("/")
        if not bucket or not key:
            raise OcrkitError(f"{URI_ENV}={uri} is not an s3://bucket/key address")
        import boto3  # noqa: PLC0415 - provided by Lambda's Python runtime, not shipped in the zip

        try:
            return boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
        except Exception as exc:  # botocore's errors: the function's log says which
            raise OcrkitError(f"could not read the model from {uri}: {type(exc).__name__}: {exc}") from None
    path = Path(uri)
    if not path.is_file():
        raise OcrkitError(f"{URI_ENV}={uri}: no such model archive")
    return path.read_bytes()


def unpack(data: bytes, sha256: str | None, base: Path) -> Path:
    """The archive unpacked into `base/<sha256>` (reused when already there: a warm /tmp)."""
    digest = hashlib.sha256(data).hexdigest()
    if sha256 and digest != sha256:
        raise OcrkitError(f"the model archive's sha256 is {digest[:12]}..., expected {sha256[:12]}...")
    target = base / digest
    if (target / ".complete").is_file():
        return target
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(target, filter="data")
        else:  # pragma: no cover - Pythons before 3.11.4; the members are checked by hand
            for member in tar.getmembers():
                if member.name.startswith(("/", "..")) or ".." in member.name.split("/"):
                    raise OcrkitError(f"the model archive holds an unsafe path: {member.name}")
            tar.extractall(target)  # noqa: S202 - checked above
    (target / ".complete").write_text(digest, encoding="utf-8")
    return target


def model_dir(env: Mapping[str, str]) -> Path:
    """The export directory the environment names: fetched, verified and unpacked."""
    uri = env.get(URI_ENV, "").strip()
    if not uri:
        raise OcrkitError(f"{URI_ENV} is not set: the function does not know where its model is")
    base = Path(env.get(DIR_ENV, "").strip() or DEFAULT_DIR)
    return unpack(read_archive(uri), env.get(SHA_ENV, "").strip() or None, base)


def threads(env: Mapping[str, str]) -> int | None:
    """ONNX Runtime's intra-op threads: `OCRKIT_ONNX_THREADS`, else the engine's default."""
    value = env.get("OCRKIT_ONNX_THREADS", "").strip()
    if not value:
        return None
    try:
        return max(1, int(value))
    except ValueError:
        raise OcrkitError(f"OCRKIT_ONNX_THREADS={value} is not a whole number") from None
