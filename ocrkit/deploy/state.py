"""The deploy state file: what was created, where, from which config, shared by every provider.

One JSON file per deployment and cloud, `.ocrkit/state/<name>-<cloud>.json` under the current directory
(`$OCRKIT_STATE_DIR` moves the folder). The executor rewrites it after every step, atomically (a temporary
file in the same folder, flushed, then renamed over the old one), so that a run that stops half-way leaves
a file that says exactly what exists, and the next run resumes from it.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ocrkit.deploy.records import ResourceRecord
from ocrkit.errors import OcrkitError

STATE_DIR_ENV = "OCRKIT_STATE_DIR"
DEFAULT_STATE_DIR = Path(".ocrkit") / "state"
FORMAT_VERSION = 1


def state_dir() -> Path:
    return Path(os.environ.get(STATE_DIR_ENV) or DEFAULT_STATE_DIR)


def state_path(name: str, cloud: str, root: Path | None = None) -> Path:
    return (root or state_dir()) / f"{name}-{cloud}.json"


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


@dataclass
class DeployState:
    """What one deployment holds on one cloud. Implements `ocrkit.deploy.records.StateLike`."""

    name: str
    cloud: str
    path: Path
    resources: dict[str, ResourceRecord] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    config_hash: str | None = None
    artifact_sha256: str | None = None
    created_at: str = field(default_factory=_now)
    updated_at: str = field(default_factory=_now)

    # -- changes ------------------------------------------------------------------------------------

    def record(self, key: str, record: ResourceRecord) -> None:
        self.resources[key] = record

    def forget(self, key: str) -> ResourceRecord | None:
        return self.resources.pop(key, None)

    def find(self, kind: str, resource_id: str) -> str | None:
        """The key under which a resource of `kind` with `resource_id` is recorded, if any."""
        for key, rec in self.resources.items():
            if rec.kind == kind and rec.id == resource_id:
                return key
        return None

    @property
    def exists(self) -> bool:
        return self.path.exists()

    @property
    def empty(self) -> bool:
        return not self.resources

    # -- file ---------------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "version": FORMAT_VERSION,
            "name": self.name,
            "cloud": self.cloud,
            "config_hash": self.config_hash,
            "artifact_sha256": self.artifact_sha256,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "resources": {
                key: {"kind": rec.kind, "id": rec.id, "attrs": rec.attrs}
                for key, rec in self.resources.items()
            },
            "outputs": self.outputs,
        }

    def save(self) -> Path:
        """Write the file atomically; a reader never sees half of it."""
        self.updated_at = _now()
        text = json.dumps(self.to_json(), indent=2, sort_keys=False, ensure_ascii=False, default=str) + "\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return self.path

    def remove_file(self) -> None:
        self.path.unlink(missing_ok=True)

    @classmethod
    def from_json(cls, data: dict[str, Any], path: Path) -> DeployState:
        try:
            resources = {
                str(key): ResourceRecord(
                    kind=str(v["kind"]), id=str(v["id"]), attrs=dict(v.get("attrs") or {})
                )
                for key, v in (data.get("resources") or {}).items()
            }
            return cls(
                name=str(data["name"]),
                cloud=str(data["cloud"]),
                path=path,
                resources=resources,
                outputs=dict(data.get("outputs") or {}),
                config_hash=data.get("config_hash"),
                artifact_sha256=data.get("artifact_sha256"),
                created_at=str(data.get("created_at") or _now()),
                updated_at=str(data.get("updated_at") or _now()),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise OcrkitError(
                f"{path}: not an ocrkit state file ({exc})",
                hint="move it away; `ocrkit teardown` can still find the resources by their tags",
            ) from None


def lock_path(name: str, cloud: str, root: Path | None = None) -> Path:
    return (root or state_dir()) / f"{name}-{cloud}.lock"


@contextmanager
def deployment_lock(name: str, cloud: str, root: Path | None = None) -> Iterator[Path]:
    """One deploy / teardown of a deployment at a time: an exclusive lock on a file next to the state file
    (released by the OS when the process ends, however it ends), holding the PID of the run that has it."""
    import fcntl

    path = lock_path(name, cloud, root)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise OcrkitError(
                f"another ocrkit run (PID {holder}) is deploying or tearing down '{name}' on {cloud}",
                hint=f"wait for it to finish; the lock is {path}",
            ) from None
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # the holder removed the file as we opened it: lock the new one
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield path
    finally:
        path.unlink(missing_ok=True)  # while still held: the next run creates a fresh file
        os.close(fd)


def load_state(name: str, cloud: str, root: Path | None = None) -> DeployState | None:
    """The state of deployment `name` on `cloud`, or None when there is no file."""
    path = state_path(name, cloud, root)
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise OcrkitError(
            f"{path}: the state file cannot be read ({exc})",
            hint="move it away; `ocrkit teardown` can still find the resources by their tags",
        ) from None
    if not isinstance(data, dict):
        raise OcrkitError(f"{path}: not an ocrkit state file")
    state = DeployState.from_json(data, path)
    if state.name != name or state.cloud != cloud:
        raise OcrkitError(
            f"{path}: holds deployment '{state.name}' on {state.cloud}, not '{name}' on {cloud}"
        )
    return state


def new_state(name: str, cloud: str, root: Path | None = None) -> DeployState:
    return DeployState(name=name, cloud=cloud, path=state_path(name, cloud, root))


def open_state(name: str, cloud: str, root: Path | None = None) -> DeployState:
    """The saved state, or a new empty one (not written until the first step saves it)."""
    return load_state(name, cloud, root) or new_state(name, cloud, root)


def list_states(cloud: str | None = None, root: Path | None = None) -> list[DeployState]:
    folder = root or state_dir()
    if not folder.is_dir():
        return []
    out = []
    for path in sorted(folder.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            state = DeployState.from_json(data, path)
        except (OSError, ValueError, OcrkitError):
            continue
        if cloud is None or state.cloud == cloud:
            out.append(state)
    return out
