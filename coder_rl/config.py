"""Configs: YAML files plus `--set section.key=value` overrides, validated by pydantic models.

Every command has a config model made of sections (one pydantic model each). Unknown keys and bad
values are errors that name the key, e.g. ``config error: data.limt: unknown key``.

Names: `<Name>Config` is settings a command or a function takes whole (`RLConfig`, `PolicyConfig`,
`SandboxConfig`); `<Name>Section` is a part of one config that is never passed on its own
(`GRPOSection`, `SynthesizeOutputSection`); `<Name>Params` is per-call sampling values, as vLLM names
them (`SamplingParams`). A directory a command writes is `output_dir`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from coder_rl.errors import UserError


class Section(BaseModel):
    """Base for config sections: unknown keys are errors, assignments are validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


ConfigT = TypeVar("ConfigT", bound=BaseModel)


def load_config(
    model: type[ConfigT],
    path: str | Path | None = None,
    sets: list[str] | None = None,
    overrides: dict[str, Any] | None = None,
) -> ConfigT:
    """Build `model` from a YAML file, then `--set` strings, then explicit overrides (later wins).

    `overrides` maps dotted keys to values already typed (CLI flags such as ``--limit``); None values
    are skipped so that absent flags change nothing.
    """
    data: dict[str, Any] = _read_yaml(Path(path)) if path else {}
    for item in sets or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"config error: --set {item!r}: expected section.key=value")
        _assign(data, key.strip(), _parse_value(raw))
    for key, value in (overrides or {}).items():
        if value is not None:
            _assign(data, key, value)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise UserError(f"config error: {describe_validation_error(exc)}") from None


def given_keys(section: BaseModel, keys: Iterable[str]) -> list[str]:
    """Which of the dotted `keys` ("policy.model") were given explicitly in `section`, not left at their
    defaults: a command that sets them itself refuses them rather than silently overriding them."""
    given = []
    for key in keys:
        node: Any = section
        *parents, leaf = key.split(".")
        for part in parents:
            node = getattr(node, part) if part in node.model_fields_set else None
            if node is None:
                break
        if node is not None and leaf in node.model_fields_set:
            given.append(key)
    return given


def describe_validation_error(exc: ValidationError) -> str:
    """One line naming every bad key: ``data.limit: Input should be a valid integer; ...``."""
    parts = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        message = (
            "unknown key" if err["type"] == "extra_forbidden" else err["msg"].removeprefix("Value error, ")
        )
        parts.append(f"{key}: {message}")
    return "; ".join(parts)


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise UserError(f"config error: no such config file: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise UserError(f"config error: {path} is not UTF-8 text") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        raise UserError(f"config error: {path} is not valid YAML{where}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(f"config error: {path} must hold a mapping of sections, got {type(data).__name__}")
    return data


def _parse_value(raw: str) -> Any:
    """YAML-typed: ``3`` is an int, ``[a, b]`` a list, ``null`` None, ``true`` a bool.

    Whatever else YAML would turn into a non-string stays the text the user typed: a date
    (``2024-01-01``), YAML 1.1's ``yes``/``no``/``on``/``off``, a comment (``###``), or something unparseable.
    """
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw
    if isinstance(value, bool) and raw.strip().lower() not in ("true", "false"):
        return raw
    if value is None and raw.strip() not in ("null", "~", ""):  # `###` is a YAML comment, not null
        return raw
    return value if isinstance(value, int | float | str | list | dict | type(None)) else raw


def _assign(data: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = data
    for i, name in enumerate(parents):
        if node.get(name) is None:  # absent, or `section:` with nothing under it in the YAML
            node[name] = {}
        child = node[name]
        if not isinstance(child, dict):
            raise UserError(f"config error: {'.'.join(parents[: i + 1])}: is a value, not a section")
        node = child
    node[leaf] = value
