"""Limits: documented defaults, config mappings, environment variables, validation."""

from __future__ import annotations

import ipaddress

import pytest

from ocrkit.errors import ConfigError
from ocrkit.gateway.limits import Limits


def test_defaults() -> None:
    limits = Limits()
    assert limits.max_request_bytes == 10 * 1024 * 1024
    assert limits.max_image_bytes == 6 * 1024 * 1024
    assert limits.max_pixels == 40_000_000
    assert (limits.max_width, limits.max_height, limits.max_batch) == (20_000, 20_000, 16)
    assert limits.backend_timeout_s == 25.0
    assert (limits.url_timeout_s, limits.url_max_redirects) == (10.0, 3)
    assert limits.url_allow_http is False
    assert limits.url_allowed_hosts == () and limits.url_allowed_networks == ()
    assert limits.url_input is True


def test_from_mapping_coerces_types() -> None:
    limits = Limits.from_mapping(
        {
            "max_image_bytes": "1000",
            "backend_timeout_s": 2,
            "url_allow_http": "yes",
            "url_allowed_networks": ["127.0.0.0/8", "::1/128"],
            "url_allowed_hosts": "Images.Example.com., cdn.example.com",
        }
    )
    assert limits.max_image_bytes == 1000
    assert limits.backend_timeout_s == 2.0
    assert limits.url_allow_http is True
    assert limits.url_allowed_hosts == ("images.example.com", "cdn.example.com")
    assert ipaddress.ip_address("127.0.0.5") in limits.networks()[0]


def test_from_env() -> None:
    env = {
        "OCRKIT_MAX_BATCH": "4",
        "OCRKIT_URL_ALLOWED_NETWORKS": "10.0.0.0/8, 192.168.0.0/16",
        "OCRKIT_URL_INPUT": "false",
        "OCRKIT_MAX_PIXELS": "",
        "UNRELATED": "x",
    }
    limits = Limits.from_env(env)
    assert limits.max_batch == 4
    assert limits.url_allowed_networks == ("10.0.0.0/8", "192.168.0.0/16")
    assert limits.url_input is False
    assert limits.max_pixels == Limits().max_pixels


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"max_batch": 0}, "max_batch"),
        ({"max_image_bytes": "lots"}, "max_image_bytes"),
        ({"url_allow_http": "maybe"}, "url_allow_http"),
        ({"url_allowed_networks": "not-a-cidr"}, "url_allowed_networks"),
        ({"backend_timeout_s": 0}, "backend_timeout_s"),
        ({"max_widht": 5}, "max_widht"),
        ({"max_batch": True}, "max_batch"),
    ],
)
def test_bad_settings_name_the_field(data: dict, field: str) -> None:
    with pytest.raises(ConfigError) as info:
        Limits.from_mapping(data)
    assert info.value.field == field


def test_with_makes_a_changed_copy() -> None:
    base = Limits()
    changed = base.with_(max_batch=2)
    assert changed.max_batch == 2 and base.max_batch == 16
