"""The third-party code of the model function's zip: the package index's manylinux wheels for the
function's runtime and architecture (never this machine's site-packages), downloaded once and cached.

Why per runtime: Lambda's python3.11 runs on Amazon Linux 2 (glibc 2.26), python3.12 and 3.13 on Amazon
Linux 2023 (glibc 2.34) -- https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html (as of 2026-12).
ONNX Runtime publishes wheels for glibc 2.27+ from 1.17 on, so a python3.11 function gets the last release
built for manylinux2014 (1.16.3, with the numpy 1.x it was compiled against); python3.12+ get the versions
this project's test suite runs. Only the packages the ONNX engine imports at run time are shipped
(`--no-deps`: onnxruntime's own dependencies -- sympy, protobuf, flatbuffers, coloredlogs -- serve its
tooling, not `InferenceSession`); the zip test imports the result in a bare interpreter to prove it.

The wheels land in `$OCRKIT_CACHE_DIR/lambda-wheels/<target>/` (default `~/.cache/ocrkit/...`), each
unpacked once into `site/<wheel sha256>/`: a second build downloads nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ocrkit.deploy.artifact import file_sha256
from ocrkit.errors import OcrkitError

# glibc of each runtime's OS, as manylinux platform tags pip accepts (newest last).
_AL2 = ("manylinux2014", "manylinux_2_24", "manylinux_2_26")
_AL2023 = (*_AL2, "manylinux_2_27", "manylinux_2_28", "manylinux_2_31", "manylinux_2_34")

# Exact pins per runtime family. al2023: the versions the test suite runs (onnxruntime 1.32.0, numpy 2.4.6,
# pillow 13.0.0 in the project's environment); al2: the newest releases with glibc-2.26 wheels.
PINS: dict[str, tuple[str, ...]] = {
    "al2": ("onnxruntime==1.16.3", "numpy==1.26.4", "pillow==12.2.0"),
    "al2023": ("onnxruntime==1.32.0", "numpy==2.4.6", "pillow==13.0.0"),
}
RUNTIME_OS = {"python3.11": "al2", "python3.12": "al2023", "python3.13": "al2023"}
ARCH = {"x86_64": "x86_64", "arm64": "aarch64"}


@dataclass(frozen=True)
class WheelTarget:
    """What the wheels must run on: a Lambda runtime and architecture."""

    runtime: str  # python3.11 | python3.12 | python3.13
    architecture: str  # x86_64 | arm64

    @property
    def python_version(self) -> str:
        return self.runtime.removeprefix("python")

    @property
    def platforms(self) -> tuple[str, ...]:
        machine = ARCH[self.architecture]
        return tuple(f"{tag}_{machine}" for tag in (_AL2 if self.os == "al2" else _AL2023))

    @property
    def os(self) -> str:
        return RUNTIME_OS[self.runtime]

    @property
    def pins(self) -> tuple[str, ...]:
        return PINS[self.os]

    @property
    def key(self) -> str:
        """A folder name that changes when anything that picks the wheels changes."""
        text = json.dumps([self.python_version, self.platforms, self.pins])
        return f"{self.runtime}-{self.architecture}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def wheels_root() -> Path:
    from ocrkit.engine.cache import cache_root  # the engine's cache folder; its module needs numpy

    return cache_root().parent / "lambda-wheels"


def pip_command(target: WheelTarget, dest: Path) -> list[str]:
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check"]
    cmd += ["--only-binary=:all:", "--no-deps", "--implementation", "cp"]
    cmd += ["--python-version", target.python_version, "--dest", str(dest)]
    for platform in target.platforms:
        cmd += ["--platform", platform]
    return cmd + list(target.pins)


def download_wheels(target: WheelTarget, root: Path | None = None) -> list[Path]:
    """The pinned wheels for `target`, from the cache or downloaded now (one pip call)."""
    folder = (root or wheels_root()) / target.key
    done = folder / "wheels.json"
    if done.is_file():
        names = json.loads(done.read_text(encoding="utf-8"))
        paths = [folder / n for n in names]
        if all(p.is_file() for p in paths):
            return paths
    folder.mkdir(parents=True, exist_ok=True)
    try:
        proc = subprocess.run(  # noqa: S603 - this interpreter's pip, fixed arguments
            pip_command(target, folder), capture_output=True, text=True, timeout=600, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise OcrkitError(f"could not run pip to download the function's wheels ({exc})") from None
    if proc.returncode != 0:
        last = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise OcrkitError(
            f"pip could not download the function's wheels for {target.runtime} {target.architecture}: "
            f"{last[0][:200]}",
            hint="the package index must be reachable at build time; `ocrkit deploy --dry-run` needs it too",
        )
    wheels = sorted(p for p in folder.glob("*.whl"))
    names = {_dist_name(p) for p in wheels}
    wanted = {pin.split("==")[0].lower() for pin in target.pins}
    if not wanted <= names:
        raise OcrkitError(f"pip did not download {', '.join(sorted(wanted - names))} for {target.runtime}")
    chosen = [p for p in wheels if _dist_name(p) in wanted and _pinned(p, target)]
    done.write_text(json.dumps([p.name for p in chosen]), encoding="utf-8")
    return chosen


def _dist_name(wheel: Path) -> str:
    return wheel.name.split("-")[0].lower().replace("_", "-")


def _pinned(wheel: Path, target: WheelTarget) -> bool:
    version = wheel.name.split("-")[1]
    return f"{_dist_name(wheel)}=={version}" in target.pins


def unpack_wheel(wheel: Path, root: Path | None = None) -> Path:
    """The wheel's files, unpacked once into `site/<sha256>/` (a wheel is a zip laid out for site-packages;
    `.data/purelib|platlib` folders are moved to the top as pip would)."""
    site = (root or wheels_root()) / "site" / file_sha256(wheel)
    marker = site / ".complete"
    if marker.is_file():
        return site
    staging = site.with_name(site.name + f".tmp{os.getpid()}")
    with zipfile.ZipFile(wheel) as zf:
        for info in zf.infolist():
            name = info.filename
            parts = name.split("/")
            if parts[0].endswith(".data"):
                if len(parts) < 3 or parts[1] not in ("purelib", "platlib"):
                    continue  # scripts, headers: not importable code
                name = "/".join(parts[2:])
            if info.is_dir() or not name:
                continue
            out = staging / name
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(zf.read(info))
            if (info.external_attr >> 16) & 0o111:
                out.chmod(0o755)
    staging.joinpath(".complete").write_text(wheel.name, encoding="utf-8")
    if site.exists():  # another process finished first
        import shutil

        shutil.rmtree(staging, ignore_errors=True)
    else:
        staging.rename(site)
    return site


# Left out of the zip: code an `InferenceSession` never imports (onnxruntime's model-conversion, quantization
# and tooling packages, the packages' test suites). A few MB zipped that keep the python3.12 x86_64 zip
# under Lambda's 50 MB direct upload; the bare-interpreter test imports what is left.
PRUNED_PREFIXES = (
    "onnxruntime/transformers/",
    "onnxruntime/quantization/",
    "onnxruntime/tools/",
    "onnxruntime/datasets/",
)


def pruned(rel: str) -> bool:
    parts = rel.split("/")
    return (
        rel.startswith(PRUNED_PREFIXES)
        or (parts[0] in ("numpy", "PIL") and "tests" in parts[:-1])
        or "__pycache__" in parts
    )


def site_files(sites: list[Path]) -> dict[str, Path]:
    """{path inside the zip: file} for the unpacked wheels (marker files and `pruned` paths left out)."""
    out: dict[str, Path] = {}
    for site in sites:
        for path in sorted(site.rglob("*")):
            if path.is_file() and path.name != ".complete" and not pruned(path.relative_to(site).as_posix()):
                rel = path.relative_to(site).as_posix()
                if rel in out:
                    raise OcrkitError(f"two wheels ship {rel}; cannot build the function zip")
                out[rel] = path
    return out
