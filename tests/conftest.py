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


@pytest.fixture(autouse=True, scope="module")
def _opencv_caps_are_put_back():
    """The container entries (model_fn, the TorchServe handler) set OpenCV's decode caps in os.environ, as
    they must inside a container; tests that run them in this process get them put back after the module,
    so that a later test's subprocess does not inherit them (cap_decoder keeps a value already set)."""
    import os

    from ocrkit.server.decoder import HEIGHT_ENV, PIXELS_ENV, WIDTH_ENV

    saved = {key: os.environ.get(key) for key in (PIXELS_ENV, WIDTH_ENV, HEIGHT_ENV)}
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
