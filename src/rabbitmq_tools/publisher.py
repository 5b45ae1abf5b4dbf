"""Publish with publisher confirms, and fast: many publishes in flight, confirmed asynchronously.

Waiting for each confirm before the next publish costs a network round trip per message
(about a tenth of the unconfirmed rate on a local broker). Here up to `window` messages are
outstanding at once, and the broker's acks (often `multiple`) settle them as they come.
Nothing is skipped: a message counts as confirmed only when the broker acked it and did not
return it as unroutable.

If the connection drops mid-run, every message not yet confirmed is published again after
a reconnect with backoff, so each message is confirmed at least once (a re-sent message may
arrive twice). Each connection asks the credentials provider, when there is one, for the
current user name and password, so a long run survives a password rotation; a broker that
refuses them stops the run at once (retrying a refused password cannot help). Used by send.py,
the benchmarks and the fault-injection tests.

Ctrl-C in the main thread stops the run at a safe point of the I/O loop, never inside pika: a
KeyboardInterrupt raised between pika buffering a frame and registering its socket writer
leaves the frames unsent, and the goodbye to the broker then waits for ever (the cause of a
send.py that ignored Ctrl-C under load). The goodbye is bounded in time besides.
"""

from __future__ import annotations

import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

import pika
import pika.exceptions
from pika.adapters.select_connection import SelectConnection

from rabbitmq_tools.credentials import CredentialsProvider, refused_by_broker, with_credentials

# A message to publish: (body, properties); properties must carry a unique message_id.
MessageFactory = Callable[[int], tuple[bytes, pika.BasicProperties]]

DEFAULT_WINDOW = 1000
PROGRESS_INTERVAL = 0.25
CLOSE_TIMEOUT = 5.0  # seconds a goodbye to the broker may take before the connection is dropped


@dataclass
class PublishResult:
    count: int  # messages to publish
    sent: int = 0  # publishes, re-sends included
    confirmed: int = 0
    nacked_ids: list[str] = field(default_factory=list)
    unroutable_ids: list[str] = field(default_factory=list)
    resent: int = 0
    reconnects: int = 0
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None

    @property
    def nacked(self) -> int:
        return len(self.nacked_ids)

    @property
    def unroutable(self) -> int:
        return len(self.unroutable_ids)

    @property
    def elapsed(self) -> float:
        return (self.finished or time.monotonic()) - self.started

    @property
    def rate(self) -> float:
        """Confirmed messages per second."""
        return self.confirmed / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def all_confirmed(self) -> bool:
        return self.confirmed == self.count


class PublishError(Exception):
    """Publishing stopped: the broker refused something, or the connection could not be
    (re-)established. `result` holds what was confirmed until then; `cause` the pika error (or
    the credentials provider's); `parameters` those of the last connection, with its user."""

    def __init__(
        self,
        message: str,
        result: PublishResult,
        cause: BaseException | None = None,
        parameters: pika.ConnectionParameters | None = None,
    ) -> None:
        super().__init__(message)
        self.result = result
        self.cause = cause
        self.parameters = parameters


class UnpublishableMessage(PublishError):
    """pika could not encode a message (a header integer beyond 64 bits, a header name over 255
    bytes, ...): a caller's bug, which stops the run with that message unconfirmed."""


class PublishInterrupted(Exception):
    """Ctrl-C: publishing stopped; `result` holds what was confirmed until then."""

    def __init__(self, result: PublishResult) -> None:
        super().__init__("interrupted")
        self.result = result


class ConfirmedPublisher:
    def __init__(
        self,
        parameters: pika.ConnectionParameters,
        routing_key: str,
        *,
        exchange: str = "",
        window: int = DEFAULT_WINDOW,
        rate: float = 0.0,
        reconnect_attempts: int = 8,
        on_progress: Callable[[PublishResult], None] | None = None,
        credentials: CredentialsProvider | None = None,
    ) -> None:
        """`credentials`, when given, is asked for the user name and password at every
        (re)connect, instead of using those of `parameters`."""
        if window < 1:
            raise ValueError(f"window must be at least 1, got {window}")
        if rate < 0:
            raise ValueError(f"rate must be 0 (as fast as possible) or positive, got {rate}")
        self.parameters = parameters
        self.exchange = exchange
        self.routing_key = routing_key
        self.window = window
        self.rate = rate
        self.reconnect_attempts = reconnect_attempts
        self.on_progress = on_progress
        self.credentials = credentials

    def publish(self, count: int, message: MessageFactory) -> PublishResult:
        """Publish messages 0..count-1 (built by `message(index)`) until every one is confirmed,
        nacked or returned. Raises `PublishError` or `PublishInterrupted`."""
        run = _Run(self, count, message)
        failures = 0
        try:
            with _ctrl_c_at_a_safe_point(run):
                while not run.done:
                    try:
                        run.connect_and_run()
                    except ValueError as exc:  # the credentials provider's (CredentialsUnavailable)
                        if not run.ever_opened:
                            raise PublishError(str(exc), run.result, exc) from None
                        run.cause = exc  # on a reconnect: perhaps passing, retried like a failed connect
                    if run.interrupted:
                        raise KeyboardInterrupt
                    if run.done:
                        break
                    if run.fatal is not None:
                        raise run.fatal
                    # The connection was lost: put what was in flight back, reconnect with backoff.
                    if not run.ever_opened or run.refused or failures >= self.reconnect_attempts:
                        raise PublishError(run.lost_reason(), run.result, run.cause, run.parameters)
                    failures = 0 if run.progressed else failures + 1
                    run.requeue_outstanding()
                    run.result.reconnects += 1
                    time.sleep(min(0.25 * 2**failures, 8.0))
        except KeyboardInterrupt:
            with suppress(KeyboardInterrupt):  # Ctrl-C again: leave without the goodbye
                run.close()
            run.result.finished = time.monotonic()
            raise PublishInterrupted(run.result) from None
        run.result.finished = time.monotonic()
        return run.result


@contextmanager
def _ctrl_c_at_a_safe_point(run: _Run) -> Iterator[None]:
    """While `run` publishes in the main thread with Python's default Ctrl-C handling, a Ctrl-C
    inside the I/O loop is handed to the loop as a callback (a graceful stop) instead of being
    raised wherever pika happens to be. Outside the loop, or the second time, it raises as usual."""
    if threading.current_thread() is not threading.main_thread() or (
        signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield  # only the main thread receives signals; and someone else's handler stays
        return

    def on_sigint(signum: int, frame: FrameType | None) -> None:
        connection = run.connection
        if run.interrupted or not run.looping or connection is None:
            raise KeyboardInterrupt
        run.interrupted = True
        connection.ioloop.add_callback_threadsafe(run.on_interrupt)

    signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)


class _Run:
    """The state of one `publish` call across connections."""

    def __init__(self, publisher: ConfirmedPublisher, count: int, message: MessageFactory) -> None:
        self.p = publisher
        self.message = message
        self.result = PublishResult(count)
        self.next_index = 0
        self.retry: deque[int] = deque()  # indexes to publish again after a reconnect
        self.outstanding: dict[int, tuple[int, str]] = {}  # delivery tag -> (index, message id)
        self.returned: set[str] = set()  # message ids the broker returned as unroutable
        self.connection: SelectConnection | None = None
        self.parameters: pika.ConnectionParameters = publisher.parameters  # the current connection's
        self.channel: Any = None
        self.tag = 0
        self.ever_opened = False
        self.progressed = False  # something was confirmed on the current connection
        self.fatal: PublishError | None = None
        self.cause: BaseException | None = None
        self.scheduled = False
        self.closing = False
        self.looping = False  # the I/O loop runs: a Ctrl-C must wait for a safe point
        self.interrupted = False  # Ctrl-C was pressed; the loop stops at the next safe point

    @property
    def done(self) -> bool:
        return not self.outstanding and not self.retry and self.next_index >= self.result.count

    @property
    def refused(self) -> bool:
        """The broker refused the user name and password, or the user's access to the vhost."""
        return self.cause is not None and refused_by_broker(self.cause)

    def connect_and_run(self) -> None:
        self.progressed = False
        self.closing = False
        self.channel = None
        self.cause = None
        # A rate timer pending on the last connection died with its I/O loop: without this, a
        # rate-limited run that reconnects waits for that timer for ever.
        self.scheduled = False
        # Asked at every connect: after a rotation the provider has the new password.
        self.parameters = with_credentials(self.p.parameters, self.p.credentials)
        self.connection = SelectConnection(
            self.parameters,
            on_open_callback=self._on_open,
            on_open_error_callback=self._on_open_error,
            on_close_callback=self._on_closed,
        )
        if self.p.on_progress:
            self.connection.ioloop.call_later(PROGRESS_INTERVAL, self._report)
        self._loop()

    def close(self) -> None:
        if self.connection is not None and self.connection.is_open:
            self.closing = True
            self.connection.close()
            self.connection.ioloop.call_later(CLOSE_TIMEOUT, self.connection.ioloop.stop)
            self._loop()  # until the close completes (_on_closed stops the loop) or times out

    def on_interrupt(self) -> None:
        """Ctrl-C, run by the I/O loop at a safe point: stop as gracefully as when done."""
        self._stop()

    def _loop(self) -> None:
        assert self.connection is not None
        self.looping = True
        try:
            self.connection.ioloop.start()
        finally:
            self.looping = False

    def requeue_outstanding(self) -> None:
        indexes = [index for index, _ in self.outstanding.values()]
        self.retry.extendleft(reversed(indexes))
        self.result.resent += len(indexes)
        self.outstanding.clear()

    def lost_reason(self) -> str:
        where = f"{self.p.parameters.host}:{self.p.parameters.port}"
        if not self.ever_opened or self.refused:
            return f"cannot connect to RabbitMQ at {where}: {self.cause!r}"
        return f"lost the connection to RabbitMQ at {where} and could not reconnect: {self.cause!r}"

    # --- pika callbacks -------------------------------------------------------------

    def _on_open(self, connection: SelectConnection) -> None:
        self.ever_opened = True
        connection.channel(on_open_callback=self._on_channel_open)

    def _on_open_error(self, connection: SelectConnection, error: BaseException) -> None:
        self.cause = error
        connection.ioloop.stop()

    def _on_closed(self, connection: SelectConnection, reason: BaseException) -> None:
        if not self.closing and self.cause is None:
            self.cause = reason
        connection.ioloop.stop()

    def _on_channel_open(self, channel: Any) -> None:
        self.channel = channel
        self.tag = 0
        channel.add_on_close_callback(self._on_channel_closed)
        channel.add_on_return_callback(self._on_return)
        channel.confirm_delivery(ack_nack_callback=self._on_confirm, callback=lambda _frame: self._publish_more())

    def _on_channel_closed(self, channel: Any, reason: BaseException) -> None:
        if self.closing or self.connection is None:
            return
        if isinstance(reason, pika.exceptions.ChannelClosedByBroker):
            # The broker refused an operation (e.g. a missing exchange): retrying cannot help.
            self.fatal = PublishError(
                f"the broker closed the channel: {reason.reply_code} {reason.reply_text}", self.result, reason
            )
        else:
            self.cause = reason
        self._stop()

    def _on_return(self, channel: Any, method: Any, properties: pika.BasicProperties, body: bytes) -> None:
        self.returned.add(properties.message_id)

    def _on_confirm(self, frame: Any) -> None:
        method = frame.method
        nacked = isinstance(method, pika.spec.Basic.Nack)
        tag = method.delivery_tag
        if method.multiple:
            settled = []
            for settled_tag in self.outstanding:
                if settled_tag > tag:
                    break
                settled.append(settled_tag)
        else:
            settled = [tag]
        result = self.result
        for settled_tag in settled:
            entry = self.outstanding.pop(settled_tag, None)
            if entry is None:
                continue
            message_id = entry[1]
            if nacked:
                result.nacked_ids.append(message_id)
            elif message_id in self.returned:
                result.unroutable_ids.append(message_id)
            else:
                result.confirmed += 1
        self.progressed = True
        if self.done:
            self._stop()
        else:
            self._publish_more()

    # --- publishing -----------------------------------------------------------------

    def _on_rate_timer(self) -> None:
        self.scheduled = False
        self._publish_more()

    def _schedule(self) -> None:
        if not self.scheduled and self.connection is not None:
            self.scheduled = True
            self.connection.ioloop.call_later(1 / self.p.rate, self._on_rate_timer)

    def _publish_more(self) -> None:
        channel = self.channel
        if channel is None or not channel.is_open:
            return
        room = self.p.window - len(self.outstanding)
        if self.p.rate:
            # First publishes only: re-sends after a reconnect do not wait for the rate.
            allowed = int(self.result.elapsed * self.p.rate) + 1 - (self.result.sent - self.result.resent)
            room = min(room, max(allowed, 0))
        result = self.result
        publish = channel.basic_publish
        for _ in range(room):
            if self.retry:
                index = self.retry.popleft()
            elif self.next_index < result.count:
                index = self.next_index
                self.next_index += 1
            else:
                break
            body, properties = self.message(index)
            try:
                # pika marshals every frame of a message before writing any (Connection._send_message),
                # so a message it cannot encode sends nothing
                publish(self.p.exchange, self.p.routing_key, body, properties, mandatory=True)
            except Exception as exc:  # pika's encoding errors (struct.error, ShortStringTooLong, ...) share no base
                self.retry.appendleft(index)  # kept: the run is not done while it is unconfirmed
                self.fatal = UnpublishableMessage(
                    f"pika cannot encode message {properties.message_id}: {exc!r}", self.result, exc
                )
                self._stop()
                return
            self.tag += 1
            self.outstanding[self.tag] = (index, properties.message_id)
            result.sent += 1
        if self.p.rate and (self.retry or self.next_index < result.count):
            self._schedule()

    def _stop(self) -> None:
        if self.connection is not None and self.connection.is_open:
            self.closing = True
            self.connection.close()  # _on_closed stops the ioloop
            # A broker that never answers the goodbye must not hold the run (nor Ctrl-C) for ever.
            self.connection.ioloop.call_later(CLOSE_TIMEOUT, self.connection.ioloop.stop)
        elif self.connection is not None:
            self.connection.ioloop.stop()

    def _report(self) -> None:
        if self.p.on_progress:
            self.p.on_progress(self.result)
        if self.connection is not None and not self.closing:
            self.connection.ioloop.call_later(PROGRESS_INTERVAL, self._report)
