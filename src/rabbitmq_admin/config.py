"""The one reader of the three functions' configuration: their environment variables, which
Terraform sets (bootstrap.tf). Never the invocation's event, which whoever may invoke a
function chooses. Each fault is one line naming the variable and where to set it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .errors import AdminError

_WHERE = "in the function's environment, which Terraform sets (bootstrap.tf)"


def required(environ: Mapping[str, str], names: Sequence[str]) -> dict[str, str]:
    """The variables' values, each present and not blank; one line naming every one missing."""
    missing = [name for name in names if not environ.get(name, "").strip()]
    if missing:
        raise AdminError(f"missing {', '.join(missing)}: set {'them' if len(missing) > 1 else 'it'} {_WHERE}")
    return {name: environ[name] for name in names}


def flag(environ: Mapping[str, str], name: str, default: bool = False) -> bool:
    """A "true"/"false" variable; unset or blank is `default`."""
    value = environ.get(name, "").strip().lower()
    if not value:
        return default
    if value not in {"true", "false"}:
        raise AdminError(f"{name} is {value!r}, neither true nor false: set it to one of them {_WHERE}")
    return value == "true"


def whole_number(environ: Mapping[str, str], name: str) -> int:
    """A variable holding a whole number (required)."""
    value = required(environ, [name])[name].strip()
    if not (value.isascii() and value.isdigit()):
        raise AdminError(f"{name} is {value!r}, not a whole number: set it to one {_WHERE}")
    return int(value)
