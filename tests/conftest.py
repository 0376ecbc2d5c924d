"""Shared fixtures. Component-specific fixtures live in the test package that uses them."""

from __future__ import annotations

import importlib.util

import pytest


def _has_torch() -> bool:
    return importlib.util.find_spec("torch") is not None


def pytest_collection_modifyitems(config, items):
    if _has_torch():
        return
    skip = pytest.mark.skip(reason="needs the ocrkit[model] extra (torch)")
    for item in items:
        if "model" in item.keywords:
            item.add_marker(skip)
