"""What the gateway accepts: sizes, counts, timeouts and the URL-fetching policy, with documented defaults.

Defaults (all overridable from a config mapping or from `OCRKIT_*` environment variables):

| field                  | default      | why                                                              |
|------------------------|--------------|------------------------------------------------------------------|
| max_request_bytes      | 10 MiB       | API Gateway's payload cap; bodies above it never reach Lambda     |
| max_image_bytes        | 6 MiB        | one encoded image; SageMaker's real-time request cap is 6 MB      |
| max_pixels             | 40 000 000   | refuses decompression bombs before any decoder runs               |
| max_width / max_height | 20 000       | a text-line crop is never wider; the model resizes to 64 x 256    |
| max_request_pixels     | 40 000 000   | all images of one request together: bounds a request's decode work |
| max_batch              | 16           | images per `{"images": [...]}` request                            |
| backend_timeout_s      | 25           | from arrival (URL fetch included); 504 before API Gateway's 30 s |
| url_input              | True         | accept `{"url": ...}` at all                                      |
| url_timeout_s          | 10           | whole fetch (DNS, connect, redirects, body)                       |
| url_max_redirects      | 3            | each hop is checked like the first URL                            |
| url_allow_http         | False        | https only unless switched on                                     |
| url_allowed_hosts      | ()           | when non-empty, only these host names may be fetched              |
| url_allowed_networks   | ()           | CIDRs let through although not public (tests: 127.0.0.0/8)        |

Cloud metadata addresses (169.254.169.254, fd00:ec2::254, 100.100.100.200, 168.63.129.16) stay refused
even when an allowed network covers them.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace

from ocrkit.errors import ConfigError

MiB = 1024 * 1024
ENV_PREFIX = "OCRKIT_"


@dataclass(frozen=True)
class Limits:
    max_request_bytes: int = 10 * MiB
    max_image_bytes: int = 6 * MiB
    max_pixels: int = 40_000_000
    max_width: int = 20_000
    max_height: int = 20_000
    max_request_pixels: int = 40_000_000
    max_batch: int = 16
    backend_timeout_s: float = 25.0
    url_input: bool = True
    url_timeout_s: float = 10.0
    url_max_redirects: int = 3
    url_allow_http: bool = False
    url_allowed_hosts: tuple[str, ...] = ()
    url_allowed_networks: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in (
            "max_request_bytes",
            "max_image_bytes",
            "max_pixels",
            "max_width",
            "max_height",
            "max_request_pixels",
        ):
            if getattr(self, name) < 1:
                raise ConfigError("gateway limits", name, f"must be at least 1, got {getattr(self, name)}")
        if self.max_batch < 1:
            raise ConfigError("gateway limits", "max_batch", f"must be at least 1, got {self.max_batch}")
        if self.url_max_redirects < 0:
            raise ConfigError("gateway limits", "url_max_redirects", "must not be negative")
        for name in ("backend_timeout_s", "url_timeout_s"):
            if not getattr(self, name) > 0:
                raise ConfigError("gateway limits", name, f"must be positive, got {getattr(self, name)}")
        hosts = tuple(h.strip().lower().rstrip(".") for h in self.url_allowed_hosts if h.strip())
        object.__setattr__(self, "url_allowed_hosts", hosts)
        nets = tuple(str(n).strip() for n in self.url_allowed_networks if str(n).strip())
        for net in nets:
            try:
                ipaddress.ip_network(net, strict=False)
            except ValueError as exc:
                raise ConfigError("gateway limits", "url_allowed_networks", f"{net!r}: {exc}") from None
        object.__setattr__(self, "url_allowed_networks", nets)

    def networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return tuple(ipaddress.ip_network(n, strict=False) for n in self.url_allowed_networks)

    def with_(self, **changes: object) -> Limits:
        return replace(self, **changes)

    @classmethod
    def from_mapping(cls, data: Mapping[str, object], *, source: str = "gateway limits") -> Limits:
        """Build from a config mapping whose keys are the field names; unknown keys are an error."""
        known = {f.name: f for f in fields(cls)}
        values: dict[str, object] = {}
        for key, raw in data.items():
            if key not in known:
                raise ConfigError(source, key, f"unknown setting; expected one of {', '.join(sorted(known))}")
            values[key] = _coerce(source, key, known[key].type, raw)
        return cls(**values)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, *, prefix: str = ENV_PREFIX) -> Limits:
        """Read `OCRKIT_MAX_IMAGE_BYTES`, `OCRKIT_URL_ALLOWED_NETWORKS=127.0.0.0/8,::1/128`, ..."""
        env = os.environ if environ is None else environ
        data = {}
        for f in fields(cls):
            key = prefix + f.name.upper()
            if key in env and env[key].strip() != "":
                data[f.name] = env[key]
        return cls.from_mapping(data, source="environment")


def _coerce(source: str, key: str, type_name: object, raw: object) -> object:
    kind = str(type_name)
    try:
        if kind == "int":
            if isinstance(raw, bool):
                raise ValueError("a number is needed")
            return int(raw)  # type: ignore[arg-type]
        if kind == "float":
            if isinstance(raw, bool):
                raise ValueError("a number is needed")
            return float(raw)  # type: ignore[arg-type]
        if kind == "bool":
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError("expected true or false")
        # tuple[str, ...]
        if isinstance(raw, str):
            return tuple(part.strip() for part in raw.split(",") if part.strip())
        if isinstance(raw, list | tuple):
            return tuple(str(part) for part in raw)
        raise ValueError("expected a list or a comma-separated string")
    except (TypeError, ValueError) as exc:
        raise ConfigError(source, key, f"{raw!r}: {exc}") from None
