"""Which addresses an image URL may reach."""

from __future__ import annotations

import ipaddress

import pytest

from ocrkit.gateway.addresses import refusal_reason

ip = ipaddress.ip_address


@pytest.mark.parametrize(
    ("address", "word"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("::1", "loopback"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "not a public"),
        ("169.254.169.254", "metadata"),
        ("169.254.10.10", "link-local"),
        ("fe80::1", "link-local"),
        ("fc00::1", "private"),
        ("fd00:ec2::254", "metadata"),
        ("100.100.100.200", "metadata"),
        ("168.63.129.16", "metadata"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "address"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:169.254.169.254", "metadata"),
        ("::ffff:10.0.0.1", "private"),
        ("2002:a9fe:a9fe::", "metadata"),  # 6to4 around 169.254.169.254
        ("64:ff9b::a00:1", "private"),  # NAT64 around 10.0.0.1
        ("192.0.2.1", "address"),  # documentation range
    ],
)
def test_refused(address: str, word: str) -> None:
    reason = refusal_reason(ip(address))
    assert reason is not None and word in reason


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_pass(address: str) -> None:
    assert refusal_reason(ip(address)) is None


def test_allowed_networks_let_private_through_but_not_metadata() -> None:
    allowed = [ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("169.254.0.0/16")]
    assert refusal_reason(ip("127.0.0.1"), allowed) is None
    assert refusal_reason(ip("::ffff:127.0.0.1"), allowed) is None
    assert refusal_reason(ip("169.254.169.254"), allowed) is not None
    assert refusal_reason(ip("10.0.0.1"), allowed) is not None
    assert refusal_reason(ip("::1"), allowed) is not None  # an IPv4 network does not allow IPv6
