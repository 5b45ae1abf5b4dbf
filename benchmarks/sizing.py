"""Lambda sizing: the handler's time per batch, turned into cost per million messages and the
throughput ceiling of one RabbitMQ mapping (one invocation at a time).

The model, stated so it can be checked: Lambda gives a function CPU in proportion to its
memory, a full vCPU at 1,769 MB, so below that a batch takes (time measured here on one
core) x 1,769 / memory. That treats this machine's core as equal to a Graviton2 core and
ignores Lambda's own per-invocation overhead; measure in AWS (e.g. Lambda Power Tuning)
before relying on the third digit.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from performance import EXAMPLE, message_properties, quiet_handler, timed
from rabbitmq_consumer import handler
from rabbitmq_tools.lambda_event import LOCAL_BROKER_ARN, build_event, build_record
from rabbitmq_tools.local_event_source_mapping import LocalLambdaContext

# AWS Lambda prices, arm64, US East (N. Virginia), first tier, from aws.amazon.com/lambda/pricing
# (unchanged since arm64 launched in 2021; read on 2026-11-29).
PRICE_PER_GB_SECOND = 0.0000133334
PRICE_PER_REQUEST = 0.20 / 1_000_000
PRICES_AS_OF = "2026-11-29"
FULL_VCPU_MB = 1769
BATCH_SIZES = (10, 100, 1_000, 10_000)
MEMORY_SIZES = (128, 256, 512)


@dataclass
class BatchTiming:
    batch_size: int
    seconds: float  # median handler time for one batch, on this machine's core

    @property
    def per_message_us(self) -> float:
        return self.seconds / self.batch_size * 1e6


@dataclass
class SizingRow:
    batch_size: int
    memory_mb: int
    duration_ms: float  # estimated billed duration of one invocation
    cost_per_million: float  # USD per million messages
    ceiling: float  # messages/s of one mapping: batch size / invocation time


def measure(repeat: int, scratch: Path) -> list[BatchTiming]:
    timings = []
    with quiet_handler(scratch / "sizing-dead-letters.jsonl"):
        for size in BATCH_SIZES:
            records = [build_record(EXAMPLE, message_properties("sizing", i), False) for i in range(size)]
            event = build_event(LOCAL_BROKER_ARN, "orders", "/", records)

            def invoke(event: dict[str, Any] = event) -> None:
                handler.lambda_handler(event, LocalLambdaContext("sizing"))

            invoke()  # warm
            runs = [timed(invoke) for _ in range(repeat)]
            timings.append(BatchTiming(size, statistics.median(runs)))
    return timings


def estimate(timings: list[BatchTiming]) -> list[SizingRow]:
    rows = []
    for timing in timings:
        for memory in MEMORY_SIZES:
            seconds = timing.seconds * max(1.0, FULL_VCPU_MB / memory)
            billed_ms = math.ceil(seconds * 1000)  # billed in 1 ms steps
            invocations = 1_000_000 / timing.batch_size
            cost = invocations * (billed_ms / 1000 * memory / 1024 * PRICE_PER_GB_SECOND + PRICE_PER_REQUEST)
            rows.append(SizingRow(timing.batch_size, memory, seconds * 1000, cost, timing.batch_size / seconds))
    return rows


def chart(rows: list[SizingRow], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (cost_axis, ceiling_axis) = plt.subplots(1, 2, figsize=(11, 4.2))
    # Distinct line styles: for CPU-bound work the three cost lines coincide (twice the memory,
    # half the time, the same GB-seconds).
    for memory, style, size in zip(MEMORY_SIZES, ("-", "--", ":"), (9, 6, 3), strict=True):
        mine = [row for row in rows if row.memory_mb == memory]
        sizes = [row.batch_size for row in mine]
        look = {"marker": "o", "linestyle": style, "markersize": size, "label": f"{memory} MB"}
        cost_axis.plot(sizes, [row.cost_per_million for row in mine], **look)
        ceiling_axis.plot(sizes, [row.ceiling for row in mine], **look)
    cost_axis.set(ylabel="USD per million messages", title="Lambda cost per million messages (arm64)")
    ceiling_axis.set(ylabel="messages per second", title="Throughput ceiling of one mapping")
    for axis in (cost_axis, ceiling_axis):
        axis.set(xscale="log", yscale="log", xlabel="batch size")
        axis.grid(True, which="both", alpha=0.3)
        axis.legend()
    figure.text(
        0.01,
        0.01,
        f"example business logic; arm64 prices, us-east-1, as of {PRICES_AS_OF}; CPU share = memory / 1,769 MB; "
        "the cost lines of the three memory sizes coincide",
        fontsize=8,
        alpha=0.7,
    )
    figure.tight_layout(rect=(0, 0.04, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
