"""The README's Inputs and Outputs tables say what variables.tf and outputs.tf say: names,
types, defaults, descriptions. Compared by meaning, not by layout, so tables written by
terraform-docs itself (the pre-commit hook) pass as well as those of `make docs`."""

from __future__ import annotations

import html
import json
import re
from typing import Any

import pytest

from rabbitmq_tools import terraform_docs
from support import ROOT

pytestmark = pytest.mark.unit


def cells(row: str) -> list[str]:
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", row.strip())[1:-1]]


def plain(cell: str) -> str:
    """Markdown/HTML cell text back to plain text."""
    cell = re.sub(r"<a name=\"[^\"]*\"></a>\s*", "", cell)
    cell = re.sub(r"\[([^\]]*)\]\(#[^)]*\)", r"\1", cell)  # [name](#anchor) -> name
    cell = cell.replace("<br>", "\n").replace("<pre>", "").replace("</pre>", "")
    cell = re.sub(r"\\([_|*`])", r"\1", cell)
    cell = cell.strip()
    if len(cell) >= 2 and cell[0] == cell[-1] == "`":
        cell = cell[1:-1]
    return html.unescape(cell)


def squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


def table(section: str) -> dict[str, list[str]]:
    readme = (ROOT / "README.md").read_text()
    block = readme.split(terraform_docs.BEGIN, 1)[1].split(terraform_docs.END, 1)[0]
    part = block.split(f"## {section}", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in part.splitlines() if line.startswith("|")][2:]  # after header and rule
    return {plain(cells(row)[0]): [plain(cell) for cell in cells(row)] for row in rows}


def default_text(value: Any) -> str:
    return "n/a" if value is terraform_docs._NO_DEFAULT else json.dumps(value)


def test_inputs_table_matches_variables_tf() -> None:
    variables = {variable.name: variable for variable in terraform_docs.read_variables()}
    rows = table("Inputs")
    assert sorted(rows) == sorted(variables)
    for name, variable in variables.items():
        _, description, type_, default, required = rows[name]
        assert squeeze(description) == squeeze(variable.description), name
        assert squeeze(type_) == squeeze(variable.type), name
        assert squeeze(default) == squeeze(default_text(variable.default)), name
        assert required == ("yes" if variable.required else "no"), name


def test_outputs_table_matches_outputs_tf() -> None:
    outputs = {output.name: output for output in terraform_docs.read_outputs()}
    rows = table("Outputs")
    assert sorted(rows) == sorted(outputs)
    for name, output in outputs.items():
        assert squeeze(rows[name][1]) == squeeze(output.description), name


def test_every_variable_and_output_is_documented() -> None:
    assert all(variable.description.strip() for variable in terraform_docs.read_variables())
    assert all(output.description.strip() for output in terraform_docs.read_outputs())
