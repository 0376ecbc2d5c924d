"""Fetch an image from a client-supplied URL without letting the URL reach inside our network.

The rules, each applied to the first URL and again to every redirect hop:

- https only (http when `url_allow_http`); no user:password@ in the URL; a host is required;
- when `url_allowed_hosts` is set, the host must be one of those names;
- the host is resolved once and every address it resolves to must be public (see `addresses.py`);
  one refused address refuses the URL, since a resolver may hand out any of them;
- the connection goes to an address that was checked (the IP is pinned), while the Host header, the TLS
  SNI and the certificate check use the original name; so DNS cannot be re-pointed between check and use;
- at most `url_max_redirects` redirects; the body is read in chunks and reading stops past
  `max_image_bytes` (413); the whole fetch, DNS included, shares one `url_timeout_s` deadline.

Status codes: a refused URL is 422 `url_refused`; an unreachable host, a TLS failure, a non-2xx answer or
too many redirects is 422 `url_fetch_failed`; running out of time is 422 `url_timeout`. All are 422 rather
than 5xx because the URL is part of the client's request: the client, not the gateway, must fix it.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable
from urllib.parse import quote, urljoin, urlsplit

from ocrkit.gateway.addresses import METADATA_HOSTNAMES, IPAddress, refusal_reason
from ocrkit.gateway.errors import Code, GatewayError, too_large, url_error
from ocrkit.gateway.limits import Limits

Resolver = Callable[..., list]
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CHUNK = 64 * 1024
USER_AGENT = "ocrkit-gateway/0.1"


class UrlFetcher:
    """`fetcher.fetch(url) -> bytes` under the policy in `limits`.

    `resolver` defaults to `socket.getaddrinfo` looked up at call time; `ssl_context` to the system's
    default verifying context.
    """

    def __init__(
        self,
        limits: Limits,
        *,
        resolver: Resolver | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.limits = limits
        self._resolver = resolver
        self._ssl_context = ssl_context
        self._networks = limits.networks()

    def __call__(self, url: str) -> bytes:
        return self.fetch(url)

    def fetch(self, url: str) -> bytes:
        deadline = time.monotonic() + self.limits.url_timeout_s
        current = url
        for _hop in range(self.limits.url_max_redirects + 1):
            target = self._check_url(current)
            status, location, body = self._request(target, deadline)
            if status in _REDIRECTS:
                if not location:
                    raise url_error(Code.URL_FETCH_FAILED, f"{_short(current)} redirected without a Location")
                current = urljoin(current, location)
                continue
            if not 200 <= status < 300:
                raise url_error(
                    Code.URL_FETCH_FAILED,
                    f"{_short(current)} answered HTTP {status}; expected 200 with an image",
                )
            return body or b""
        raise url_error(
            Code.URL_FETCH_FAILED,
            f"{_short(url)} redirected more than {self.limits.url_max_redirects} times",
        )

    # -- checks -------------------------------------------------------------------------------------

    def _check_url(self, url: str) -> _Target:
        try:
            parts = urlsplit(url.strip())
            port = parts.port
        except ValueError as exc:
            raise url_error(Code.URL_REFUSED, f"the URL is malformed: {exc}") from None
        scheme = parts.scheme.lower()
        if scheme not in ("https", "http"):
            raise url_error(
                Code.URL_REFUSED, f"only https URLs are fetched, not {scheme or 'scheme-less'} URLs"
            )
        if scheme == "http" and not self.limits.url_allow_http:
            raise url_error(Code.URL_REFUSED, f"only https URLs are fetched; {_short(url)} is plain http")
        if parts.username is not None or parts.password is not None:
            raise url_error(Code.URL_REFUSED, "URLs with a user name or password are refused")
        host = (parts.hostname or "").rstrip(".")
        if not host:
            raise url_error(Code.URL_REFUSED, "the URL has no host")
        try:
            ascii_host = host.encode("idna").decode("ascii").lower()
        except UnicodeError:
            raise url_error(Code.URL_REFUSED, f"the host name {host!r} is not valid") from None
        if ascii_host in METADATA_HOSTNAMES:
            raise url_error(Code.URL_REFUSED, f"{ascii_host} is a cloud metadata host")
        if self.limits.url_allowed_hosts and ascii_host not in self.limits.url_allowed_hosts:
            raise url_error(Code.URL_REFUSED, f"{ascii_host} is not on this gateway's list of image hosts")
        port = port or (443 if scheme == "https" else 80)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        path = quote(path, safe="!#$%&'()*+,/:;=?@[]~")  # non-ASCII and spaces, percent-encoded
        return _Target(scheme, ascii_host, port, path, url)

    def _resolve(self, target: _Target, deadline: float) -> list[IPAddress]:
        try:
            literal = ipaddress.ip_address(target.host)
        except ValueError:
            literal = None
        if literal is not None:
            addresses = [literal]
        else:
            infos = _call_with_deadline(
                lambda: (self._resolver or socket.getaddrinfo)(
                    target.host, target.port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
                ),
                deadline,
                f"resolving {target.host}",
            )
            addresses = []
            for info in infos:
                ip = ipaddress.ip_address(info[4][0].split("%", 1)[0])
                if ip not in addresses:
                    addresses.append(ip)
            if not addresses:
                raise url_error(Code.URL_FETCH_FAILED, f"{target.host} resolves to no address")
        for ip in addresses:
            reason = refusal_reason(ip, self._networks)
            if reason:
                shown = "" if literal is not None else f"{target.host} resolves to "
                raise url_error(Code.URL_REFUSED, f"{shown}{reason}; only public addresses are fetched")
        return addresses

    # -- transfer -----------------------------------------------------------------------------------

    def _request(self, target: _Target, deadline: float) -> tuple[int, str | None, bytes | None]:
        addresses = self._resolve(target, deadline)
        last_error: Exception | None = None
        for ip in addresses:
            conn: http.client.HTTPConnection | None = None
            try:
                remaining = _remaining(deadline, target)
                if target.scheme == "https":
                    context = self._ssl_context or ssl.create_default_context()
                    conn = _PinnedHTTPS(target.host, target.port, str(ip), remaining, context)
                else:
                    conn = _PinnedHTTP(target.host, target.port, str(ip), remaining)
                try:
                    conn.connect()
                except TimeoutError:
                    raise
                except ssl.SSLError as exc:
                    raise url_error(
                        Code.URL_FETCH_FAILED, f"TLS with {target.host} failed: {exc.reason or exc}"
                    ) from None
                except OSError as exc:
                    last_error = exc  # try the next checked address
                    continue
                return self._exchange(conn, target, deadline)
            except TimeoutError:
                raise url_error(
                    Code.URL_TIMEOUT,
                    f"fetching {_short(target.url)} took longer than {self.limits.url_timeout_s:g} s",
                ) from None
            except (OSError, ValueError, http.client.HTTPException) as exc:
                raise url_error(
                    Code.URL_FETCH_FAILED, f"fetching {_short(target.url)} failed: {_describe(exc)}"
                ) from None
            finally:
                if conn is not None:
                    conn.close()
        raise url_error(
            Code.URL_FETCH_FAILED,
            f"could not connect to {target.host}:{target.port}: {_describe(last_error)}",
        )

    def _exchange(
        self, conn: http.client.HTTPConnection, target: _Target, deadline: float
    ) -> tuple[int, str | None, bytes | None]:
        conn.putrequest("GET", target.path, skip_accept_encoding=True)
        conn.putheader("User-Agent", USER_AGENT)
        conn.putheader("Accept", "image/*")
        conn.putheader("Accept-Encoding", "identity")
        conn.putheader("Connection", "close")
        conn.endheaders()
        _settimeout(conn, deadline, target)
        response = conn.getresponse()
        if response.status in _REDIRECTS:
            return response.status, response.getheader("Location"), None
        if not 200 <= response.status < 300:
            return response.status, None, None
        cap = self.limits.max_image_bytes
        declared = response.getheader("Content-Length")
        if declared and declared.strip().isdigit() and int(declared) > cap:
            raise too_large(
                Code.IMAGE_TOO_LARGE,
                f"the image at {_short(target.url)} is {int(declared):,} bytes; the limit is {cap:,} bytes",
            )
        chunks: list[bytes] = []
        total = 0
        while True:
            _settimeout(conn, deadline, target)
            chunk = response.read1(_CHUNK) if hasattr(response, "read1") else response.read(_CHUNK)
            if not chunk:
                break
            total += len(chunk)
            if total > cap:
                raise too_large(
                    Code.IMAGE_TOO_LARGE,
                    f"the image at {_short(target.url)} is larger than the limit of {cap:,} bytes",
                )
            chunks.append(chunk)
        return response.status, None, b"".join(chunks)


class _Target:
    __slots__ = ("scheme", "host", "port", "path", "url")

    def __init__(self, scheme: str, host: str, port: int, path: str, url: str) -> None:
        self.scheme, self.host, self.port, self.path, self.url = scheme, host, port, path, url


class _PinnedHTTP(http.client.HTTPConnection):
    """Connects to a checked IP; the Host header still names the URL's host."""

    def __init__(self, host: str, port: int, ip: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._pinned_ip = ip

    def connect(self) -> None:
        self.sock = connect_pinned(self._pinned_ip, self.port, self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    """Connects to a checked IP; SNI, certificate check and Host header use the URL's host."""

    def __init__(self, host: str, port: int, ip: str, timeout: float, context: ssl.SSLContext) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._pinned_ip = ip
        self._pinned_context = context

    def connect(self) -> None:
        sock = connect_pinned(self._pinned_ip, self.port, self.timeout)
        try:
            self.sock = self._pinned_context.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise


def connect_pinned(ip: str, port: int, timeout: float | None) -> socket.socket:
    """A TCP connection to exactly this IP: no name lookup happens here."""
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect((ip, port, 0, 0) if family == socket.AF_INET6 else (ip, port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except BaseException:
        sock.close()
        raise
    return sock


def _remaining(deadline: float, target: _Target) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError(f"deadline passed before fetching {target.url}")
    return left


def _settimeout(conn: http.client.HTTPConnection, deadline: float, target: _Target) -> None:
    if conn.sock is not None:
        conn.sock.settimeout(_remaining(deadline, target))


def _call_with_deadline(func: Callable[[], list], deadline: float, what: str) -> list:
    """Run a blocking call (getaddrinfo has no timeout) in a daemon thread, bounded by the deadline."""
    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["value"] = func()
        except BaseException as exc:  # handed to the caller below
            box["error"] = exc

    worker = threading.Thread(target=run, name="ocrkit-resolve", daemon=True)
    worker.start()
    worker.join(max(0.0, deadline - time.monotonic()))
    if worker.is_alive():
        raise url_error(Code.URL_TIMEOUT, f"{what} took too long")
    if "error" in box:
        exc = box["error"]
        if isinstance(exc, GatewayError):
            raise exc
        if isinstance(exc, socket.gaierror | OSError | UnicodeError):
            raise url_error(Code.URL_FETCH_FAILED, f"{what} failed: {_describe(exc)}") from None
        raise exc  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]


def _describe(exc: BaseException | None) -> str:
    if exc is None:
        return "no address answered"
    if isinstance(exc, socket.gaierror):
        return "the name does not resolve"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError):
        return "connection reset"
    if isinstance(exc, http.client.HTTPException):
        return f"bad HTTP answer ({type(exc).__name__})"
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return text


def _short(url: str, limit: int = 120) -> str:
    return url if len(url) <= limit else url[: limit - 3] + "..."
