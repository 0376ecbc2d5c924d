"""Deploy specs: `configs/deploy/<cloud>.yaml` validated into a provider's pydantic model.

Every provider's spec derives from `DeploySpecBase` (a deployment name, unknown keys refused). Mistakes come
back as one `ConfigError` naming the file and the field, e.g.
`configs/deploy/aws.yaml: lambda.timeout_s: must be less than api.integration_timeout_s (30)`.
Command-line options (`--name`, `--region`, `--weights`) override the file by dotted key before validation.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ocrkit.config import config_error, read_yaml
from ocrkit.errors import ConfigError
from ocrkit.resources import configs_dir

NAME_PATTERN = r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$"
NAME_RULE = "2 to 32 characters: lower-case letters, digits and hyphens, starting with a letter"


class DeploySpecBase(BaseModel):
    """What every deploy config has. `path_fields` are file paths resolved against the config's folder."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    path_fields: ClassVar[tuple[str, ...]] = ()

    name: str = Field(pattern=NAME_PATTERN, description=NAME_RULE)


S = TypeVar("S", bound=DeploySpecBase)


@dataclass(frozen=True)
class LoadedSpec(Generic[S]):
    spec: S
    path: Path
    config_hash: str


def default_config_path(cloud: str) -> Path:
    return configs_dir() / "deploy" / f"{cloud}.yaml"


def _set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    node = data
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = value


def _get_dotted(data: Mapping[str, Any], key: str) -> Any:
    node: Any = data
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def load_spec(
    model: type[S],
    cloud: str,
    path: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> LoadedSpec[S]:
    """Read and validate a deploy config; `overrides` (dotted keys, None = not given) win over the file."""
    config_path = Path(path) if path else default_config_path(cloud)
    raw = read_yaml(config_path)
    for key in model.path_fields:  # relative paths in the file are relative to the file
        value = _get_dotted(raw, key)
        if isinstance(value, str) and value and not Path(value).expanduser().is_absolute():
            _set_dotted(raw, key, str((config_path.parent / value).resolve()))
    for key, value in (overrides or {}).items():
        if value is not None:
            _set_dotted(raw, key, value)
    try:
        spec = model.model_validate(raw)
    except ValidationError as exc:
        error = config_error(config_path, exc, model)
        if error.field == "name" and "pattern" in error.problem:
            raise ConfigError(
                config_path, "name", f"'{_get_dotted(raw, 'name')}' is not a valid name: {NAME_RULE}"
            ) from None
        raise error from None
    return LoadedSpec(spec=spec, path=config_path, config_hash=config_hash(spec))


def config_hash(spec: BaseModel) -> str:
    """A short, stable digest of the validated settings (key order and formatting do not matter)."""
    text = json.dumps(spec.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
