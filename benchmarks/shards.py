"""P7: shards. Four shard queues behind the consistent-hash exchange, each with its own poller of the
local event source mapping (a process each, as AWS runs a mapping each), against one queue with one
poller, in the same run, for business logic that waits on I/O and otherwise default settings.

| id | what                                                                        | baseline          | target |
|----|-----------------------------------------------------------------------------|-------------------|--------|
| P7 | 4 shards, 4 pollers; 1,600 messages over 400 keys; 20 ms per message; the     | 1 queue, 1 poller | >= 3.2 |
|    | handler sequential (parallelism 1), batch size 100, batching window 0.5 s   |                   |        |

With parallelism 1 one poller drains 1 / 20 ms = 50 messages a second, whatever else it is given;
four shards drain four times that, less the shard that got more keys than the others (the exchange
spreads keys, not messages: 400 keys keep the busiest shard near a quarter), and less each shard's
last, partial batch waiting out the batching window. The business logic records the order each
key's messages ran in: a message that ran after a later message of its key is an order violation,
which fails the figure (messages of one key always reach one shard, read by one poller).
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pika

from performance import Figure, quiet_handler
from rabbitmq_admin.topology import Topology
from rabbitmq_consumer import business_logic, handler
from rabbitmq_consumer.config import DEFAULT_DELIVERY_LIMIT
from rabbitmq_consumer.messages import Message
from rabbitmq_tools.bootstrap import BrokerSetup
from rabbitmq_tools.broker import LocalBroker, connection_parameters
from rabbitmq_tools.local_event_source_mapping import MappingSettings
from rabbitmq_tools.pollers import Poller, run_pollers, total
from rabbitmq_tools.publisher import ConfirmedPublisher

LATENCY = 0.020  # seconds of I/O per message
SHARDS = 4
MESSAGES = 1600
KEYS = 400
KEY_HEADER = "customer-id"
IDLE_TIMEOUT = 1.0  # a poller stops once its queue has been empty this long (not counted as busy)
ORDER_FILE = "P7_ORDER_FILE"  # where each poller's business logic records (key, sequence), in run order

_recorded: list[tuple[str, int]] = []
_lock = threading.Lock()


def _wait_and_record(message: Message) -> None:
    time.sleep(LATENCY)
    with _lock:
        _recorded.append((str(message.properties.headers[KEY_HEADER]), int(message.payload["sequence"])))


def lambda_handler(event: dict[str, Any], context: Any) -> Any:
    """The real handler with the benchmark's business logic, as each poller's process loads it (by
    name: `shards.lambda_handler`); the order of the batch's messages is appended to $P7_ORDER_FILE
    before the poller acks the batch, its dead letters (none expected) to $DEAD_LETTER_FILE."""
    business_logic.process = _wait_and_record
    _recorded.clear()
    with quiet_handler(Path(os.environ["DEAD_LETTER_FILE"])):  # its logs formatted, as in Lambda, not shown
        result = handler.lambda_handler(event, context)
    with Path(os.environ[ORDER_FILE]).open("a") as file:
        file.write("".join(f"{key} {sequence}\n" for key, sequence in _recorded))
    return result


def violations(order_file: Path) -> tuple[int, int]:
    """(messages recorded, order violations: messages that ran after a later message of their key)."""
    last: dict[str, int] = {}
    count = found = 0
    for line in order_file.read_text().splitlines():
        key, sequence = line.split()
        count += 1
        if int(sequence) < last.get(key, -1):
            found += 1
        last[key] = max(int(sequence), last.get(key, -1))
    return count, found


@contextmanager
def topology(broker: LocalBroker, shards: int) -> Iterator[Topology]:
    client = broker.management_client()
    name = f"bench-p7-{uuid.uuid4().hex[:8]}"
    setup = BrokerSetup.new(
        Topology(name, DEFAULT_DELIVERY_LIMIT, "/", shards, f"header:{KEY_HEADER}" if shards > 1 else None),
        f"{name}-consumer",
        f"{name}-publisher",
    )
    setup.apply(client)
    try:
        yield setup.topology
    finally:
        setup.remove(client)


def publish(broker: LocalBroker, where: Topology) -> None:
    """MESSAGES messages over KEYS keys, each key's numbered in publishing order, with confirms: to the
    exchange when sharded, else to the queue."""
    parameters = connection_parameters(broker.url)

    def message(index: int) -> tuple[bytes, pika.BasicProperties]:
        properties = pika.BasicProperties(
            content_type="application/json",
            delivery_mode=pika.DeliveryMode.Persistent,
            message_id=f"p7-{index:05d}",
            headers={KEY_HEADER: f"customer-{index % KEYS}"},
        )
        return json.dumps({"sequence": index}).encode(), properties

    routing = "" if where.sharded else where.queue
    result = ConfirmedPublisher(parameters, routing, exchange=where.exchange).publish(MESSAGES, message)
    assert result.all_confirmed, f"only {result.confirmed} of {MESSAGES} confirmed"


def consume(broker: LocalBroker, where: Topology, scratch: Path) -> tuple[float, int]:
    """Run one poller per queue until all are idle: (messages per second from the first poller's start
    to the last poller's last ack, order violations)."""
    order_file = scratch / f"p7-order-{where.queue}.txt"
    order_file.write_text("")
    os.environ[ORDER_FILE] = str(order_file)  # the pollers' processes inherit it
    os.environ["DEAD_LETTER_FILE"] = str(scratch / "p7-dead-letters.jsonl")
    pollers = [
        Poller(broker.url, MappingSettings(queue), "shards.lambda_handler", idle_timeout=IDLE_TIMEOUT)
        for queue in where.queues
    ]
    results = run_pollers(pollers)
    errors = [f"{result.queue}: {result.error}" for result in results if result.error]
    assert not errors, errors
    combined = total(results)
    assert combined.messages == MESSAGES, combined
    assert combined.dead_lettered == 0, combined
    recorded, found = violations(order_file)
    assert recorded == MESSAGES, recorded
    # The queues are full before the pollers start, so each poller's idle time is its wait at the end
    # (the idle timeout): its busy time ends at its last ack. Processes start one after another; the
    # span from the earliest start (a system-wide monotonic clock) counts their start-up skew too.
    span = max(result.stats.started + result.stats.busy for result in results) - min(
        result.stats.started for result in results
    )
    return MESSAGES / span, found


def p7_shards(broker: LocalBroker, scratch: Path) -> Figure:
    saved = {name: os.environ.get(name) for name in (ORDER_FILE, "DEAD_LETTER_FILE")}
    try:
        rates, found = [], 0
        for shards in (1, SHARDS):
            with topology(broker, shards) as where:
                publish(broker, where)
                rate, violated = consume(broker, where, scratch)
            rates.append(rate)
            found += violated
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    single, sharded = rates
    return Figure(
        "P7",
        f"{SHARDS} shards, {SHARDS} pollers vs 1; {MESSAGES:,} msgs, {KEYS} keys, {LATENCY * 1000:.0f} ms each; order "
        f"violations {found}",
        "msg/s",
        sharded,
        single,
        sharded / single if found == 0 else 0.0,  # a violation fails the figure
        ">= 3.2",
    )
