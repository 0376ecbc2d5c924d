"""Reproducible archives and module bundles: the local build stage (no remote calls).

The same inputs always give the same bytes, hence the same sha256: entries are sorted, every mtime is fixed
(1980-01-01, the earliest a zip can hold), owners are uid/gid 0 with no names, modes are 0644/0755, and the
gzip header carries no file name and mtime 0. The sha256 is what the planner compares with what is deployed.

`bundle_modules` finds the ocrkit modules an entry point needs by reading import statements (also those
inside functions, which is where ocrkit imports torch-backed code lazily), so that an archive carries what it
imports and nothing else: the Lambda zip stays torch-free and small, and the SageMaker `code/` folder is
self-contained.
"""

from __future__ import annotations

import ast
import gzip
import hashlib
import io
import json
import tarfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

FIXED_MTIME = 315532800  # 1980-01-01T00:00:00Z
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Entry:
    """One archive member: its path inside the archive and its content (bytes, or a file to read)."""

    arcname: str
    source: bytes | Path
    executable: bool = False

    def size(self) -> int:
        return len(self.source) if isinstance(self.source, bytes) else self.source.stat().st_size

    def open(self) -> io.BufferedIOBase:
        if isinstance(self.source, bytes):
            return io.BytesIO(self.source)
        return open(self.source, "rb")  # noqa: SIM115 - closed by the caller


@dataclass(frozen=True)
class BuiltArchive:
    path: Path
    sha256: str
    size: int
    members: tuple[str, ...]


@dataclass(frozen=True)
class BuildOutputs:
    """A cloud target's two local build products: the model artifact and the gateway's function code."""

    model: BuiltArchive
    function: BuiltArchive


def existing_weights(weights: Path) -> Path:
    """The checkpoint to package, refused before any build step when the file is not there."""
    weights = Path(weights).expanduser()
    if not weights.is_file():
        from ocrkit.errors import OcrkitError

        raise OcrkitError(
            f"model weights not found: {weights}",
            hint="pass --weights PATH, set weights: in the config, or export OCRKIT_WEIGHTS",
        )
    return weights.resolve()


def _sorted_unique(entries: Iterable[Entry]) -> list[Entry]:
    seen: dict[str, Entry] = {}
    for entry in entries:
        name = entry.arcname.lstrip("/")
        if name in seen:
            raise ValueError(f"two archive entries named {name}")
        seen[name] = Entry(name, entry.source, entry.executable)
    return [seen[k] for k in sorted(seen)]


def _parent_dirs(names: Iterable[str]) -> list[str]:
    dirs: set[str] = set()
    for name in names:
        parts = name.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            dirs.add("/".join(parts[:i]))
    return sorted(dirs)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def build_targz(entries: Iterable[Entry], out: Path, *, compresslevel: int = 6) -> BuiltArchive:
    """A reproducible .tar.gz at `out`."""
    members = _sorted_unique(entries)
    out.parent.mkdir(parents=True, exist_ok=True)
    with (
        open(out, "wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=compresslevel) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.USTAR_FORMAT) as tar,
    ):
        for directory in _parent_dirs(m.arcname for m in members):
            tar.addfile(_tarinfo(directory + "/", tarfile.DIRTYPE, 0o755, 0))
        for member in members:
            mode = 0o755 if member.executable else 0o644
            info = _tarinfo(member.arcname, tarfile.REGTYPE, mode, member.size())
            with member.open() as fh:
                tar.addfile(info, fh)
    return BuiltArchive(out, file_sha256(out), out.stat().st_size, tuple(m.arcname for m in members))


def inputs_digest(entries: Iterable[Entry]) -> str:
    """A digest of an archive's inputs (names, modes, contents): equal digests give equal archives."""
    digest = hashlib.sha256()
    for entry in _sorted_unique(entries):
        if isinstance(entry.source, bytes):
            content = hashlib.sha256(entry.source).hexdigest()
        else:
            content = file_sha256(entry.source)
        digest.update(f"{entry.arcname}\0{int(entry.executable)}\0{content}\n".encode())
    return digest.hexdigest()


def build_cached(entries: Iterable[Entry], out: Path, builder=None) -> BuiltArchive:
    """Build `out` unless it was already built from the same inputs (a large checkpoint takes seconds to
    compress; hashing it takes a fraction of that). The archive itself is re-hashed before reuse."""
    entries = list(entries)
    builder = builder or build_targz
    digest = inputs_digest(entries)
    manifest = out.with_name(out.name + ".inputs.json")
    if out.is_file() and manifest.is_file():
        try:
            recorded = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            recorded = {}
        if recorded.get("inputs") == digest:
            sha = file_sha256(out)
            if sha == recorded.get("sha256"):
                return BuiltArchive(out, sha, out.stat().st_size, tuple(recorded.get("members") or ()))
    built = builder(entries, out)
    manifest.write_text(
        json.dumps({"inputs": digest, "sha256": built.sha256, "members": list(built.members)}),
        encoding="utf-8",
    )
    return built


def _tarinfo(name: str, kind: bytes, mode: int, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.size = size
    info.mtime = FIXED_MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def build_zip(entries: Iterable[Entry], out: Path) -> BuiltArchive:
    """A reproducible .zip at `out` (deflated)."""
    members = _sorted_unique(entries)
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for member in members:
            info = zipfile.ZipInfo(member.arcname, date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = ((0o755 if member.executable else 0o644) | 0o100000) << 16
            info.create_system = 3  # unix, so that the mode bits above are honoured
            with member.open() as fh:
                zf.writestr(info, fh.read())
    return BuiltArchive(out, file_sha256(out), out.stat().st_size, tuple(m.arcname for m in members))


# -- module bundles ----------------------------------------------------------------------------------


def _module_file(root: Path, module: str) -> Path | None:
    """The file of `module` (a dotted name) under `root` (the folder holding the top package)."""
    base = root.joinpath(*module.split("."))
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    return None


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported_names(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    """Absolute dotted names imported anywhere in a module (also in functions; not under TYPE_CHECKING)."""
    names: set[str] = set()
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                for sub in ast.walk(child):
                    skip.add(id(sub))
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = module.split(".")
                keep = len(parts) - node.level + (1 if is_package else 0)
                base = ".".join(parts[:keep] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
    return names


def imports_of_file(path: Path, module: str) -> set[str]:
    """The absolute names a source file imports, read as if it were module `module`."""
    tree = ast.parse(Path(path).read_text(encoding="utf-8"), filename=str(path))
    return _imported_names(tree, module, Path(path).name == "__init__.py")


def bundle_modules(roots: Iterable[str], *, package_root: Path, top: str = "ocrkit") -> dict[str, Path]:
    """Every module of package `top` that `roots` import, directly or not: {dotted name: file}.

    Parent packages' `__init__.py` files come along (Python runs them on import). Names that are not
    modules (classes, functions imported with `from x import y`) are ignored.
    """
    found: dict[str, Path] = {}
    queue = list(roots)
    while queue:
        name = queue.pop()
        if name in found or not (name == top or name.startswith(top + ".")):
            continue
        path = _module_file(package_root, name)
        if path is None:
            continue
        found[name] = path
        parts = name.split(".")
        queue.extend(".".join(parts[:i]) for i in range(1, len(parts)))
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        queue.extend(_imported_names(tree, name, path.name == "__init__.py"))
    return found


def module_entries(modules: dict[str, Path], *, prefix: str = "", package_root: Path) -> list[Entry]:
    """Archive entries for a module bundle, at their package paths under `prefix`."""
    out = []
    for path in modules.values():
        rel = path.relative_to(package_root).as_posix()
        out.append(Entry(f"{prefix}{rel}", path.read_bytes()))
    return out
