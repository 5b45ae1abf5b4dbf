"""The local event source mapping on several queues at once: one poller per queue, as AWS runs one
event source mapping per shard queue (docs/sharding.md).

Each poller runs in a process of its own, as each mapping invokes the function in an execution
environment of its own: the handler is loaded in each (its configuration, clients and metrics are
that process's), and the pollers run at the same time, on as many cores as there are. Each is a
`LocalEventSourceMapping`, the same code path as a single queue's. `run_pollers` returns each
queue's figures; `total` adds them up, its rate over the longest busy time, since the pollers run
side by side.

Ctrl-C reaches every process of the terminal's group: each poller stops as a single one does
(its unacked messages go back to its queue) and reports what it did; the same happens when the
caller is interrupted some other way (the signal is passed on).
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.queues
import os
import queue as queues
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

import pika.exceptions

from rabbitmq_tools.broker import connection_parameters
from rabbitmq_tools.credentials import from_file
from rabbitmq_tools.local_event_source_mapping import (
    LocalEventSourceMapping,
    MappingSettings,
    MappingStopped,
    Stats,
    describe_connection_error,
    load_handler,
)

# "spawn": a fresh interpreter per poller, as a Lambda execution environment starts fresh (and fork
# is unsafe in a process that already runs threads).
_CONTEXT = multiprocessing.get_context("spawn")
_POLL_SECONDS = 0.5  # how often the parent looks for a poller that died without a word


@dataclass(frozen=True)
class Poller:
    """What a poller's process needs, all of it picklable: the broker, the mapping's settings (its
    queue among them), the handler as Lambda names it, and when to stop."""

    url: str
    settings: MappingSettings
    handler: str
    credentials_file: str | None = None
    max_messages: int | None = None
    idle_timeout: float | None = None


@dataclass
class PollerResult:
    queue: str
    stats: Stats = field(default_factory=Stats)
    error: str | None = None  # one line naming the cause and the fix
    interrupted: bool = False


def run_pollers(pollers: Sequence[Poller]) -> list[PollerResult]:
    """Run every poller in its own process until each stops; their results in the pollers' order."""
    results: multiprocessing.queues.Queue[PollerResult] = _CONTEXT.Queue()
    processes = [
        _CONTEXT.Process(target=_poll, args=(poller, results), name=f"poller {poller.settings.queue}")
        for poller in pollers
    ]
    for process in processes:
        process.start()
    found: dict[str, PollerResult] = {}
    while len(found) < len(processes):
        try:
            result = results.get(timeout=_POLL_SECONDS)
            found[result.queue] = result
        except queues.Empty:
            for poller, process in zip(pollers, processes, strict=True):
                if not process.is_alive() and process.exitcode and poller.settings.queue not in found:
                    queue = poller.settings.queue
                    found[queue] = PollerResult(queue, error=f"the poller's process ended with code {process.exitcode}")
        except KeyboardInterrupt:
            for process in processes:  # they stop as Ctrl-C stops them, and report
                if process.is_alive() and process.pid is not None:
                    os.kill(process.pid, signal.SIGINT)
    for process in processes:
        process.join()
    return [found[poller.settings.queue] for poller in pollers]


def total(results: Sequence[PollerResult]) -> Stats:
    """The figures of all pollers together: counts added, from the first start to the last end, busy
    as long as the busiest poller (they run side by side)."""
    stats = Stats()
    for result in results:
        for name in ("messages", "batches", "failures", "returned_unread", "dead_lettered", "oversized", "reconnects"):
            setattr(stats, name, getattr(stats, name) + getattr(result.stats, name))
    if results:
        stats.started = min(result.stats.started for result in results)
        stats.ended = max(result.stats.ended or result.stats.started for result in results)
        stats.idle = (stats.ended - stats.started) - max(result.stats.busy for result in results)
    return stats


def report(results: Sequence[PollerResult]) -> int:
    """One line per queue and the total, on stderr; the exit code (0 done, 1 a poller failed, 130
    interrupted)."""
    for result in results:
        line = f"{result.queue}: {result.stats.line()} in {result.stats.elapsed:.1f} s ({result.stats.idle:.1f} s idle)"
        print(f"{line}{'; interrupted' if result.interrupted else ''}", file=sys.stderr)
        if result.error:
            print(f"error: {result.queue}: {result.error}", file=sys.stderr)
    combined = total(results)
    print(f"total over {len(results)} queues: {combined.line()} in {combined.elapsed:.1f} s", file=sys.stderr)
    if any(result.error for result in results):
        return 1
    return 130 if any(result.interrupted for result in results) else 0


def _poll(poller: Poller, results: multiprocessing.queues.Queue[PollerResult]) -> None:
    """A poller's process: what `local_event_source_mapping.main` does for one queue."""
    queue = poller.settings.queue
    try:
        credentials = from_file(poller.credentials_file, "consumer") if poller.credentials_file else None
        parameters = connection_parameters(poller.url, *(credentials() if credentials else (None, None)))
        handler = load_handler(poller.handler)
    except (ImportError, AttributeError) as exc:
        results.put(PollerResult(queue, error=f"cannot load the handler {poller.handler!r}: {exc}"))
        return
    except ValueError as exc:  # the credentials file, the URL, or the handler's configuration
        results.put(PollerResult(queue, error=str(exc)))
        return
    mapping = LocalEventSourceMapping(parameters, poller.settings, handler, credentials=credentials)
    try:
        result = PollerResult(queue, mapping.run(poller.max_messages, poller.idle_timeout))
    except KeyboardInterrupt:
        result = PollerResult(queue, mapping.stats, interrupted=True)
    except MappingStopped as exc:
        result = PollerResult(queue, mapping.stats, error=str(exc))
    except (pika.exceptions.AMQPError, OSError) as exc:
        result = PollerResult(queue, mapping.stats, error=describe_connection_error(exc, parameters))
    results.put(result)
