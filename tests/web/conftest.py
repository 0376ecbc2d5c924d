"""Fixtures for the web page and client tests: `ocrkit serve` (gunicorn) on 127.0.0.1, a local image
host for URL input, and a headless Chromium driven by Playwright."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.gateway.imagehost import image_host  # noqa: F401 - shared fixture
from tests.loadtest.servers import Served, running_server
from tests.server.conftest import serve  # noqa: F401 - shared fixture

CHROMIUM = os.environ.get("OCRKIT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: URL input from a local test host is refused by default (loopback); the tests allow it explicitly.
LOCAL_URLS = {"OCRKIT_URL_ALLOWED_NETWORKS": "127.0.0.0/8", "OCRKIT_URL_ALLOW_HTTP": "true"}


@pytest.fixture(scope="module")
def echo_endpoint(tmp_path_factory) -> Iterator[Served]:
    """`ocrkit serve` with a fake model that reads each image as '<format> <w>x<h>'."""
    tmp = tmp_path_factory.mktemp("serve")
    with running_server(["--predictor", "tests.loadtest.fakes:echo"], tmp_path=tmp, env=LOCAL_URLS) as served:
        yield served


@pytest.fixture(scope="module")
def browser_context():
    """A fresh headless Chromium profile (skips cleanly when Chromium or Playwright is missing)."""
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium (`make sysdeps` does)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (ocrkit[dev])")
    profile = tempfile.mkdtemp(prefix="ocrkit-chromium-")
    with sync_api.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 900, "height": 760},
        )
        try:
            yield context
        finally:
            context.close()
            shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def page(browser_context):
    page = browser_context.new_page()
    page.set_default_timeout(30_000)
    yield page
    page.close()
