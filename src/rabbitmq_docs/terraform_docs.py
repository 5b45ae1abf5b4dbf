"""Write the Inputs and Outputs tables of docs/terraform.md from variables.tf and outputs.tf,
in terraform-docs' markdown-table format, between its BEGIN_TF_DOCS/END_TF_DOCS markers.

    make docs          # or: python scripts/terraform_docs.py [--check]

The terraform_docs pre-commit hook produces the same tables with terraform-docs itself (see
.terraform-docs.yml); this script does it where terraform-docs is not installed, and
tests/project/test_readme.py checks that docs/terraform.md agrees with the configuration either way.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rabbitmq_tools.project import ROOT  # the checkout, found as the tools find it

TARGET = ROOT / "docs" / "terraform.md"  # the file that holds the tables
BEGIN, END = "<!-- BEGIN_TF_DOCS -->", "<!-- END_TF_DOCS -->"
_NO_DEFAULT = object()


@dataclass(frozen=True)
class Variable:
    name: str
    description: str
    type: str
    default: Any  # _NO_DEFAULT when the variable is required

    @property
    def required(self) -> bool:
        return self.default is _NO_DEFAULT


@dataclass(frozen=True)
class Output:
    name: str
    description: str


def _unquote(value: Any) -> Any:
    """python-hcl2 keeps HCL's quotes on strings ('"a"') and ${} around expressions."""
    if isinstance(value, str):
        if len(value) >= 2 and value[0] == value[-1] == '"':
            unquoted: Any = json.loads(value)
            return unquoted
        return value[2:-1] if value.startswith("${") and value.endswith("}") else value
    if isinstance(value, list):
        return [_unquote(item) for item in value]
    if isinstance(value, dict):
        return {_unquote(key): _unquote(item) for key, item in value.items() if key != "__is_block__"}
    return value


def _blocks(kind: str, root: Path) -> list[tuple[str, dict[str, Any]]]:
    import hcl2  # python-hcl2, the `docs` extra: the runtime tools do not need it

    blocks = []
    for path in sorted(root.glob("*.tf")):
        with path.open() as file:
            document = hcl2.load(file)
        for block in document.get(kind, []):
            for name, body in block.items():
                blocks.append((_unquote(name), body))
    return blocks


def read_variables(root: Path = ROOT) -> list[Variable]:
    return sorted(
        (
            Variable(
                name,
                _unquote(body.get("description", "")),
                _unquote(body.get("type", "any")),
                _unquote(body["default"]) if "default" in body else _NO_DEFAULT,
            )
            for name, body in _blocks("variable", root)
        ),
        key=lambda variable: variable.name,
    )


def read_outputs(root: Path = ROOT) -> list[Output]:
    return sorted(
        (Output(name, _unquote(body.get("description", ""))) for name, body in _blocks("output", root)),
        key=lambda output: output.name,
    )


def _escape(text: str) -> str:
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("|", "\\|").replace("_", "\\_").replace("\n", "<br>")


def _code(text: str) -> str:
    """Inline code, or <pre> for what spans lines, as terraform-docs renders types and defaults."""
    if "\n" in text:
        return "<pre>" + text.replace("\n", "<br>") + "</pre>"
    return f"`{text}`"


def render_default(value: Any) -> str:
    if value is _NO_DEFAULT:
        return "n/a"
    if isinstance(value, (dict, list)) and value:
        return _code(json.dumps(value, indent=2))
    return _code(json.dumps(value))


def render(variables: Sequence[Variable], outputs: Sequence[Output]) -> str:
    lines = [
        "## Inputs",
        "",
        "| Name | Description | Type | Default | Required |",
        "|------|-------------|------|---------|:--------:|",
    ]
    for v in variables:
        anchor = f"input_{v.name}"
        lines.append(
            f'| <a name="{anchor}"></a> [{_escape(v.name)}](#{_escape(anchor)}) | {_escape(v.description)} | '
            f"{_code(v.type)} | {render_default(v.default)} | {'yes' if v.required else 'no'} |"
        )
    lines += ["", "## Outputs", "", "| Name | Description |", "|------|-------------|"]
    for o in outputs:
        anchor = f"output_{o.name}"
        lines.append(f'| <a name="{anchor}"></a> [{_escape(o.name)}](#{_escape(anchor)}) | {_escape(o.description)} |')
    return "\n".join(lines)


def inject(document: str, tables: str) -> str:
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.DOTALL)
    if not pattern.search(document):
        raise ValueError(f"{TARGET.relative_to(ROOT)} has no {BEGIN} ... {END} block to fill")
    return pattern.sub(lambda _: f"{BEGIN}\n{tables}\n{END}", document)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fill the Terraform Inputs and Outputs tables of docs/terraform.md.")
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/terraform.md is not up to date")
    args = parser.parse_args(argv)
    document = TARGET.read_text()
    try:
        tables = render(read_variables(), read_outputs())
    except ModuleNotFoundError as exc:
        print(f"error: {exc}: install the docs extra, pip install -e '.[docs]' (make docs does)", file=sys.stderr)
        return 1
    updated = inject(document, tables)
    if args.check:
        if updated != document:
            print(f"{TARGET.relative_to(ROOT)}'s Terraform tables are out of date: run `make docs`", file=sys.stderr)
            return 1
        return 0
    name = TARGET.relative_to(ROOT)
    if updated == document:
        print(f"{name} is already up to date")
    else:
        TARGET.write_text(updated)
        print(f"{name}: updated the Inputs and Outputs tables")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
