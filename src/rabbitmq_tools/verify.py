"""Check a deployment end to end, after `terraform apply`.

With the Terraform outputs (read like send.py reads them) it checks, and reports one line each:

- the event source mapping is Enabled (else why not, and the fix, from its StateTransitionReason);
- a marked copy of example-message.json and a poison message (invalid JSON) are confirmed by
  the broker (send.py's confirmed publisher);
- the function logs the marked message as processed (CloudWatch Logs);
- the poison message reaches the SQS dead-letter queue; that one dead letter is then deleted;
- the mapping's LastProcessingResult is no PROBLEM, and no alarm of the deployment is in ALARM.

    python scripts/verify.py                      # publish, wait up to 180 s, report
    python scripts/verify.py --skip-publish       # only read the mapping's and the alarms' states

Exit code 0 when every check passes, 9 when one fails (stderr names the cause and the fix);
send.py's codes for what stops the run before that (outputs, AWS credentials, broker).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import boto3
import botocore.exceptions
import pika

from rabbitmq_tools.project import EXAMPLE_MESSAGE
from rabbitmq_tools.send import (
    AWS,
    EXIT_CODES,
    INTERRUPTED,
    NOT_CONFIRMED,
    OK,
    OUTPUTS,
    USAGE,
    Failure,
    Target,
    check_queue,
    fail,
    new_parser,
    publish_messages,
    read_body,
    read_outputs,
    resolve_target,
)

CHECK_FAILED = 9
VERIFY_EXIT_CODES = {
    OK: "every check passed",
    **{code: meaning for code, meaning in EXIT_CODES.items() if code not in (OK, INTERRUPTED)},
    CHECK_FAILED: "a check failed: the report says which, stderr names the cause and the fix",
    INTERRUPTED: "interrupted (Ctrl-C)",
}
# The outputs verify.py needs beyond those send.py checks for.
OUTPUT_NAMES = (
    "function_name",
    "log_group_name",
    "dead_letter_queue_url",
    "event_source_mapping_uuid",
    "alarm_names",
    "consumer_secret_arn",
)
DEFAULT_TIMEOUT = 180.0
DEFAULT_POLL_INTERVAL = 5.0
SQS_MAX_WAIT = 20  # seconds: ReceiveMessage's long-polling limit

LogLine = tuple[int, dict[str, Any]]  # (timestamp in epoch ms, the handler's JSON log line)

# What the handler logs (rabbitmq_consumer/handler.py and batch.py): a processed message by id
# only at DEBUG; the batch summary, with counts per "queue::vhost", at INFO.
PROCESSED = "message processed"
BATCH_PROCESSED = "batch processed"

# Lambda's reasons for stopping an Amazon MQ mapping, from the Lambda guide "Troubleshoot Amazon
# MQ event source mapping errors" (docs.aws.amazon.com/lambda/latest/dg/services-mq-errors.html);
# the permissions are those "Using Lambda with Amazon MQ" (with-mq.html) lists, as in iam.tf.
MAPPING_ERRORS = {
    "ESM_CONFIG_NOT_VALID": "the event source mapping's configuration is not valid: compare its queue and "
    "VIRTUAL_HOST with the broker's (aws lambda get-event-source-mapping --uuid {uuid} --region {region}), "
    "fix the Terraform variables and apply",
    "EVENT_SOURCE_AUTHN_ERROR": "the mapping cannot sign in to the broker: check that the consumer's secret {secret} "
    "holds the username and password the broker accepts (a password changed in the RabbitMQ console must go into "
    "the secret too); terraform apply -replace=aws_lambda_invocation.bootstrap runs the bootstrap again, which sets "
    "the secret's password on the broker",
    "EVENT_SOURCE_AUTHZ_ERROR": "the mapping may not reach the broker: the function's role needs "
    "mq:DescribeBroker, secretsmanager:GetSecretValue on {secret} and the EC2 network-interface actions "
    "(iam.tf; terraform apply restores them), and the broker user needs permissions on the virtual host",
    "FUNCTION_CONFIG_NOT_VALID": "the function's configuration is not valid: check its state, role and layer "
    "(aws lambda get-function-configuration --function-name {function} --region {region}) and apply",
}
TRANSITIONAL_STATES = ("Creating", "Enabling", "Updating")


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fixes: tuple[str, ...] = ()  # for a failed check: the cause and the fix, one line each

    def line(self) -> str:
        return f"{'ok' if self.ok else 'FAILED':<8}{self.name:<13}{self.detail}"


@dataclass(frozen=True)
class Markers:
    """Message ids that name this run's two messages, and so their log lines and dead letter."""

    valid: str
    poison: str

    @classmethod
    def new(cls) -> Markers:
        run = uuid.uuid4().hex[:12]
        return cls(f"verify-{run}-ok", f"verify-{run}-poison")


@dataclass
class Clients:
    lambda_: Any
    logs: Any
    sqs: Any
    cloudwatch: Any

    @classmethod
    def for_region(cls, region: str) -> Clients:
        return cls(*(boto3.client(name, region_name=region) for name in ("lambda", "logs", "sqs", "cloudwatch")))


@dataclass
class Report:
    style: str  # "text", "json" or "quiet"
    checks: list[Check] = field(default_factory=list)

    def add(self, check: Check) -> None:
        self.checks.append(check)
        if self.style == "text":
            print(check.line(), flush=True)  # as it comes: a wait may take minutes

    def finish(self) -> int:
        failed = [check for check in self.checks if not check.ok]
        if self.style == "json":
            print(json.dumps({"ok": not failed, "checks": [asdict(check) for check in self.checks]}))
        elif self.style == "text":
            count = len(self.checks)
            print(f"{len(failed)} of {count} checks FAILED" if failed else f"all {count} checks passed")
        for check in failed:
            for fix in check.fixes:
                print(f"error: {fix}", file=sys.stderr)
        return CHECK_FAILED if failed else OK


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = new_parser(
        "Check the deployment end to end after terraform apply: publish a marked copy of example-message.json "
        "and a poison message, wait for the function's log line and the dead letter, and read the event source "
        "mapping's and the alarms' states. The AWS side comes from the Terraform outputs; the publishing options "
        "are send.py's."
    )
    environment = (parser.epilog or "").split("\n\nexit codes:", maxsplit=1)[0]
    codes = "\n".join(f"  {code:>3}  {meaning}" for code, meaning in VERIFY_EXIT_CODES.items())
    parser.epilog = f"{environment}\n\nexit codes:\n{codes}"
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help="seconds to wait for the log line and the dead letter, and for a mapping still being "
        "created or updated (default %(default)s)",
    )
    parser.add_argument(
        "--poll-interval",
        type=float,
        default=DEFAULT_POLL_INTERVAL,
        help="seconds between two looks at the logs and the dead-letter queue (default %(default)s)",
    )
    parser.add_argument(
        "--skip-publish", action="store_true", help="publish nothing: only read the mapping's and the alarms' states"
    )
    args = parser.parse_args(argv)
    if args.timeout <= 0:
        parser.error(f"--timeout must be positive, got {args.timeout}")
    if args.poll_interval <= 0:
        parser.error(f"--poll-interval must be positive, got {args.poll_interval}")
    if args.window < 1:
        parser.error(f"--window must be at least 1, got {args.window}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    report = Report("json" if args.json else "quiet" if args.quiet else "text")
    try:
        verify(args, report)
    except Failure as failure:
        print(f"error: {failure}", file=sys.stderr)
        return failure.code
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return INTERRUPTED
    return report.finish()


def verify(args: argparse.Namespace, report: Report) -> None:
    outputs = read_deployment(args.outputs)
    region = outputs["region"]
    clients = Clients.for_region(region)
    mapping = wait_while_transitional(clients, outputs["event_source_mapping_uuid"], args)
    report.add(mapping_state_check(mapping, outputs))
    if not args.skip_publish and mapping.get("State") == "Enabled":
        target = resolve_target(args)
        check_mapping_consumes(mapping, target)
        debug = function_log_level(clients, outputs["function_name"]) == "DEBUG"
        check_queue(target)
        markers = Markers.new()
        published_at = time.time()
        report.add(publish_markers(target, markers, args.window))
        log, letter = wait_for_results(
            clients, outputs, markers, target=target, debug=debug, published_at=published_at, args=args
        )
        report.add(log)
        report.add(letter)
        mapping = get_mapping(clients, outputs["event_source_mapping_uuid"])
    report.add(processing_check(mapping, outputs))
    report.add(alarms_check(describe_alarms(clients, outputs["alarm_names"]), outputs["alarm_names"], region))


# --- the deployment ---------------------------------------------------------------------


def read_deployment(path: str | None) -> dict[str, Any]:
    outputs = read_outputs(path)
    missing = [name for name in OUTPUT_NAMES if outputs.get(name) in (None, "")]
    if missing:
        fail(OUTPUTS, f"the Terraform outputs lack {', '.join(missing)}: they are stale, run terraform apply again")
    names = outputs["alarm_names"]
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        fail(OUTPUTS, f"the Terraform output alarm_names is not a list of names: {names!r}")
    return outputs


@contextmanager
def aws_errors(action: str) -> Iterator[None]:
    """botocore's errors as one line each: no credentials, a resource gone, anything else."""
    try:
        yield
    except botocore.exceptions.NoCredentialsError:
        fail(AWS, "no AWS credentials: run `aws configure` or `aws sso login`, or set AWS_PROFILE")
    except botocore.exceptions.ClientError as exc:
        error = exc.response.get("Error", {})
        code = error.get("Code", "")
        if code in ("ResourceNotFoundException", "AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"):
            fail(AWS, f"cannot {action}: {error.get('Message')}: the Terraform outputs are stale, run terraform apply")
        fail(AWS, f"cannot {action}: {code}: {error.get('Message')}")
    except botocore.exceptions.BotoCoreError as exc:
        fail(AWS, f"cannot {action}: {' '.join(str(exc).split())}")  # some span lines


def get_mapping(clients: Clients, mapping_uuid: str) -> dict[str, Any]:
    with aws_errors(f"read the event source mapping {mapping_uuid}"):
        mapping: dict[str, Any] = clients.lambda_.get_event_source_mapping(UUID=mapping_uuid)
    return mapping


def wait_while_transitional(clients: Clients, mapping_uuid: str, args: argparse.Namespace) -> dict[str, Any]:
    """The mapping, once it is no longer being created, enabled or updated (or at the timeout)."""
    found: dict[str, Any] = {}

    def settled() -> bool:
        found.update(get_mapping(clients, mapping_uuid))
        return found.get("State") not in TRANSITIONAL_STATES

    poll(time.monotonic() + args.timeout, args.poll_interval, settled)
    return found


def function_log_level(clients: Clients, function_name: str) -> str:
    with aws_errors(f"read the configuration of function {function_name}"):
        configuration = clients.lambda_.get_function_configuration(FunctionName=function_name)
    variables = configuration.get("Environment", {}).get("Variables", {})
    return str(variables.get("POWERTOOLS_LOG_LEVEL", "INFO")).upper()


def describe_alarms(clients: Clients, names: list[str]) -> list[dict[str, Any]]:
    if not names:
        return []
    with aws_errors("read the alarms"):
        response = clients.cloudwatch.describe_alarms(AlarmNames=names, AlarmTypes=["MetricAlarm", "CompositeAlarm"])
    return [*response.get("MetricAlarms", []), *response.get("CompositeAlarms", [])]


# --- checks -----------------------------------------------------------------------------


def mapping_state_check(mapping: Mapping[str, Any], outputs: Mapping[str, Any]) -> Check:
    state, reason = mapping.get("State"), mapping.get("StateTransitionReason") or ""
    queues = ", ".join(mapping.get("Queues") or []) or "?"
    if state == "Enabled":
        return Check("mapping", True, f"Enabled, consuming queue {queues}")
    detail = f"{state}, StateTransitionReason {reason}"
    uuid_, region = outputs["event_source_mapping_uuid"], outputs["region"]
    enable = f"aws lambda update-event-source-mapping --uuid {uuid_} --enabled --region {region}"
    if reason in MAPPING_ERRORS:
        cause = MAPPING_ERRORS[reason].format(
            uuid=uuid_, region=region, secret=outputs["consumer_secret_arn"], function=outputs["function_name"]
        )
        fix = f"{cause} ({reason}); then enable the mapping again: {enable}"
    elif state == "Disabled":
        fix = (
            f"the event source mapping is disabled ({reason}): set event_source_mapping_enabled = true and run "
            f"terraform apply, or {enable}"
        )
    else:
        fix = (
            f"the event source mapping is {state}: wait until it is Enabled (aws lambda get-event-source-mapping "
            f"--uuid {uuid_} --region {region}), then run verify.py again"
        )
    return Check("mapping", False, detail, (fix,))


def processing_check(mapping: Mapping[str, Any], outputs: Mapping[str, Any]) -> Check:
    result = mapping.get("LastProcessingResult") or "none reported yet"
    if not result.startswith("PROBLEM"):
        return Check("processing", True, f"LastProcessingResult {result}")
    fix = (
        f'Lambda reports a problem with the mapping ({result}): see the Lambda guide "Troubleshoot Amazon MQ '
        f"event source mapping errors\", and the function's errors with aws logs tail {outputs['log_group_name']} "
        f"--since 1h --region {outputs['region']}"
    )
    return Check("processing", False, f"LastProcessingResult {result}", (fix,))


def alarms_check(alarms: Sequence[Mapping[str, Any]], names: Sequence[str], region: str) -> Check:
    found = {alarm["AlarmName"]: alarm for alarm in alarms}
    missing = [name for name in names if name not in found]
    firing = [found[name] for name in names if name in found and found[name].get("StateValue") == "ALARM"]
    fixes = tuple(
        f"alarm {alarm['AlarmName']} is in ALARM: {alarm.get('AlarmDescription') or alarm.get('StateReason')}"
        for alarm in firing
    )
    if missing:
        fixes += (
            f"alarm(s) {', '.join(missing)} not found in {region}: the Terraform outputs are stale, run "
            "terraform apply",
        )
    if fixes:
        problems = [f"in ALARM: {', '.join(alarm['AlarmName'] for alarm in firing)}"] if firing else []
        problems += [f"not found: {', '.join(missing)}"] if missing else []
        return Check("alarms", False, "; ".join(problems), fixes)
    waiting = sum(1 for alarm in found.values() if alarm.get("StateValue") == "INSUFFICIENT_DATA")
    return Check(
        "alarms",
        True,
        f"{len(names)} alarms, none in ALARM" + (f" ({waiting} INSUFFICIENT_DATA: no data yet)" if waiting else ""),
    )


# --- publish ----------------------------------------------------------------------------


def check_mapping_consumes(mapping: Mapping[str, Any], target: Target) -> None:
    queues = mapping.get("Queues") or []
    if target.queue not in queues:
        fail(
            USAGE,
            f"the event source mapping consumes {', '.join(queues) or 'no queue'}, not {target.queue!r}: the "
            "function would never see the messages; drop --queue or name the mapping's queue",
        )


def publish_markers(target: Target, markers: Markers, window: int) -> Check:
    """example-message.json under the valid marker, and under the poison marker a body that is
    not JSON although its content type says so: the handler dead-letters that one at once."""
    poison = f"not JSON: the poison message of verify.py {markers.poison}".encode()
    messages = [(read_body(str(EXAMPLE_MESSAGE)), markers.valid), (poison, markers.poison)]
    timestamp = int(time.time())

    def message(index: int) -> tuple[bytes, pika.BasicProperties]:
        body, marker = messages[index]
        return body, pika.BasicProperties(
            content_type="application/json",
            delivery_mode=pika.DeliveryMode.Persistent,
            message_id=marker,
            timestamp=timestamp,
            app_id="verify.py",
        )

    result = publish_messages(target, len(messages), message, window=window)
    if not result.all_confirmed:
        fail(
            NOT_CONFIRMED,
            f"the broker confirmed {result.confirmed} of 2 messages (nacked {result.nacked}, unroutable "
            f"{result.unroutable}): check the queue {target.queue!r} on vhost {target.vhost!r}",
        )
    return Check(
        "publish",
        True,
        f"confirmed on queue {target.queue!r}, vhost {target.vhost!r}: {markers.valid} ({EXAMPLE_MESSAGE.name}), "
        f"{markers.poison} (not JSON)",
    )


# --- wait for the function --------------------------------------------------------------


def poll(deadline: float, interval: float, done: Callable[[], bool]) -> bool:
    """Call `done` every `interval` seconds until it returns True (then True) or the deadline
    passes (then False); `done` may itself take part of the interval (SQS long polling)."""
    while True:
        started = time.monotonic()
        if done():
            return True
        now = time.monotonic()
        if now >= deadline:
            return False
        time.sleep(max(0.0, min(interval - (now - started), deadline - now)))


def wait_for_results(
    clients: Clients,
    outputs: Mapping[str, Any],
    markers: Markers,
    *,
    target: Target,
    debug: bool,
    published_at: float,
    args: argparse.Namespace,
) -> tuple[Check, Check]:
    """Poll the log group and the dead-letter queue until both showed this run's messages."""
    if not args.quiet and not args.json and sys.stderr.isatty():
        print(f"waiting up to {args.timeout:.0f} s for the function ...", file=sys.stderr, flush=True)
    group, queue_url = outputs["log_group_name"], outputs["dead_letter_queue_url"]
    since = int(published_at * 1000)
    deadline = time.monotonic() + args.timeout
    log: Check | None = None
    errors: list[dict[str, Any]] = []  # the marked message's ERROR lines: Lambda retries it
    letter: Check | None = None

    def done() -> bool:
        nonlocal log, letter
        if log is None:
            lines = log_lines(clients, group, f'"{markers.valid}"', since)
            batches = [] if debug else log_lines(clients, group, f'"{BATCH_PROCESSED}"', since)
            log = log_check(lines, batches, markers.valid, f"{target.queue}::{target.vhost}", published_at)
            errors[:] = [line for _, line in lines if line.get("level") == "ERROR"]
        if letter is None:
            wait = int(min(args.poll_interval, SQS_MAX_WAIT, max(0.0, deadline - time.monotonic())))
            letter = take_dead_letter(clients, queue_url, markers.poison, wait)
        return log is not None and letter is not None

    poll(deadline, args.poll_interval, done)
    tail = f"aws logs tail {group} --since 15m --region {outputs['region']}"
    if log is None:
        if errors:
            error = errors[-1]
            cause = error.get("exception") or error.get("message")
            fix = f"the function failed on the marked message ({cause}): see {tail}"
        else:
            fix = (
                "the function did not log the marked message: check the mapping state and the function's errors "
                f"with {tail}"
            )
        log = Check("function", False, f"no log line for {markers.valid} within {args.timeout:.0f} s", (fix,))
    if letter is None:
        fix = (
            f"the poison message {markers.poison} did not reach the dead-letter queue {queue_url}: check the "
            f"function's errors with {tail} (a dead-letter queue it cannot write to fails the invocation)"
        )
        letter = Check("dead letter", False, f"no dead letter for {markers.poison} within {args.timeout:.0f} s", (fix,))
    return log, letter


def log_lines(clients: Clients, group: str, pattern: str, since: int) -> list[LogLine]:
    """The function's JSON log lines since `since` (epoch ms) that match the filter pattern: a
    quoted term matches it anywhere in the line (CloudWatch Logs "Filter pattern syntax")."""
    lines: list[LogLine] = []
    with aws_errors(f"read the log group {group}"):
        pages = clients.logs.get_paginator("filter_log_events").paginate(
            logGroupName=group, filterPattern=pattern, startTime=since
        )
        for page in pages:
            for event in page.get("events", []):
                try:
                    line = json.loads(event.get("message", ""))
                except ValueError:
                    continue  # Lambda's own START/END/REPORT lines
                if isinstance(line, dict):
                    lines.append((event.get("timestamp", since), line))
    return lines


def log_check(
    lines: Sequence[LogLine],
    batches: Sequence[LogLine],
    marker: str,
    queue_key: str,
    published_at: float,
) -> Check | None:
    """The function's log check, or None while the log does not tell yet. `lines` name the
    marker; `batches` are batch summaries, looked at when the log level names no processed message."""
    for timestamp, line in lines:
        if line.get("message") == PROCESSED:
            after = timestamp / 1000 - published_at
            return Check("function", True, f"logged {PROCESSED!r} for {marker}, {after:.1f} s after publishing")
    for _, line in lines:
        if line.get("level") == "WARNING":
            fix = (
                f"the function rejected the marked message ({line.get('reason')}): {EXAMPLE_MESSAGE.name} "
                "no longer passes business_logic.process; make them agree again"
            )
            return Check("function", False, f"rejected {marker}", (fix,))
    for _, batch in batches:
        counts = (batch.get("queues") or {}).get(queue_key) or {}
        if counts.get("processed", 0) >= 1:
            return Check(
                "function",
                True,
                f"logged {BATCH_PROCESSED!r} with {counts['processed']} processed on {queue_key} since publishing "
                f'(at log level INFO no line names {marker}; log_level = "DEBUG" makes this check exact)',
            )
    return None


def take_dead_letter(clients: Clients, queue_url: str, marker: str, wait_seconds: int) -> Check | None:
    """Look for the dead letter of the message `marker` without hiding the others (visibility
    timeout 0); delete that one only. A dead letter is rabbitmq_consumer.dead_letters.DeadLetter's
    JSON: the reason and the record as Lambda delivered it."""
    with aws_errors(f"read the dead-letter queue {queue_url}"):
        response = clients.sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, VisibilityTimeout=0, WaitTimeSeconds=wait_seconds
        )
        for message in response.get("Messages", []):
            try:
                letter = json.loads(message["Body"])
                message_id = letter["record"]["basicProperties"]["messageId"]
            except (ValueError, KeyError, TypeError):
                continue  # not one of ours
            if message_id == marker:
                clients.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
                return Check("dead letter", True, f"{marker} dead-lettered to SQS ({letter.get('reason')}); deleted it")
    return None


if __name__ == "__main__":
    raise SystemExit(main())
