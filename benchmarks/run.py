"""Run the benchmark suite: P1-P7 against same-run baselines, and the Lambda sizing table
and chart. Prints tables, writes build/bench/results.json and build/bench/lambda-cost.png;
with --update, the tracked benchmarks/results.json and docs/lambda-cost.png that
docs/performance.md reports.

    make bench                      # or: .venv/bin/python benchmarks/run.py [--repeat 7]
    make bench-update               # the same, --update

Exit code 0 when every target is met, 1 when one is missed (the table says by how much).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import sizing
from idempotency import p5_idempotency
from performance import Figure, p1_handler, p2_cold_import, p3_publisher, p4_end_to_end
from rabbitmq_tools.broker import BrokerUnavailable, local_broker
from shards import p7_shards
from throughput import p6_lanes

ROOT = Path(__file__).resolve().parent.parent
# docs/performance.md reports medians of this many runs (tests/project/test_packaging.py checks).
DEFAULT_REPEAT = 7
# What docs/performance.md shows, rewritten only with --update; a plain run writes to build/.
TRACKED_RESULTS = ROOT / "benchmarks" / "results.json"
TRACKED_CHART = ROOT / "docs" / "lambda-cost.png"
SCRATCH_DIR = ROOT / "build" / "bench"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Benchmarks P1-P7 and Lambda sizing.")
    parser.add_argument(
        "--repeat", type=int, default=DEFAULT_REPEAT, help="measurements per figure; the median is reported"
    )
    parser.add_argument(
        "--update",
        action="store_true",
        help=f"rewrite the tracked {TRACKED_RESULTS.relative_to(ROOT)} and {TRACKED_CHART.relative_to(ROOT)}",
    )
    parser.add_argument("--output", help=f"JSON results file (default {SCRATCH_DIR.relative_to(ROOT)}/results.json)")
    parser.add_argument("--chart", help=f"sizing chart, PNG (default {SCRATCH_DIR.relative_to(ROOT)}/lambda-cost.png)")
    args = parser.parse_args(argv)
    args.output = Path(args.output or (TRACKED_RESULTS if args.update else SCRATCH_DIR / "results.json"))
    args.chart = Path(args.chart or (TRACKED_CHART if args.update else SCRATCH_DIR / "lambda-cost.png"))
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.chart.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-") as scratch:
        return run(args, Path(scratch))


def run(args: argparse.Namespace, scratch: Path) -> int:

    print(f"python {platform.python_version()} on {platform.machine()}, {args.repeat} runs each, medians", flush=True)
    try:
        with local_broker() as broker:
            figures = [*p1_handler(args.repeat, scratch), p2_cold_import(args.repeat)]
            figures.append(p3_publisher(broker, args.repeat))
            figures.append(p4_end_to_end(broker, max(3, args.repeat // 2), scratch))
            p7 = p7_shards(broker, scratch)  # a minute of waiting business logic: measured once
        figures += p5_idempotency(max(3, args.repeat // 2))
        figures += p6_lanes(max(3, args.repeat // 2), scratch)
        figures.append(p7)
    except BrokerUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print_figures(figures)

    timings = sizing.measure(max(args.repeat, 5), scratch)
    rows = sizing.estimate(timings)
    print_sizing(timings, rows)
    sizing.chart(rows, args.chart)

    results = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "repeat": args.repeat,
        "figures": [figure.as_dict() for figure in figures],
        "sizing": {
            "prices": {
                "per_gb_second": sizing.PRICE_PER_GB_SECOND,
                "per_request": sizing.PRICE_PER_REQUEST,
                "as_of": sizing.PRICES_AS_OF,
                "region": "us-east-1",
                "architecture": "arm64",
            },
            "batches": [
                {"batch_size": t.batch_size, "seconds": t.seconds, "per_message_us": t.per_message_us} for t in timings
            ],
            "estimates": [vars(row) for row in rows],
        },
    }
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {args.output} and {args.chart}")
    return 0 if all(figure.met is not False for figure in figures) else 1


def print_figures(figures: list[Figure]) -> None:
    print(f"\n{'id':<4} {'what':<72} {'ours':>10} {'baseline':>10} {'unit':<6} {'ratio':>6} {'target':>8}  verdict")
    for f in figures:
        verdict = {None: "info", True: "met", False: "MISSED"}[f.met]
        if f.met is False:
            bound = float(f.target.split()[1])
            verdict += f" by {abs(f.ratio - bound) / bound:.0%}"
        print(
            f"{f.id:<4} {f.what:<72} {f.measured:>10,.1f} {f.baseline:>10,.1f} {f.unit:<6} "
            f"{f.ratio:>6.2f} {f.target:>8}  {verdict}"
        )


def print_sizing(timings: list[sizing.BatchTiming], rows: list[sizing.SizingRow]) -> None:
    print("\nhandler time per batch (example business logic, one core here)")
    print(f"{'batch':>7} {'ms/batch':>10} {'us/message':>11}")
    for t in timings:
        print(f"{t.batch_size:>7,} {t.seconds * 1000:>10.2f} {t.per_message_us:>11.1f}")
    print(f"\nestimated on Lambda arm64 (prices {sizing.PRICES_AS_OF}, us-east-1)")
    print(f"{'batch':>7} {'memory':>7} {'ms/invocation':>14} {'$/million msgs':>15} {'ceiling msg/s':>14}")
    for r in rows:
        print(
            f"{r.batch_size:>7,} {r.memory_mb:>5}MB {r.duration_ms:>14.1f} {r.cost_per_million:>15.4f} "
            f"{r.ceiling:>14,.0f}"
        )


if __name__ == "__main__":
    raise SystemExit(main())
