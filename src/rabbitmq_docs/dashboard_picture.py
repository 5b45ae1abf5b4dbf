"""Draw a CloudWatch dashboard's definition (its `dashboard_body` JSON) as an SVG picture.

The README shows what the deployed dashboard holds, but there is no AWS account behind it, so
the picture is a labelled mock drawn from the definition alone: each widget is a panel at its
place on the 24-column grid with its title; a metric widget gets axes, one sample line per
metric and a legend with the names CloudWatch would show; an alarm widget lists its alarms
with a grey badge where their state would be; a text widget shows its markdown as plain text.
The sample lines come from a hash of each legend label, so the same body always gives the
same bytes and docs/dashboard.svg can be compared with a fresh drawing in a test.

    python -m rabbitmq_docs.dashboard_picture BODY.json docs/dashboard.svg
    python -m rabbitmq_docs.dashboard_picture body.json out.svg --replace tf-test-1a2b=rabbitmq-lambda

BODY.json is a dashboard body ({"widgets": [...]}) or the answer of `aws cloudwatch
get-dashboard` (whose DashboardBody holds the body as a string). The format is AWS's
"Dashboard Body Structure and Syntax" (CloudWatch API Reference).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GRID_COLUMNS = 24  # CloudWatch's dashboard grid
COLUMN = 40  # px per grid column: the full grid is 960 px, a common README width
ROW = 32  # px per grid row: a 6 x 6 widget is about as tall as wide, as on the console
MARGIN = 16
HEADER = 52
GAP = 4  # half the space between two neighbouring panels
WIDTH = 2 * MARGIN + GRID_COLUMNS * COLUMN
DEFAULT_SIZE = 6  # a widget's width and height when the body leaves them out (AWS's default)

FONT = "'Amazon Ember', 'Helvetica Neue', Helvetica, Arial, sans-serif"
INK, MUTED, AXIS, GRID_LINE, ALERT = "#16191f", "#687078", "#879596", "#e9ebed", "#d13212"
# CloudWatch's default line colours, in its order.
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
SAMPLES = 24  # points per sample line
HEADLINE = "Mock drawn from the dashboard's definition, not live data: every curve and number is a sample shape."

# A series label is drawn as text; a colour from the body lands in an attribute, so only a plain
# hex colour is taken from it.
_HEX_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")
# XML 1.0 refuses these characters even as references, so a label holding one would make the
# file unreadable; a lone surrogate (JSON allows one) cannot even be written as UTF-8.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# Dimensions that tell two lines of the same metric apart in the default legend text.
LEGEND_DIMENSIONS = ("Queue", "FunctionName", "QueueName")


class DashboardError(ValueError):
    """The body is not a dashboard body this module can draw; the message says where."""


@dataclass(frozen=True)
class Series:
    """One line of a metric widget: what its legend says, and its colour."""

    label: str
    colour: str


# ------------------------------------------------------------------------------ reading a body


def metric_series(properties: Mapping[str, Any], where: str = "widget") -> list[Series]:
    """The legend entries of a metric widget, in the body's order, without the hidden ones
    (`"visible": false`, usually the inputs of an expression: CloudWatch draws them nowhere).

    A metric entry is [Namespace, MetricName, DimName, DimValue, ..., {rendering options}]; the
    console writes "." for "the value at this position in the metric before" and "..." for
    "as many values of the metric before as it takes for the rest to end where it ended".
    """
    metrics = properties.get("metrics", [])
    if not isinstance(metrics, list):
        raise DashboardError(f"{where}: properties.metrics is not an array")
    entries: list[tuple[str, str]] = []  # label, colour asked for or ""
    previous: list[str] | None = None
    for number, entry in enumerate(metrics, start=1):
        here = f"{where}, metric {number}"
        if not isinstance(entry, list) or not entry:
            raise DashboardError(f"{here}: not a non-empty array")
        options: Mapping[str, Any] = entry[-1] if isinstance(entry[-1], Mapping) else {}
        hidden = options.get("visible") is False
        if "expression" in options and len(entry) == 1:
            label = _string(options.get("label")) or _string(options.get("expression")) or _string(options.get("id"))
        else:
            fields = _resolve(entry[:-1] if options else entry, previous, here)
            previous = fields
            label = _string(options.get("label")) or _default_label(fields)
        if not hidden:
            colour = _string(options.get("color"))
            entries.append((label, colour.lower() if _HEX_COLOUR.fullmatch(colour) else ""))
    # The others take the palette in turn, less the colours asked for, so no two lines look alike.
    free = [colour for colour in PALETTE if colour not in {asked for _, asked in entries}] or list(PALETTE)
    series: list[Series] = []
    turn = 0
    for label, asked in entries:
        series.append(Series(label, asked or free[turn % len(free)]))
        turn += not asked
    return series


def _resolve(tokens: Sequence[Any], previous: list[str] | None, where: str) -> list[str]:
    fields: list[str] = []
    for index, token in enumerate(tokens):
        if not isinstance(token, str):
            raise DashboardError(f"{where}: {json.dumps(token)} where a string was expected")
        if token == "...":
            after = len(tokens) - index - 1  # explicit values still to come
            if previous is None:
                raise DashboardError(f'{where}: "..." with no earlier metric to repeat')
            if len(previous) - after < len(fields):
                raise DashboardError(f'{where}: "..." with more values around it than the metric before has')
            fields.extend(previous[len(fields) : len(previous) - after])
        elif token == ".":
            if previous is None or len(previous) <= len(fields):
                raise DashboardError(f'{where}: "." at position {len(fields) + 1} with no earlier metric value there')
            fields.append(previous[len(fields)])
        else:
            fields.append(token)
    if len(fields) < 2:
        raise DashboardError(f"{where}: names no namespace and metric name")
    return fields


def _default_label(fields: Sequence[str]) -> str:
    dimensions = dict(zip(fields[2::2], fields[3::2], strict=False))
    value = next((dimensions[name] for name in LEGEND_DIMENSIONS if name in dimensions), None)
    return fields[1] if value is None else f"{fields[1]} {value}"


def alarm_names(properties: Mapping[str, Any], where: str = "widget") -> list[str]:
    """The names of an alarm status widget's alarms: the part of each ARN after `alarm:`."""
    alarms = properties.get("alarms", [])
    if not isinstance(alarms, list) or not all(isinstance(arn, str) for arn in alarms):
        raise DashboardError(f"{where}: properties.alarms is not an array of alarm ARNs")
    return [arn.split(":alarm:", 1)[1] if ":alarm:" in arn else arn for arn in alarms]


def _string(value: Any) -> str:
    return value if isinstance(value, str) else ""


@dataclass(frozen=True)
class _Placed:
    index: int
    kind: str
    properties: Mapping[str, Any]
    x: int
    y: int
    width: int
    height: int


def _place(widgets: Sequence[Any]) -> list[_Placed]:
    """Each widget with its grid cell; a widget without x or y goes to the first free place
    (AWS: "the default is the next available position"), scanning rows from the top."""
    placed: list[_Placed] = []
    for index, widget in enumerate(widgets):
        where = f"widget {index + 1}"
        if not isinstance(widget, Mapping):
            raise DashboardError(f"{where}: not an object")
        properties = widget.get("properties", {})
        if not isinstance(properties, Mapping):
            raise DashboardError(f"{where}: properties is not an object")
        width = _grid_number(widget, "width", 1, GRID_COLUMNS, where) or DEFAULT_SIZE
        height = _grid_number(widget, "height", 1, 1000, where) or DEFAULT_SIZE
        x = _grid_number(widget, "x", 0, GRID_COLUMNS - 1, where)
        y = _grid_number(widget, "y", 0, None, where)
        width = min(width, GRID_COLUMNS - (x or 0))  # the console keeps a widget inside the grid
        if x is None or y is None:
            x, y = _free_cell(placed, width, height, x, y)
        placed.append(_Placed(index, _string(widget.get("type")) or "unknown", properties, x, y, width, height))
    return placed


def _grid_number(widget: Mapping[str, Any], key: str, low: int, high: int | None, where: str) -> int | None:
    value = widget.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        limit = f"{low}-{high}" if high is not None else f"{low} or more"
        raise DashboardError(f"{where}: {key} must be an integer {limit}, got {json.dumps(value)}")
    return value


def _free_cell(placed: Sequence[_Placed], width: int, height: int, x: int | None, y: int | None) -> tuple[int, int]:
    def free(cx: int, cy: int) -> bool:
        return all(
            cx + width <= p.x or p.x + p.width <= cx or cy + height <= p.y or p.y + p.height <= cy for p in placed
        )

    rows = range(y, y + 1) if y is not None else range(sum(p.height for p in placed) + 1)
    for cy in rows:
        for cx in [x] if x is not None else range(GRID_COLUMNS - width + 1):
            if free(cx, cy):
                return cx, cy
    return (x or 0), (y if y is not None else sum(p.height for p in placed))


# ------------------------------------------------------------------------------ drawing


def _number(value: float) -> str:
    """Coordinates with one decimal and no trailing zeros: short, and the same on every platform."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _text_width(text: str, size: float, bold: bool = False) -> float:
    """An estimate of the width a sans-serif font gives the text (SVG has no text metrics): on
    the wide side, as DejaVu Sans, the fallback on Linux, is wider than Helvetica or Arial."""
    return len(text) * size * (0.64 if bold else 0.6)


def _sample(label: str) -> list[float]:
    """A sample curve for a label, between 0 and 1: a walk driven by the label's SHA-256, so it
    is the same on every run and differs from line to line."""
    digest = hashlib.sha256(label.encode()).digest()
    level = 0.25 + 0.5 * digest[0] / 255
    values = []
    for step in range(SAMPLES):
        level = min(0.95, max(0.05, level + (digest[1 + step % 31] / 255 - 0.5) * 0.22))
        values.append(level)
    return values


class _Canvas:
    """The SVG elements drawn so far; every text goes through `words`, so `replace` reaches
    all of it and nothing XML cannot hold gets in."""

    def __init__(self, replace: Mapping[str, str]) -> None:
        # One pass, longest first: a short name inside a longer one does not replace part of
        # it, and a replacement is not replaced again.
        keys = sorted((old for old in replace if old), key=lambda old: (-len(old), old))
        self.replace = dict(replace)
        self.pattern = re.compile("|".join(map(re.escape, keys))) if keys else None
        self.parts: list[str] = []
        self.clips: list[str] = []

    def words(self, text: str) -> str:
        if self.pattern is not None:
            text = self.pattern.sub(lambda match: self.replace[match.group()], text)
        return _NOT_XML.sub("\ufffd", text)

    def add(self, element: str) -> None:
        self.parts.append(element)

    def text(
        self,
        x: float,
        y: float,
        text: str,
        *,
        size: float = 12,
        bold: bool = False,
        fill: str = INK,
        anchor: str = "start",
        max_width: float | None = None,
        replaced: bool = False,
    ) -> None:
        if not replaced:
            text = self.words(text)
        squeeze = False
        if max_width is not None and 0 < max_width < _text_width(text, size, bold):
            # Never cut: a name is what the picture is for. A smaller font first; below 80 % it
            # gets hard to read, so then narrower glyphs (textLength, which browsers honour; a
            # renderer that does not is stopped by the panel's clip).
            fitted = math.floor(max(size * 0.8, size * max_width / _text_width(text, size, bold)) * 10) / 10
            squeeze = _text_width(text, fitted, bold) > max_width
            size = fitted
        attributes = [f'x="{_number(x)}"', f'y="{_number(y)}"', f'font-size="{_number(size)}"']
        if squeeze and max_width is not None:
            attributes.append(f'textLength="{_number(max_width)}" lengthAdjust="spacingAndGlyphs"')
        if bold:
            attributes.append('font-weight="bold"')
        if fill != INK:
            attributes.append(f'fill="{fill}"')
        if anchor != "start":
            attributes.append(f'text-anchor="{anchor}"')
        self.add(f"<text {' '.join(attributes)}>{_escape(text)}</text>")

    def clip(self, box: _Box) -> str:
        name = f"panel-{len(self.clips) + 1}"
        self.clips.append(
            f'<clipPath id="{name}"><rect x="{_number(box.x)}" y="{_number(box.y)}" '
            f'width="{_number(box.w)}" height="{_number(box.h)}"/></clipPath>'
        )
        return name


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _points(xs: Iterable[float], ys: Iterable[float]) -> str:
    return " ".join(f"{_number(x)},{_number(y)}" for x, y in zip(xs, ys, strict=True))


def render_svg(body: Mapping[str, Any], replace: Mapping[str, str] | None = None) -> str:
    """The SVG picture of a dashboard body; `replace` maps old to new text in everything drawn
    (e.g. a test deployment's name prefix to the README's)."""
    widgets = body.get("widgets")
    if not isinstance(widgets, list):
        raise DashboardError("the body has no widgets array")
    placed = _place(widgets)
    rows = max((p.y + p.height for p in placed), default=2)
    height = HEADER + rows * ROW + MARGIN
    canvas = _Canvas(replace or {})

    canvas.add(f'<rect width="{WIDTH}" height="{height}" fill="#f2f3f3"/>')
    canvas.text(MARGIN, 24, "CloudWatch dashboard (mock)", size=16, bold=True)
    time_range = _string(body.get("start"))
    if time_range:
        canvas.text(WIDTH - MARGIN, 24, f"time range {time_range}", fill=MUTED, anchor="end")
    canvas.text(MARGIN, 42, HEADLINE, fill=MUTED)
    if not placed:
        canvas.text(WIDTH / 2, HEADER + ROW, "This dashboard has no widgets.", fill=MUTED, anchor="middle")
    for widget in placed:
        _draw_widget(canvas, widget)

    return "\n".join(
        [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
            f'viewBox="0 0 {WIDTH} {height}" font-family="{FONT}" fill="{INK}" role="img">',
            f"<title>{_escape(canvas.words('CloudWatch dashboard (mock). ' + HEADLINE))}</title>",
            "<defs>",
            *canvas.clips,
            "</defs>",
            *canvas.parts,
            "</svg>",
            "",
        ]
    )


@dataclass(frozen=True)
class _Box:
    """An area of the picture, in px."""

    x: float
    y: float
    w: float
    h: float

    @property
    def bottom(self) -> float:
        return self.y + self.h


def _draw_widget(canvas: _Canvas, widget: _Placed) -> None:
    panel = _Box(
        MARGIN + widget.x * COLUMN + GAP,
        HEADER + widget.y * ROW + GAP,
        widget.width * COLUMN - 2 * GAP,
        widget.height * ROW - 2 * GAP,
    )
    where = f"widget {widget.index + 1}"
    properties = widget.properties
    title = _string(properties.get("title"))

    canvas.add(
        f'<rect x="{_number(panel.x)}" y="{_number(panel.y)}" width="{_number(panel.w)}" '
        f'height="{_number(panel.h)}" rx="2" fill="#ffffff" stroke="#d5dbdb"/>'
    )
    canvas.add(f'<g clip-path="url(#{canvas.clip(panel)})">')
    content = _Box(panel.x + 10, panel.y + 30, panel.w - 20, panel.h - 38)  # under the title

    def heading(text: str) -> None:
        canvas.text(content.x, panel.y + 19, text, size=13, bold=True, max_width=content.w)

    if widget.kind == "text":  # a text widget has no title: its markdown starts at the top
        _draw_text(canvas, _string(properties.get("markdown")), _Box(content.x, panel.y + 8, content.w, panel.h - 14))
    elif widget.kind == "metric":
        series = metric_series(properties, where)
        heading(title or ", ".join(dict.fromkeys(s.label for s in series)))  # the console's default title
        _draw_metric(canvas, properties, series, content)
    elif widget.kind == "alarm":
        names = alarm_names(properties, where)
        heading(title or "Alarm status")
        _draw_alarms(canvas, names, content)
    else:  # log, explorer, custom...: what they show is not in the definition
        heading(title or widget.kind)
        middle = panel.y + panel.h / 2 + 4
        canvas.text(panel.x + panel.w / 2, middle, f"{widget.kind} widget", fill=MUTED, anchor="middle")
    canvas.add("</g>")


LEGEND_LINE = 15


def _draw_metric(canvas: _Canvas, properties: Mapping[str, Any], series: list[Series], box: _Box) -> None:
    view = _string(properties.get("view")) or "timeSeries"
    if view in {"singleValue", "gauge"}:
        _draw_numbers(canvas, series, box)
        return
    if view in {"bar", "pie", "table"}:  # all three compare one number per metric: drawn as bars
        _draw_bars(canvas, series, box)
        return
    legend = properties.get("legend")
    position = _string(legend.get("position")) if isinstance(legend, Mapping) else ""
    plot = box
    if position == "right":
        column = min(box.w * 0.4, max((16 + _text_width(canvas.words(s.label), 11) for s in series), default=0))
        plot = _Box(box.x, box.y, box.w - column - 8, box.h)
        _draw_legend(canvas, series, _Box(box.x + plot.w + 8, box.y, column, box.h), one_per_row=True)
    elif position != "hidden" and series:
        rows = len(_legend_rows(canvas, series, box.w, one_per_row=False))
        # The legend goes under the plot, but leaves the plot at least 40 px.
        height = min(rows, max(1, int((box.h - 40) // LEGEND_LINE))) * LEGEND_LINE
        _draw_legend(canvas, series, _Box(box.x, box.bottom - height, box.w, height), one_per_row=False)
        plot = _Box(box.x, box.y, box.w, box.h - height - 6)
    _draw_plot(canvas, properties, series, plot)


def _legend_rows(
    canvas: _Canvas, series: list[Series], width: float, *, one_per_row: bool
) -> list[list[tuple[int, float]]]:
    """Legend entries (index, offset from the left) flowed into rows, as the console does."""
    rows: list[list[tuple[int, float]]] = [[]]
    left = 0.0
    for index, entry in enumerate(series):
        need = 16 + _text_width(canvas.words(entry.label), 11) + 14
        if rows[-1] and (one_per_row or left + need > width):
            rows.append([])
            left = 0.0
        rows[-1].append((index, left))
        left += need
    return rows


def _draw_legend(canvas: _Canvas, series: list[Series], box: _Box, *, one_per_row: bool) -> None:
    """The rows of the legend that fit the box; the entries past them become "+N more"."""
    rows = _legend_rows(canvas, series, box.w, one_per_row=one_per_row)
    fits = max(1, int(box.h // LEGEND_LINE))
    shown, hidden = rows[:fits], sum(len(row) for row in rows[fits:])
    for number, row in enumerate(shown):
        baseline = box.y + number * LEGEND_LINE + 11
        for index, offset in row:
            entry = series[index]
            canvas.add(
                f'<rect x="{_number(box.x + offset)}" y="{_number(baseline - 6)}" width="12" height="3" '
                f'fill="{entry.colour}"/>'
            )
            alone = box.w - offset - 16 if len(row) == 1 else None  # entries sharing a row fit by construction
            canvas.text(box.x + offset + 16, baseline, entry.label, size=11, max_width=alone)
    if hidden:
        baseline = box.y + len(shown) * LEGEND_LINE - 4
        canvas.text(box.x + box.w, baseline, f"+{hidden} more", size=11, fill=MUTED, anchor="end")


def _draw_plot(canvas: _Canvas, properties: Mapping[str, Any], series: list[Series], box: _Box) -> None:
    if box.h < 10 or box.w < 10:
        return
    x, y, w, h = box.x, box.y, box.w, box.h
    for fraction in (0, 1 / 3, 2 / 3):
        gy = _number(y + h * fraction)
        canvas.add(f'<line x1="{_number(x)}" y1="{gy}" x2="{_number(x + w)}" y2="{gy}" stroke="{GRID_LINE}"/>')
    canvas.add(f'<polyline points="{_points([x, x, x + w], [y, y + h, y + h])}" fill="none" stroke="{AXIS}"/>')
    xs = [x + w * step / (SAMPLES - 1) for step in range(SAMPLES)]
    curves = [_sample(canvas.words(s.label)) for s in series]
    if properties.get("stacked") is True:  # each series a band on top of the ones before it
        floor = [0.0] * SAMPLES
        for entry, curve in zip(series, curves, strict=True):
            ceiling = [low + value / len(series) for low, value in zip(floor, curve, strict=True)]
            outline = _points(xs + xs[::-1], [y + h * (1 - v) for v in ceiling + floor[::-1]])
            colour = entry.colour
            canvas.add(f'<polygon points="{outline}" fill="{colour}" fill-opacity="0.45" stroke="{colour}"/>')
            floor = ceiling
    else:
        for entry, curve in zip(series, curves, strict=True):
            canvas.add(
                f'<polyline points="{_points(xs, [y + h * (1 - v) for v in curve])}" fill="none" '
                f'stroke="{entry.colour}" stroke-width="1.5" stroke-linejoin="round"/>'
            )
    annotations = properties.get("annotations")
    lines = annotations.get("horizontal", []) if isinstance(annotations, Mapping) else []
    # The mock has no value scale, so a threshold sits near the top, labelled with its value.
    for number, line in enumerate(item for item in lines if isinstance(item, Mapping)):
        ay = y + h * (0.1 + 0.12 * number)
        canvas.add(
            f'<line x1="{_number(x)}" y1="{_number(ay)}" x2="{_number(x + w)}" y2="{_number(ay)}" '
            f'stroke="{ALERT}" stroke-dasharray="4 3"/>'
        )
        label = " ".join(part for part in (_string(line.get("label")), _value(line.get("value"))) if part)
        canvas.text(x + w - 2, ay - 3, label, size=10, fill=ALERT, anchor="end")


def _value(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return ""
    return f"{value:g}"


def _draw_numbers(canvas: _Canvas, series: list[Series], box: _Box) -> None:
    """A single-value widget: each metric's label over a sample number, or beside it when the
    cells are too short for both."""
    if not series:
        return
    columns = min(len(series), max(1, int(box.w // 110)))
    rows = math.ceil(len(series) / columns)
    cell_w, cell_h = box.w / columns, box.h / rows
    for index, entry in enumerate(series):
        x, y = box.x + (index % columns) * cell_w, box.y + (index // columns) * cell_h
        label = canvas.words(entry.label)
        sample = str(int.from_bytes(hashlib.sha256(label.encode()).digest()[:2], "big") % 1000)
        if cell_h < 36:
            baseline = y + min(cell_h, 20) - 4
            canvas.text(x, baseline, label, size=11, fill=MUTED, max_width=cell_w - 48, replaced=True)
            canvas.text(x + cell_w - 8, baseline, sample, size=15, bold=True, fill=entry.colour, anchor="end")
        else:
            size = min(28.0, cell_h - 18)
            canvas.text(x, y + 11, label, size=11, fill=MUTED, max_width=cell_w - 8, replaced=True)
            canvas.text(x, y + 14 + size, sample, size=size, fill=entry.colour)


def _draw_bars(canvas: _Canvas, series: list[Series], box: _Box) -> None:
    """One sample bar per metric, its label on the left."""
    if not series:
        return
    line = min(20.0, box.h / len(series))
    label_w = box.w * 0.45
    for index, entry in enumerate(series):
        y = box.y + index * line
        label = canvas.words(entry.label)
        canvas.text(box.x, y + line / 2 + 4, label, size=11, max_width=label_w - 6, replaced=True)
        length = (box.w - label_w) * _sample(label)[-1]
        canvas.add(
            f'<rect x="{_number(box.x + label_w)}" y="{_number(y + 2)}" width="{_number(length)}" '
            f'height="{_number(max(line - 4, 1))}" fill="{entry.colour}"/>'
        )


def _draw_alarms(canvas: _Canvas, names: list[str], box: _Box) -> None:
    """Alarm names in columns, each after a grey badge: the mock knows no state."""
    if not names:
        canvas.text(box.x, box.y + 14, "No alarms", fill=MUTED)
        return
    columns = max(1, min(len(names), int(box.w // 260)))
    # Rows close up (24 px down to 18) before any alarm is left out.
    line = max(18, min(24, int(box.h // math.ceil(len(names) / columns))))
    fits = max(1, int(box.h // line)) * columns
    shown = names if len(names) <= fits else names[: fits - 1]
    cell_w = box.w / columns
    for index, name in enumerate(shown):
        x, y = box.x + (index % columns) * cell_w, box.y + (index // columns) * line
        baseline = y + line / 2 + 4
        canvas.add(
            f'<rect x="{_number(x)}" y="{_number(baseline - 12)}" width="44" height="16" rx="8" fill="#aab7b8"/>'
        )
        canvas.text(x + 22, baseline, "state", size=10, bold=True, fill="#ffffff", anchor="middle")
        canvas.text(x + 52, baseline, name, max_width=cell_w - 60)
    if len(shown) < len(names):
        index = len(shown)
        x, y = box.x + (index % columns) * cell_w, box.y + (index // columns) * line
        canvas.text(x, y + line / 2 + 4, f"+{len(names) - len(shown)} more", fill=MUTED)


def _draw_text(canvas: _Canvas, markdown: str, box: _Box) -> None:
    """Markdown as plain text: headings bold, links as their text, emphasis marks dropped,
    wrapped to the panel; what does not fit ends in an ellipsis."""
    lines: list[tuple[str, bool]] = []
    for raw in markdown.splitlines():
        line = raw.strip()
        heading = line.startswith("#")
        line = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", line.lstrip("#").strip())
        line = re.sub(r"\*\*|__|`", "", line)
        if line[:2] in {"- ", "* ", "+ "}:
            line = "\u2022 " + line[2:]
        lines.extend((part, heading) for part in _wrap(canvas.words(line), 14 if heading else 12, heading, box.w))
    baseline = box.y
    for index, (line, heading) in enumerate(lines):
        size = 14 if heading else 12
        baseline += size + 5
        if baseline > box.bottom:
            break
        last = index + 1 < len(lines) and baseline + 17 > box.bottom
        text = line + ("\u2026" if last else "")
        canvas.text(box.x, baseline, text, size=size, bold=heading, max_width=box.w, replaced=True)
        if last:
            break


def _wrap(line: str, size: float, bold: bool, width: float) -> list[str]:
    if not line:
        return [""]
    wrapped: list[str] = []
    current = ""
    for word in line.split(" "):
        candidate = f"{current} {word}" if current else word
        if current and _text_width(candidate, size, bold) > width:
            wrapped.append(current)
            current = word
        else:
            current = candidate
    wrapped.append(current)
    return wrapped


# ------------------------------------------------------------------------------ command line


def read_body(text: str) -> Mapping[str, Any]:
    """A dashboard body from JSON text: the body itself, or `aws cloudwatch get-dashboard`'s
    answer, whose DashboardBody is the body as a string."""
    data: Any = json.loads(text)
    if isinstance(data, Mapping) and isinstance(data.get("DashboardBody"), str):
        data = json.loads(data["DashboardBody"])
    if not isinstance(data, Mapping) or "widgets" not in data:
        raise DashboardError('not a dashboard body: expected an object with "widgets"')
    return data


def _replacement(text: str) -> tuple[str, str]:
    old, equals, new = text.partition("=")
    if not equals or not old:
        raise argparse.ArgumentTypeError(f"expected OLD=NEW, got {text!r}")
    return old, new


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m rabbitmq_docs.dashboard_picture",
        description="Draw a CloudWatch dashboard body as an SVG mock: its widgets at their places, with "
        "titles, legends and alarm names, and sample curves in place of data.",
    )
    parser.add_argument(
        "body", help="the dashboard body as JSON, or `aws cloudwatch get-dashboard` output ('-': stdin)"
    )
    parser.add_argument("out", help="the SVG file to write ('-': stdout)")
    parser.add_argument(
        "--replace",
        action="append",
        default=[],
        type=_replacement,
        metavar="OLD=NEW",
        help="replace OLD with NEW in every text drawn, e.g. a test deployment's name prefix (repeatable)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        text = sys.stdin.read() if args.body == "-" else Path(args.body).read_text(encoding="utf-8")
        svg = render_svg(read_body(text), replace=dict(args.replace))
        if args.out == "-":
            sys.stdout.write(svg)
        else:
            Path(args.out).write_text(svg, encoding="utf-8", newline="\n")
    except json.JSONDecodeError as error:
        return _error(f"{args.body}: not JSON: {error.msg} at line {error.lineno} column {error.colno}")
    except UnicodeDecodeError:
        return _error(f"{args.body}: not UTF-8 text")
    except OSError as error:  # reading the body or writing the picture: the error names its file
        return _error(f"{error.filename or args.body}: {error.strerror or error}")
    except DashboardError as error:
        return _error(f"{args.body}: {error}")
    return 0


def _error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
