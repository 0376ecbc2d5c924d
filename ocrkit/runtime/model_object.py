"""Read the exported ONNX model once per cold start: one zip object in the private bucket, or a local file.

`OCRKIT_MODEL_URI` names it: `gs://BUCKET/OBJECT` (Cloud Storage JSON API, `alt=media`) or a path. On
Google the request carries the function's own service-account token from the metadata server; with
`STORAGE_EMULATOR_HOST` set (tests) the emulator is asked, without a token. `OCRKIT_MODEL_SHA256`, when
set, is checked before anything is unpacked. The zip is unpacked into a fresh folder under the temporary
directory (on Cloud Functions an in-memory file system: its bytes count against the instance's memory).

Standard library only: the function's `requirements.txt` holds the ONNX engine's packages and nothing for
Cloud Storage.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Mapping
from pathlib import Path

from ocrkit.errors import OcrkitError

MODEL_URI_ENV = "OCRKIT_MODEL_URI"
MODEL_SHA256_ENV = "OCRKIT_MODEL_SHA256"
EMULATOR_ENV = "STORAGE_EMULATOR_HOST"
METADATA_TOKEN_URL = (
    "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token"
)
STORAGE_URL = "https://storage.googleapis.com"
CHUNK = 1024 * 1024


def split_gs(uri: str) -> tuple[str, str]:
    """gs://bucket/object -> (bucket, object)."""
    bucket, _, name = uri[len("gs://") :].partition("/")
    if not bucket or not name:
        raise OcrkitError(f"{MODEL_URI_ENV}={uri} is not gs://BUCKET/OBJECT")
    return bucket, name


def _token(timeout_s: float) -> str:
    request = urllib.request.Request(METADATA_TOKEN_URL, headers={"Metadata-Flavor": "Google"})
    with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310 - metadata server
        return json.loads(response.read())["access_token"]


def media_request(uri: str, env: Mapping[str, str], timeout_s: float = 10.0) -> urllib.request.Request:
    """The GET that reads the object's bytes (emulator: no token; Google: the metadata server's)."""
    bucket, name = split_gs(uri)
    emulator = (env.get(EMULATOR_ENV) or "").strip().rstrip("/")
    base = emulator if emulator else STORAGE_URL
    if base and "://" not in base:
        base = f"http://{base}"
    url = f"{base}/storage/v1/b/{bucket}/o/{urllib.parse.quote(name, safe='')}?alt=media"
    headers = {} if emulator else {"Authorization": f"Bearer {_token(timeout_s)}"}
    return urllib.request.Request(url, headers=headers)


def download(uri: str, target: Path, env: Mapping[str, str], timeout_s: float = 120.0) -> str:
    """Write the object to `target`; its sha256."""
    digest = hashlib.sha256()
    try:
        request = media_request(uri, env)
        with urllib.request.urlopen(request, timeout=timeout_s) as response, open(target, "wb") as out:  # noqa: S310
            while chunk := response.read(CHUNK):
                digest.update(chunk)
                out.write(chunk)
    except urllib.error.HTTPError as exc:
        raise OcrkitError(f"reading {uri} answered HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError, KeyError, ValueError) as exc:
        raise OcrkitError(f"could not read {uri}: {getattr(exc, 'reason', exc)}") from None
    return digest.hexdigest()


def fetch_model(env: Mapping[str, str] | None = None) -> Path:
    """The unpacked export folder named by `OCRKIT_MODEL_URI` (read now; call once per cold start)."""
    env = os.environ if env is None else env
    uri = (env.get(MODEL_URI_ENV) or "").strip()
    if not uri:
        raise OcrkitError(f"{MODEL_URI_ENV} is not set: the function does not know where its model is")
    folder = Path(tempfile.mkdtemp(prefix="ocrkit-model-"))
    try:
        if uri.startswith("gs://"):
            archive = folder / "model.zip"
            sha = download(uri, archive, env)
        else:
            archive = Path(uri).expanduser()
            if not archive.is_file():
                raise OcrkitError(f"{MODEL_URI_ENV}={uri}: no such file")
            sha = hashlib.sha256(archive.read_bytes()).hexdigest()
        expected = (env.get(MODEL_SHA256_ENV) or "").strip()
        if expected and sha != expected:
            raise OcrkitError(f"{uri} has sha256 {sha[:12]}, not the deployed {expected[:12]}")
        out = folder / "export"
        with zipfile.ZipFile(archive) as zf:
            for member in zf.namelist():
                if member.startswith("/") or ".." in Path(member).parts:
                    raise OcrkitError(f"{uri}: unsafe member {member!r}")
            zf.extractall(out)
        if archive.parent == folder:
            archive.unlink()  # the download is not needed once unpacked (memory on Cloud Functions)
        return out
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
