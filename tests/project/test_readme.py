"""The documentation: README.md and the pages under docs/.

- docs/terraform.md's Inputs and Outputs tables say what variables.tf and outputs.tf say: names,
  types, defaults, descriptions. Compared by meaning, not by layout, so tables written by
  terraform-docs itself (the pre-commit hook) pass as well as those of `make docs`.
- Every relative link resolves to a file, and a link with an anchor to a heading or a named
  anchor of that file (GitHub's heading ids); every page's headings nest (one H1 first, no
  level skipped); every page is linked from the README; the README stays within its line budget.
"""

from __future__ import annotations

import html
import itertools
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rabbitmq_docs import terraform_docs
from support import ROOT

pytestmark = pytest.mark.unit

README = ROOT / "README.md"
DOCS = ROOT / "docs"
README_LINE_BUDGET = 160  # the README is the entry point; the detail belongs in docs/


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
    document = terraform_docs.TARGET.read_text()
    block = document.split(terraform_docs.BEGIN, 1)[1].split(terraform_docs.END, 1)[0]
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


# --- links, headings, length ---------------------------------------------------------------

PAGES = [README, *sorted(DOCS.glob("*.md"))]
LINK = re.compile(r"!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)(?:\s+#+)?\s*$")
NAMED_ANCHOR = re.compile(r"<a\s+(?:name|id)=\"([^\"]+)\"")


def page_id(page: Path) -> str:
    return str(page.relative_to(ROOT))


def prose_lines(page: Path) -> Iterator[str]:
    """The page's lines outside fenced code blocks (fences may be indented, inside lists)."""
    fence = ""
    for line in page.read_text().splitlines():
        stripped = line.lstrip()
        if fence:
            if stripped.startswith(fence):
                fence = ""
            continue
        if stripped.startswith(("```", "~~~")):
            fence = stripped[:3]
            continue
        yield line


def headings(page: Path) -> list[tuple[int, str]]:
    return [(len(match[1]), match[2]) for line in prose_lines(page) if (match := HEADING.match(line))]


def slug(heading: str) -> str:
    """GitHub's id for a heading: the rendered text, lower case, punctuation dropped, spaces to '-'."""
    text = re.sub(r"`([^`]*)`", r"\1", heading)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"<[^>]+>", "", text)
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    for _, text in headings(page):
        base = slug(text)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    found.update(NAMED_ANCHOR.findall(page.read_text()))
    return found


def links(page: Path) -> list[str]:
    targets = []
    for line in prose_lines(page):
        text = re.sub(r"`[^`]*`", "code", line)  # no links inside code spans
        targets += [re.sub(r"\\(.)", r"\1", target) for target in LINK.findall(text)]
    return targets


def is_relative(target: str) -> bool:
    return not re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE) and not target.startswith("//")


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_relative_links_point_at_existing_files_and_anchors(page: Path) -> None:
    broken = []
    for target in filter(is_relative, links(page)):
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists():
            broken.append(f"{target}: no file {linked}")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"{target}: no heading or anchor #{anchor} in {page_id(linked)}")
    assert broken == [], f"{page_id(page)} has broken links:\n" + "\n".join(broken)


def test_link_checker_sees_links_and_anchors() -> None:
    """The checker above would pass vacuously if it found no links: make sure it finds them."""
    assert "docs/error-handling.md#message-size" in links(README)
    assert "quick-start-no-aws-account" in anchors(README)
    assert "input_alarm_email" in anchors(terraform_docs.TARGET)
    assert slug("Publishing messages: `scripts/send.py`") == "publishing-messages-scriptssendpy"
    assert slug("The broker's log group") == "the-brokers-log-group"


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_headings_nest(page: Path) -> None:
    levels = [level for level, _ in headings(page)]
    assert levels, f"{page_id(page)} has no headings"
    assert levels[0] == 1, f"{page_id(page)} must start with its H1"
    assert levels.count(1) == 1, f"{page_id(page)} has more than one H1"
    jumps = [(before, after) for before, after in itertools.pairwise(levels) if after > before + 1]
    assert jumps == [], f"{page_id(page)} skips heading levels: " + ", ".join(f"h{a} -> h{b}" for a, b in jumps)


def test_every_docs_page_is_linked_from_the_readme() -> None:
    linked = {(ROOT / target.partition("#")[0]).resolve() for target in links(README) if is_relative(target)}
    orphans = [page_id(page) for page in PAGES[1:] if page.resolve() not in linked]
    assert orphans == [], f"README.md does not link to {orphans}"


def test_readme_stays_within_its_line_budget() -> None:
    lines = len(README.read_text().splitlines())
    assert lines <= README_LINE_BUDGET, (
        f"README.md has {lines} lines, over its budget of {README_LINE_BUDGET}: move detail into a page under docs/"
    )
