"""Fixtures for gateway tests."""

from tests.gateway.imagehost import image_host  # noqa: F401 - fixture
