"""Reproducible archives and module bundles."""

from __future__ import annotations

import os
import tarfile
import time
import zipfile
from pathlib import Path

from ocrkit.deploy.artifact import (
    FIXED_MTIME,
    Entry,
    build_cached,
    build_targz,
    build_zip,
    bundle_modules,
    imports_of_file,
)


def test_targz_is_reproducible_whatever_the_files_mtimes(tmp_path) -> None:
    src = tmp_path / "weights.bin"
    src.write_bytes(os.urandom(10_000))
    entries = [Entry("b/two.txt", b"2"), Entry("model.pt", src), Entry("a/one.py", b"print(1)")]
    first = build_targz(entries, tmp_path / "1.tar.gz")
    os.utime(src, (time.time() + 3600, time.time() + 3600))
    second = build_targz(list(reversed(entries)), tmp_path / "2.tar.gz")
    assert first.sha256 == second.sha256
    assert first.members == ("a/one.py", "b/two.txt", "model.pt")
    with tarfile.open(first.path) as tar:
        infos = tar.getmembers()
    assert [i.name for i in infos] == ["a", "b", "a/one.py", "b/two.txt", "model.pt"]
    assert {(i.mtime, i.uid, i.gid, i.uname, i.gname) for i in infos} == {(FIXED_MTIME, 0, 0, "", "")}
    assert first.path.read_bytes()[3] == 0  # no file name in the gzip header
    assert first.path.read_bytes()[4:8] == b"\0\0\0\0"  # gzip mtime 0


def test_zip_is_reproducible(tmp_path) -> None:
    entries = [Entry("x/b.py", b"b"), Entry("x/a.py", b"a")]
    first = build_zip(entries, tmp_path / "1.zip")
    second = build_zip(entries[::-1], tmp_path / "2.zip")
    assert first.sha256 == second.sha256
    with zipfile.ZipFile(first.path) as zf:
        assert zf.namelist() == ["x/a.py", "x/b.py"]
        assert {i.date_time for i in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)}


def test_cached_build_reuses_the_archive_only_for_the_same_inputs(tmp_path) -> None:
    calls: list[int] = []

    def counting(entries, out):
        calls.append(1)
        return build_targz(entries, out)

    out = tmp_path / "m.tar.gz"
    a = build_cached([Entry("f", b"1")], out, counting)
    b = build_cached([Entry("f", b"1")], out, counting)
    assert a.sha256 == b.sha256 and len(calls) == 1
    c = build_cached([Entry("f", b"2")], out, counting)
    assert c.sha256 != a.sha256 and len(calls) == 2
    out.write_bytes(b"tampered")
    d = build_cached([Entry("f", b"2")], out, counting)
    assert d.sha256 == c.sha256 and len(calls) == 3


def test_bundle_follows_imports_in_functions_but_not_type_checking(tmp_path) -> None:
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "entry.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "from pkg.sub import helper\n"
        "from . import relative\n"
        "if TYPE_CHECKING:\n    from pkg import typing_only\n"
        "def f():\n    import pkg.lazy\n"
    )
    for name in ("relative", "typing_only", "lazy", "unused"):
        (pkg / f"{name}.py").write_text("")
    (pkg / "sub" / "helper.py").write_text("import json\n")
    found = bundle_modules(["pkg.entry"], package_root=tmp_path, top="pkg")
    assert sorted(found) == ["pkg", "pkg.entry", "pkg.lazy", "pkg.relative", "pkg.sub", "pkg.sub.helper"]
    assert "pkg.sub.helper" in imports_of_file(pkg / "entry.py", "pkg.entry")
    assert isinstance(found["pkg.entry"], Path)
