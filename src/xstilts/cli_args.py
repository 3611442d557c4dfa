"""Parsing of command-line values shared by the command modules (`cli`, `cli_selection`): `key=value` overrides and
`task=value` pairs. Below every command module, so none imports another for a helper."""

from __future__ import annotations

from xstilts.errors import UserError


def parse_sets(items: list[str], flag: str = "--set") -> dict[str, object]:
    """--set key=value (values parsed as YAML scalars: 1e-5, 3, true, null)."""
    import yaml

    out = {}
    for item in items:
        if "=" not in item:
            raise UserError(f"{flag} expects key=value, got '{item}'")
        k, v = item.split("=", 1)
        out[k.strip()] = yaml.safe_load(v)
    return out


def parse_pairs(items: list[str], flag: str) -> dict[str, str]:
    """task=value pairs (--data-dir, --language, --languages), values kept as text."""
    out = {}
    for item in items:
        if "=" not in item:
            raise UserError(f"{flag} expects task=value, got '{item}'")
        k, v = item.split("=", 1)
        out[k] = v
    return out


def split_list(value: str | None) -> list[str] | None:
    """'a,b c' -> ['a', 'b', 'c']; None stays None (the option was not given)."""
    return None if value is None else [x for x in value.replace(",", " ").split() if x]
