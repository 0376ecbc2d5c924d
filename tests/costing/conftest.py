"""Fixtures for the costing tests: the shipped catalogs and a helper to write scenario variants."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from ocrkit.costing.catalog import Catalog, catalog_path, load_catalog
from ocrkit.costing.scenario import scenarios_dir


@pytest.fixture(scope="session")
def aws_catalog() -> Catalog:
    return load_catalog(catalog_path("aws", "us-east-1"))


@pytest.fixture(scope="session")
def gcp_catalog() -> Catalog:
    return load_catalog(catalog_path("gcp", "us-east4"))


@pytest.fixture
def scenario_file(tmp_path: Path) -> Callable[..., Path]:
    """Write a scenario YAML: a built-in one with changes applied, or a dict as given."""

    def write(
        data: dict | None = None, *, base: str | None = None, name: str = "mine.yaml", edit=None
    ) -> Path:
        if base is not None:
            data = yaml.safe_load((scenarios_dir() / f"{base}.yaml").read_text())
        assert data is not None
        if edit is not None:
            edit(data)
        path = tmp_path / name
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path

    return write
