"""Safe URL fetching (seed 001's `{"url": ...}` input) against a real HTTP server on 127.0.0.1.

Public host names are simulated by patching `socket.getaddrinfo`; nothing leaves this machine.
"""

from __future__ import annotations

import contextlib
import socket
import threading

import pytest

from ocrkit.gateway.errors import GatewayError
from ocrkit.gateway.fetch import UrlFetcher
from ocrkit.gateway.limits import Limits
from tests.gateway.imagegen import make_png
from tests.gateway.imagehost import endless_route, slow_route

LOCAL = Limits(url_allow_http=True, url_allowed_networks=("127.0.0.0/8",))


def fetch_error(url: str, limits: Limits = LOCAL, **kwargs) -> GatewayError:
    with pytest.raises(GatewayError) as info:
        UrlFetcher(limits, **kwargs).fetch(url)
    return info.value


def fake_dns(mapping: dict[str, list[str]], calls: list | None = None):
    """A getaddrinfo that answers for made-up public names and passes numeric hosts through."""
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if calls is not None:
            calls.append(host)
        if host in mapping:
            out = []
            for address in mapping[host]:
                family = socket.AF_INET6 if ":" in address else socket.AF_INET
                sockaddr = (address, port, 0, 0) if family == socket.AF_INET6 else (address, port)
                out.append((family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr))
            return out
        if host == "localhost" or _numeric(host):
            return real(host, port, *args, **kwargs)  # answered locally, no DNS query
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    return getaddrinfo


def _numeric(host: str) -> bool:
    try:
        socket.inet_aton(host)
        return True
    except OSError:
        return False


def test_fetches_from_an_allowed_local_host(image_host) -> None:
    body = UrlFetcher(LOCAL).fetch(image_host.url("/line.png"))
    assert body == make_png(40, 10)
    assert image_host.seen[0]["headers"]["User-Agent"].startswith("ocrkit-gateway")


def test_loopback_is_refused_without_the_allow_list(image_host) -> None:
    err = fetch_error(image_host.url("/line.png"), Limits(url_allow_http=True))
    assert (err.status, err.code) == (422, "url_refused")
    assert "loopback" in err.message
    assert image_host.seen == []  # no connection was made


def test_plain_http_is_refused_by_default() -> None:
    err = fetch_error("http://images.example.com/a.png", Limits())
    assert (err.status, err.code) == (422, "url_refused")
    assert "https" in err.message


@pytest.mark.parametrize(
    ("url", "word"),
    [
        ("https://127.0.0.1/a.png", "loopback"),
        ("https://169.254.169.254/latest/meta-data/", "metadata"),
        ("https://10.0.0.7/a.png", "private"),
        ("https://[::1]/a.png", "loopback"),
        ("https://[::ffff:169.254.169.254]/", "metadata"),
        ("https://[fd00:ec2::254]/latest/", "metadata"),
        ("https://localhost/a.png", "loopback"),
        ("https://2130706433/a.png", "loopback"),  # 127.0.0.1 spelled as one number
        ("https://0x7f.1/a.png", "loopback"),
        ("https://metadata.google.internal/computeMetadata/v1/", "metadata"),
    ],
)
def test_internal_targets_are_refused(url: str, word: str, monkeypatch) -> None:
    monkeypatch.setattr(socket, "getaddrinfo", fake_dns({}))
    err = fetch_error(url, Limits())
    assert (err.status, err.code) == (422, "url_refused")
    assert word in err.message


def test_public_name_resolving_to_private_address_is_refused(monkeypatch) -> None:
    monkeypatch.setattr(socket, "getaddrinfo", fake_dns({"images.example.test": ["10.20.30.40"]}))
    err = fetch_error("https://images.example.test/a.png", Limits())
    assert err.code == "url_refused"
    assert "images.example.test resolves to 10.20.30.40" in err.message


def test_every_resolved_address_is_checked(monkeypatch) -> None:
    dns = fake_dns({"mixed.example.test": ["93.184.216.34", "169.254.169.254"]})
    monkeypatch.setattr(socket, "getaddrinfo", dns)
    err = fetch_error("https://mixed.example.test/a.png", Limits())
    assert err.code == "url_refused" and "metadata" in err.message


def test_connects_to_the_checked_address_with_the_original_host_header(image_host, monkeypatch) -> None:
    calls: list = []
    monkeypatch.setattr(socket, "getaddrinfo", fake_dns({"images.example.test": ["127.0.0.1"]}, calls))
    body = UrlFetcher(LOCAL).fetch(f"http://images.example.test:{image_host.port}/line.png")
    assert body == make_png(40, 10)
    assert image_host.seen[0]["headers"]["Host"] == f"images.example.test:{image_host.port}"
    assert calls == ["images.example.test"]  # resolved once; the connection used that answer


def test_dns_rebinding_after_the_check_has_no_effect(image_host, monkeypatch) -> None:
    answers = iter([["127.0.0.1"], ["10.9.9.9"], ["10.9.9.9"]])
    real = fake_dns({})

    def rebinding(host, port, *args, **kwargs):
        if host == "rebind.example.test":
            return fake_dns({host: next(answers)})(host, port)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    body = UrlFetcher(LOCAL).fetch(f"http://rebind.example.test:{image_host.port}/line.png")
    assert body == make_png(40, 10)


def test_https_sends_sni_for_the_original_name_to_the_pinned_address(monkeypatch) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    captured: list[bytes] = []

    def accept() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(2)
            with contextlib.suppress(OSError):
                captured.append(conn.recv(4096))

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    monkeypatch.setattr(socket, "getaddrinfo", fake_dns({"secure.example.test": ["127.0.0.1"]}))
    err = fetch_error(
        f"https://secure.example.test:{port}/a.png",
        Limits(url_allowed_networks=("127.0.0.0/8",), url_timeout_s=3),
    )
    thread.join(3)
    listener.close()
    assert err.code in ("url_fetch_failed", "url_timeout")
    assert captured and captured[0][:1] == b"\x16"  # a TLS ClientHello reached the pinned address
    assert b"secure.example.test" in captured[0]  # ... naming the original host (SNI)


def test_redirect_to_metadata_is_refused(image_host) -> None:
    image_host.routes["/go"] = (302, {"Location": "http://169.254.169.254/latest/meta-data/"}, b"")
    err = fetch_error(image_host.url("/go"))
    assert err.code == "url_refused" and "metadata" in err.message


def test_redirect_from_allowed_host_to_private_network_is_refused(image_host, monkeypatch) -> None:
    monkeypatch.setattr(socket, "getaddrinfo", fake_dns({"internal.example.test": ["10.0.0.8"]}))
    image_host.routes["/go"] = (301, {"Location": "http://internal.example.test/secret.png"}, b"")
    err = fetch_error(image_host.url("/go"))
    assert err.code == "url_refused" and "10.0.0.8" in err.message


def test_redirect_to_another_scheme_is_refused(image_host) -> None:
    image_host.routes["/go"] = (302, {"Location": "file:///etc/passwd"}, b"")
    assert fetch_error(image_host.url("/go")).code == "url_refused"


def test_relative_redirects_are_followed(image_host) -> None:
    image_host.routes["/old.png"] = (308, {"Location": "/line.png"}, b"")
    assert UrlFetcher(LOCAL).fetch(image_host.url("/old.png")) == make_png(40, 10)


def test_redirect_limit(image_host) -> None:
    for i in range(1, 5):
        image_host.routes[f"/r{i}"] = (302, {"Location": f"/r{i + 1}"}, b"")
    image_host.routes["/r5"] = (302, {"Location": "/line.png"}, b"")
    err = fetch_error(image_host.url("/r1"))  # 5 redirects, the limit is 3
    assert (err.status, err.code) == (422, "url_fetch_failed")
    assert "more than 3" in err.message
    assert UrlFetcher(LOCAL.with_(url_max_redirects=5)).fetch(image_host.url("/r1")) == make_png(40, 10)


def test_declared_size_over_the_cap_is_413(image_host) -> None:
    image_host.routes["/big.png"] = (200, {}, make_png(200, 200))
    err = fetch_error(image_host.url("/big.png"), LOCAL.with_(max_image_bytes=500))
    assert (err.status, err.code) == (413, "image_too_large")


def test_streamed_body_over_the_cap_is_413(image_host) -> None:
    image_host.routes["/endless"] = endless_route
    err = fetch_error(image_host.url("/endless"), LOCAL.with_(max_image_bytes=200_000))
    assert (err.status, err.code) == (413, "image_too_large")


def test_slow_host_times_out(image_host) -> None:
    image_host.routes["/slow.png"] = slow_route(2.0)
    err = fetch_error(image_host.url("/slow.png"), LOCAL.with_(url_timeout_s=0.3))
    assert (err.status, err.code) == (422, "url_timeout")


def test_not_found_is_fetch_failed(image_host) -> None:
    err = fetch_error(image_host.url("/missing.png"))
    assert (err.status, err.code) == (422, "url_fetch_failed")
    assert "404" in err.message


def test_closed_port_is_fetch_failed() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    err = fetch_error(f"http://127.0.0.1:{port}/a.png")
    assert err.code == "url_fetch_failed"


def test_unresolvable_name_is_fetch_failed(monkeypatch) -> None:
    monkeypatch.setattr(socket, "getaddrinfo", fake_dns({}))
    err = fetch_error("https://no-such-host.example.test/a.png", Limits())
    assert err.code == "url_fetch_failed" and "resolve" in err.message


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/a.png",
        "file:///etc/passwd",
        "gopher://example.com/",
        "https://user:secret@example.com/a.png",
        "https:///a.png",
        "https://example.com:99999/a.png",
        "example.com/a.png",
    ],
)
def test_malformed_or_foreign_urls_are_refused(url: str) -> None:
    err = fetch_error(url, Limits())
    assert (err.status, err.code) == (422, "url_refused")


def test_host_allow_list(image_host, monkeypatch) -> None:
    monkeypatch.setattr(socket, "getaddrinfo", fake_dns({"cdn.example.test": ["127.0.0.1"]}))
    limits = LOCAL.with_(url_allowed_hosts=("cdn.example.test",))
    assert UrlFetcher(limits).fetch(f"http://CDN.example.test:{image_host.port}/line.png") == make_png(40, 10)
    err = fetch_error(image_host.url("/line.png"), limits)
    assert err.code == "url_refused" and "not on this gateway's list" in err.message


def test_non_ascii_paths_are_percent_encoded(image_host) -> None:
    image_host.routes["/%D1%81%D0%BB%D0%BE%D0%B2%D0%BE%20one.png"] = (200, {}, make_png(40, 10))
    assert UrlFetcher(LOCAL).fetch(image_host.url("/слово one.png")) == make_png(40, 10)
