"""Parallel lanes: a batch split by ordering key, lanes run concurrently, each strictly in order.

Lambda runs one invocation at a time per RabbitMQ event source mapping, so business logic that
waits on I/O drains the queue at 1 / latency however large the batch. Running the messages of
different keys at the same time lifts that ceiling without giving up what ordering is for: the
messages of one key (a customer's orders) still run one after another, in delivery order.

- `group` splits the positions of a batch into lanes by key, each lane in delivery order;
- `run` runs the lanes on at most `parallelism` threads, longest lane first; each thread takes
  the next lane when its own is done. Once `stopped` is set (by a step that failed) no lane
  starts another message, the messages already running finish, and `run` returns once all
  threads are idle. An exception a step lets through (a bug, never business logic's: the batch
  policy catches those) is raised again here.

The threads are kept for the execution environment's life (one pool per parallelism), so a warm
invocation starts none.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported on first use: a sequential function's cold start does without it
    from concurrent.futures import ThreadPoolExecutor

MAX_PARALLELISM = 64

Lane = list[int]


def group(keys: Iterable[tuple[int, Hashable]]) -> list[Lane]:
    """Lanes of positions by key, each in the order given (delivery order), longest first."""
    lanes: dict[Hashable, Lane] = {}
    for position, key in keys:
        lane = lanes.get(key)
        if lane is None:
            lanes[key] = [position]
        else:
            lane.append(position)
    return sorted(lanes.values(), key=len, reverse=True)


@cache
def _pool(parallelism: int) -> ThreadPoolExecutor:
    from concurrent.futures import ThreadPoolExecutor

    return ThreadPoolExecutor(max_workers=parallelism, thread_name_prefix="lane")


def run(lanes: Sequence[Lane], step: Callable[[int], object], parallelism: int, stopped: threading.Event) -> None:
    """Run `step(position)` for every position, lane by lane, until `stopped` is set."""
    pending = iter(lanes)
    lock = threading.Lock()
    if parallelism <= 1 or len(lanes) <= 1:
        _drain(pending, lock, step, stopped)
        return
    workers = min(parallelism, len(lanes))
    futures = [_pool(parallelism).submit(_drain, pending, lock, step, stopped) for _ in range(workers)]
    for future in futures:
        future.result()  # waits, and raises what a thread raised


def _drain(
    lanes: Iterator[Lane], lock: threading.Lock, step: Callable[[int], object], stopped: threading.Event
) -> None:
    """Take lanes until none is left, or the batch is stopped."""
    while not stopped.is_set():
        with lock:
            lane = next(lanes, None)
        if lane is None:
            return
        for position in lane:
            if stopped.is_set():
                return
            step(position)
