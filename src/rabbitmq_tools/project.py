"""Where the project's own files are: the Terraform root module (and its state), the
README and example-message.json.

The tools work on a checkout of this repository. Installed from it in development mode
(`make`, `pip install -e .`) this package sits inside it, in src/rabbitmq_tools, so the
commands find it from any directory; installed otherwise, the checkout is the current
directory or the nearest one above it (else the current directory).
"""

from __future__ import annotations

from pathlib import Path

_MARKERS = ("main.tf", "example-message.json")


def is_checkout(directory: Path) -> bool:
    return all((directory / name).is_file() for name in _MARKERS)


def find_root(module_file: Path = Path(__file__), cwd: Path | None = None) -> Path:
    source_tree = module_file.resolve().parents[2]  # <checkout>/src/rabbitmq_tools/project.py
    if is_checkout(source_tree):
        return source_tree
    cwd = Path.cwd() if cwd is None else cwd
    return next((directory for directory in (cwd, *cwd.parents) if is_checkout(directory)), cwd)


ROOT = find_root()
EXAMPLE_MESSAGE = ROOT / "example-message.json"
