"""Fixtures for the load tests: the model server's `serve` fixture (wsgiref in a thread, tests only)."""

from tests.server.conftest import serve  # noqa: F401 - shared fixture
