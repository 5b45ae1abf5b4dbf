"""rabbitmq_docs.dashboard_picture: the README's mock of the CloudWatch dashboard, drawn from a
dashboard body. The picture must be the same bytes for the same body (a test compares it with
docs/dashboard.svg), well-formed XML whatever the names hold, and show every title and legend
label CloudWatch would show, with the console's "." and "..." shorthand resolved."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from rabbitmq_docs.dashboard_picture import (
    COLUMN,
    GAP,
    HEADER,
    MARGIN,
    ROW,
    WIDTH,
    DashboardError,
    main,
    metric_series,
    render_svg,
)

pytestmark = pytest.mark.unit

SVG = "{http://www.w3.org/2000/svg}"
PREFIX = "rabbitmq-lambda"  # the README's name_prefix
ALARM_ARN = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:"


def sample_body(prefix: str = PREFIX) -> dict[str, Any]:
    """A body like the one the Terraform configuration deploys: the handler's own metrics
    (namespace RabbitMQConsumer, dimensions VirtualHost and Queue, written with the console's
    shorthand), the function's Lambda metrics, the SQS dead-letter queue and the alarms."""
    function = f"{prefix}-consumer"
    return {
        "start": "-PT3H",
        "widgets": [
            {
                "type": "text",
                "x": 0,
                "y": 0,
                "width": 24,
                "height": 2,
                "properties": {"markdown": f"## {prefix}\nMessages of queue `orders` consumed by **{function}**."},
            },
            {
                "type": "metric",
                "x": 0,
                "y": 2,
                "width": 12,
                "height": 6,
                "properties": {
                    "title": "Messages by outcome",
                    "region": "us-east-1",
                    "stat": "Sum",
                    "period": 60,
                    "metrics": [
                        ["RabbitMQConsumer", "Processed", "VirtualHost", "/", "Queue", "orders"],
                        [".", "DeadLettered", ".", ".", ".", "."],
                        ["...", "invoices"],
                        [".", "BatchSize", ".", ".", ".", "orders", {"stat": "Average", "label": "Batch size"}],
                    ],
                },
            },
            {
                "type": "metric",
                "x": 12,
                "y": 2,
                "width": 12,
                "height": 6,
                "properties": {
                    "title": "Lambda function",
                    "region": "us-east-1",
                    "stat": "Sum",
                    "period": 60,
                    "metrics": [
                        ["AWS/Lambda", "Invocations", "FunctionName", function, {"id": "m1"}],
                        [".", "Errors", ".", ".", {"id": "m2", "color": "#d62728"}],
                        [{"expression": "100 * m2 / m1", "label": "Error rate (%)", "id": "e1"}],
                    ],
                    "annotations": {"horizontal": [{"label": "Errors alarm", "value": 1}]},
                },
            },
            {
                "type": "metric",
                "x": 0,
                "y": 8,
                "width": 8,
                "height": 6,
                "properties": {
                    "title": "Duration (ms)",
                    "region": "us-east-1",
                    "metrics": [
                        ["AWS/Lambda", "Duration", "FunctionName", function, {"stat": "Average", "label": "average"}],
                        ["...", {"stat": "p99", "label": "p99"}],
                    ],
                },
            },
            {
                "type": "metric",
                "x": 8,
                "y": 8,
                "width": 8,
                "height": 6,
                "properties": {
                    "title": "Dead letters in SQS",
                    "region": "us-east-1",
                    "stat": "Maximum",
                    "metrics": [["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", f"{prefix}-dlq"]],
                },
            },
            {
                "type": "alarm",
                "x": 16,
                "y": 8,
                "width": 8,
                "height": 6,
                "properties": {
                    "title": "Alarms",
                    "alarms": [f"{ALARM_ARN}{function}-errors", f"{ALARM_ARN}{prefix}-dead-letters-not-empty"],
                },
            },
        ],
    }


TITLES = ["Messages by outcome", "Lambda function", "Duration (ms)", "Dead letters in SQS", "Alarms"]
LEGEND = [
    "Processed orders",
    "DeadLettered orders",
    "DeadLettered invoices",
    "Batch size",
    f"Invocations {PREFIX}-consumer",
    f"Errors {PREFIX}-consumer",
    "Error rate (%)",
    "average",
    "p99",
    f"ApproximateNumberOfMessagesVisible {PREFIX}-dlq",
]


def texts(svg: str) -> list[str]:
    """Every text drawn, in order; parsing it proves the picture is well-formed XML."""
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    return ["".join(element.itertext()) for element in root.iter(f"{SVG}text")]


def one_metric_widget(*metrics: list[Any], title: str = "t") -> dict[str, Any]:
    return {"widgets": [{"type": "metric", "x": 0, "y": 0, "properties": {"title": title, "metrics": list(metrics)}}]}


def test_same_body_gives_the_same_bytes() -> None:
    # GIVEN the sample body and an equal copy of it
    body = sample_body()
    # WHEN each is drawn
    first, second = render_svg(body), render_svg(copy.deepcopy(body))
    # THEN the two pictures are byte for byte the same, and drawing left the body as it was
    assert first == second
    assert body == sample_body()


def test_another_interpreter_draws_the_same_bytes(tmp_path: Path) -> None:
    # GIVEN the sample body in a file, and a Python with another hash seed (no set order leaks in)
    source = tmp_path / "body.json"
    source.write_text(json.dumps(sample_body()))
    environment = {**os.environ, "PYTHONHASHSEED": "12345"}
    # WHEN the command draws it there, to stdout
    done = subprocess.run(
        [sys.executable, "-m", "rabbitmq_docs.dashboard_picture", str(source), "-"],
        capture_output=True,
        text=True,
        check=True,
        env=environment,
    )
    # THEN it is the picture drawn here
    assert done.stdout == render_svg(sample_body())


def test_every_title_and_legend_label_is_drawn() -> None:
    # GIVEN the sample body
    # WHEN it is drawn
    drawn = texts(render_svg(sample_body()))
    # THEN each widget's title and each legend entry is a text of its own, and so is each alarm
    for expected in [*TITLES, *LEGEND, f"{PREFIX}-consumer-errors", f"{PREFIX}-dead-letters-not-empty"]:
        assert expected in drawn
    # AND the header says it is a mock, not live data
    assert any("Mock drawn from the dashboard's definition, not live data" in text for text in drawn)


def test_picture_is_the_grid_at_40_px_a_column() -> None:
    # GIVEN the sample body, 14 grid rows tall
    # WHEN it is drawn
    root = ET.fromstring(render_svg(sample_body()))
    # THEN the picture is 24 columns wide and as tall as its lowest widget
    assert (root.get("width"), root.get("height")) == (str(WIDTH), str(HEADER + 14 * ROW + MARGIN))
    assert WIDTH == 992
    # AND the widget at x=12, y=2, 12 x 6 is a panel at that place
    panels = [rect.attrib for rect in root.iter(f"{SVG}rect") if rect.get("stroke") == "#d5dbdb"]
    assert len(panels) == len(sample_body()["widgets"])
    assert {"x": str(MARGIN + 12 * COLUMN + GAP), "y": str(HEADER + 2 * ROW + GAP)}.items() <= panels[2].items()
    assert (panels[2]["width"], panels[2]["height"]) == (str(12 * COLUMN - 2 * GAP), str(6 * ROW - 2 * GAP))


def test_shorthand_repeats_the_metric_before() -> None:
    # GIVEN a metric, one with "." for each value it shares, and one with "..." for the values
    # up to the one it changes, then an expression between two metrics
    properties = {
        "metrics": [
            ["RabbitMQConsumer", "Processed", "VirtualHost", "/", "Queue", "orders"],
            [".", "DeadLettered", ".", ".", ".", "."],
            ["...", "invoices", {"stat": "Sum"}],
            [{"expression": "m1 + m2", "id": "e1"}],
            ["...", "payments"],
            ["AWS/Lambda", "Duration", "FunctionName", "f", {"label": "average"}],
            ["...", {"stat": "p99"}],
        ]
    }
    # WHEN the legend is read
    labels = [series.label for series in metric_series(properties)]
    # THEN each shorthand stands for the values of the metric before it (an expression is no
    # metric to repeat), and an expression without a label shows its expression
    assert labels == [
        "Processed orders",
        "DeadLettered orders",
        "DeadLettered invoices",
        "m1 + m2",
        "DeadLettered payments",
        "average",
        "Duration f",
    ]


@pytest.mark.parametrize(
    ("metrics", "message"),
    [
        ([["...", "orders"]], 'metric 1: "..." with no earlier metric to repeat'),
        ([["AWS/SQS", "NumberOfMessagesSent"], [".", ".", ".", "q"]], 'metric 2: "." at position 3'),
        ([["AWS/SQS"]], "metric 1: names no namespace and metric name"),
        ([["AWS/SQS", 7]], "metric 1: 7 where a string was expected"),
        (["AWS/SQS"], "metric 1: not a non-empty array"),
    ],
)
def test_unresolvable_metric_is_refused(metrics: list[Any], message: str) -> None:
    # GIVEN a metric widget whose metrics name nothing CloudWatch could draw
    body = one_metric_widget(*metrics)
    # WHEN it is drawn
    # THEN it is refused with the widget and metric it lies in
    with pytest.raises(DashboardError, match="^widget 1, " + message.replace("(", r"\(")):
        render_svg(body)


def test_hidden_metrics_are_not_drawn() -> None:
    # GIVEN the inputs of an expression, hidden as the console hides them
    body = one_metric_widget(
        ["AWS/Lambda", "Errors", "FunctionName", "f", {"id": "m1", "visible": False}],
        [{"expression": "m1 * 2", "label": "twice the errors", "id": "e1"}],
    )
    # WHEN it is drawn
    drawn = texts(render_svg(body))
    # THEN only the expression has a legend entry
    assert "twice the errors" in drawn
    assert "Errors f" not in drawn


def test_replace_draws_another_deployment_as_the_default_one() -> None:
    # GIVEN the body of a test deployment, whose names carry another prefix
    moto_body = sample_body("tf-test-1a2b")
    # WHEN it is drawn with that prefix replaced by the README's
    picture = render_svg(moto_body, replace={"tf-test-1a2b": PREFIX})
    # THEN the picture is the default deployment's, sample curves included
    assert picture == render_svg(sample_body())
    assert "tf-test-1a2b" not in picture


def test_replace_applies_the_longest_match_once() -> None:
    # GIVEN names where one key is part of another, and a replacement holding its own key
    body = one_metric_widget(["N", "M", "Queue", "abc-dlq"], title="abc and abc-dlq")
    # WHEN it is drawn with both replacements
    drawn = texts(render_svg(body, replace={"abc": "abc-x", "abc-dlq": "dead", "x": "y"}))
    # THEN each text is replaced once, the longer key first
    assert "abc-x and dead" in drawn
    assert "M dead" in drawn


def test_names_are_escaped_for_xml() -> None:
    # GIVEN names holding markup, quotes, ampersands and characters XML cannot hold
    title = '<script>alert("x")</script> & </text>'
    label = "a < b && c > d ]]> \x01 end"
    colour = '#fff" onload="alert(1)'
    body = one_metric_widget(["N", "M", {"label": label, "color": colour}], title=title)
    body["widgets"].append({"type": "text", "x": 0, "y": 6, "properties": {"markdown": "x <y> & 'z'"}})
    # WHEN it is drawn
    picture = render_svg(body)
    drawn = texts(picture)
    # THEN the picture parses, each name reads back as written (the unwritable character as
    # U+FFFD), and nothing from the body became an element or an attribute
    assert title in drawn
    assert "a < b && c > d ]]> \ufffd end" in drawn
    assert "x <y> & 'z'" in drawn
    assert "<script" not in picture
    assert "onload" not in picture


def test_alarm_widget_lists_alarm_names_with_a_state_badge() -> None:
    # GIVEN an alarm status widget without a title
    arns = [f"{ALARM_ARN}one", f"{ALARM_ARN}two-errors"]
    body = {"widgets": [{"type": "alarm", "x": 0, "y": 0, "width": 12, "height": 4, "properties": {"alarms": arns}}]}
    # WHEN it is drawn
    root = ET.fromstring(render_svg(body))
    drawn = texts(render_svg(body))
    # THEN each alarm is its name after a grey "state" badge, under the console's default title
    assert "Alarm status" in drawn
    assert [drawn[index + 1] for index, text in enumerate(drawn) if text == "state"] == ["one", "two-errors"]
    assert sum(rect.get("fill") == "#aab7b8" for rect in root.iter(f"{SVG}rect")) == 2


def test_alarm_rows_close_up_before_an_alarm_is_left_out() -> None:
    # GIVEN seven alarms in an 8 x 6 widget, one more than fit at the roomy row height
    names = [f"{PREFIX}-alarm-{number}" for number in range(7)]
    properties = {"alarms": [f"{ALARM_ARN}{name}" for name in names]}
    body = {"widgets": [{"type": "alarm", "x": 16, "y": 0, "width": 8, "height": 6, "properties": properties}]}
    # WHEN it is drawn
    drawn = texts(render_svg(body))
    # THEN every one of them is listed, and nothing is summed up as "more"
    assert [text for text in drawn if text.startswith(f"{PREFIX}-alarm-")] == names
    assert not any(text.endswith(" more") for text in drawn)


def test_text_widget_shows_markdown_as_plain_text_and_unknown_types_their_type() -> None:
    # GIVEN a text widget with markdown, and a log widget this picture cannot draw
    markdown = "# Orders\nSee [the runbook](https://example.com/runbook) and **act**."
    body = {
        "widgets": [
            {"type": "text", "x": 0, "y": 0, "width": 24, "height": 3, "properties": {"markdown": markdown}},
            {"type": "log", "x": 0, "y": 3, "properties": {"query": "SOURCE 'x' | fields @message"}},
        ]
    }
    # WHEN they are drawn
    drawn = texts(render_svg(body))
    # THEN the markdown reads as plain text, and the log widget as a panel named by its type
    assert drawn[-4:] == ["Orders", "See the runbook and act.", "log", "log widget"]


def test_widgets_without_a_place_take_the_next_free_one() -> None:
    # GIVEN a 12-wide widget at the top left, and two widgets without x and y
    body = {
        "widgets": [
            {"type": "text", "x": 0, "y": 0, "width": 12, "height": 6, "properties": {"markdown": "a"}},
            {"type": "text", "width": 12, "height": 6, "properties": {"markdown": "b"}},
            {"type": "text", "properties": {"markdown": "c"}},
        ]
    }
    # WHEN they are drawn
    root = ET.fromstring(render_svg(body))
    # THEN the second fills the rest of the first row, the third starts the next
    panels = [(rect.get("x"), rect.get("y")) for rect in root.iter(f"{SVG}rect") if rect.get("stroke") == "#d5dbdb"]
    assert panels == [
        (str(MARGIN + GAP), str(HEADER + GAP)),
        (str(MARGIN + 12 * COLUMN + GAP), str(HEADER + GAP)),
        (str(MARGIN + GAP), str(HEADER + 6 * ROW + GAP)),
    ]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"widgets": {}}, "the body has no widgets array"),
        ({"widgets": [{"type": "text", "x": 30, "properties": {}}]}, "widget 1: x must be an integer 0-23, got 30"),
        ({"widgets": [{"type": "alarm", "properties": {"alarms": "arn"}}]}, "widget 1: properties.alarms is not"),
    ],
)
def test_malformed_body_is_refused(body: dict[str, Any], message: str) -> None:
    with pytest.raises(DashboardError, match="^" + message):
        render_svg(body)


# ------------------------------------------------------------------------------ command line


def test_command_writes_the_picture(tmp_path: Path) -> None:
    # GIVEN a test deployment's dashboard as `aws cloudwatch get-dashboard` prints it
    answer = {"DashboardName": "tf-test-1a2b", "DashboardBody": json.dumps(sample_body("tf-test-1a2b"))}
    source, target = tmp_path / "dashboard.json", tmp_path / "dashboard.svg"
    source.write_text(json.dumps(answer))
    # WHEN the command draws it with the prefix replaced
    code = main([str(source), str(target), "--replace", f"tf-test-1a2b={PREFIX}"])
    # THEN it wrote the default deployment's picture
    assert code == 0
    assert target.read_text(encoding="utf-8") == render_svg(sample_body())


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "dashboard.json: No such file or directory"),
        ("{not json", "dashboard.json: not JSON: Expecting property name enclosed in double quotes at line 1"),
        ('["widgets"]', 'dashboard.json: not a dashboard body: expected an object with "widgets"'),
        (json.dumps(one_metric_widget(["...", "q"])), 'dashboard.json: widget 1, metric 1: "..." with no earlier'),
    ],
)
def test_command_refuses_a_bad_file_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, message: str
) -> None:
    # GIVEN a body file that is missing, not JSON, not a dashboard body, or not drawable
    source, target = tmp_path / "dashboard.json", tmp_path / "dashboard.svg"
    if content is not None:
        source.write_text(content)
    # WHEN the command is run on it
    code = main([str(source), str(target)])
    # THEN it fails with one line on stderr that says why, and writes no picture
    error = capsys.readouterr().err
    assert code == 1
    assert error.count("\n") == 1
    assert error.startswith("error: ")
    assert message in error
    assert not target.exists()


def test_command_refuses_a_replacement_without_equals(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["body.json", "out.svg", "--replace", "tf-test-1a2b"])
    assert exit_info.value.code == 2
    assert "expected OLD=NEW, got 'tf-test-1a2b'" in capsys.readouterr().err
