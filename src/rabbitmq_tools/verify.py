"""Check a deployment end to end, after `terraform apply`.

With the Terraform outputs (read like send.py reads them) it checks, and reports one line each:

- every event source mapping is Enabled (else why not, and the fix, from its StateTransitionReason):
  the one of the queue, or one per shard queue (shard_count);
- with --rotation-drill, the consumer's secret rotates twice and the mappings stay Enabled;
- Lambda's poller holds a consumer on each consumed queue (the metrics function, invoked, counts them);
- a marked copy of example-message.json and a poison message (invalid JSON) are confirmed by
  the broker (send.py's confirmed publisher);
- the function logs the marked message as processed (CloudWatch Logs);
- the poison message reaches the SQS dead-letter queue; that one dead letter is then deleted;
- with --rotation-drill, the broker refuses the password the consumer's secret held before it;
- no mapping's LastProcessingResult is a PROBLEM, and no alarm of the deployment is in ALARM.

Three of these observe what AWS does not document and the template assumes: which permissions
Lambda's poller needs on the broker, whether it holds a consumer on the queue, and when it reads
a rotated secret again. A failure names the variable to change.

    python scripts/verify.py                      # publish, wait up to 180 s, report
    python scripts/verify.py --skip-publish       # read the states and count the queue's consumers only
    python scripts/verify.py --rotation-drill     # also rotate the consumer's secret twice (changes it)

Exit code 0 when every check passes, 9 when one fails (stderr names the cause and the fix);
send.py's codes for what stops the run before that (outputs, AWS credentials, broker).
"""

from __future__ import annotations

import argparse
import json
import re
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
from rabbitmq_tools.rotation_drill import (
    ACCEPTED,
    REFUSED,
    ROTATIONS,
    Rotation,
    RotationUnfinished,
    current_credentials,
    login,
    rotate,
)
from rabbitmq_tools.send import (
    AWS,
    DEFAULT_KEY_FIELD,
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
    key_in,
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
    "event_source_mapping_uuids",
    "alarm_names",
    "consumer_secret_arn",
    "metrics_function_name",
)
DEFAULT_TIMEOUT = 180.0
DEFAULT_POLL_INTERVAL = 5.0
# How long the queue may show no consumer while the mapping is Enabled: a poller connecting, and
# the broker's statistics (every 5 s by default) catching up.
CONSUMER_WAIT = 60.0
DEFAULT_DRILL_WAIT = 60.0
SQS_MAX_WAIT = 20  # seconds: ReceiveMessage's long-polling limit

LogLine = tuple[int, dict[str, Any]]  # (timestamp in epoch ms, the handler's JSON log line)

# What the handler logs (rabbitmq_consumer/handler.py and batch.py): a processed message by id
# only at DEBUG; the batch summary, with counts per "queue::vhost", at INFO.
PROCESSED = "message processed"
BATCH_PROCESSED = "batch processed"

# Lambda's reasons for stopping an Amazon MQ mapping, from the Lambda guide "Troubleshoot Amazon
# MQ event source mapping errors" (docs.aws.amazon.com/lambda/latest/dg/services-mq-errors.html);
# the permissions are those "Using Lambda with Amazon MQ" (with-mq.html) lists, as in main.tf.
# EVENT_SOURCE_AUTHZ_ERROR is documented as "Lambda does not have the required permissions to
# access the event source" and nothing more: which AMQP operations the poller performs (a passive
# or a non-passive queue.declare, which needs configure on the queue) is not documented, so the fix
# names the variable that grants the consumer user configure on its queue.
MAPPING_ERRORS = {
    "ESM_CONFIG_NOT_VALID": "the event source mapping's configuration is not valid: compare its queue and "
    "VIRTUAL_HOST with the broker's (aws lambda get-event-source-mapping --uuid {uuid} --region {region}), "
    "fix the Terraform variables and apply",
    "EVENT_SOURCE_AUTHN_ERROR": "the mapping cannot sign in to the broker: check that the consumer's secret {secret} "
    "holds the username and password the broker accepts (a password changed in the RabbitMQ console must go into "
    "the secret too); terraform apply -replace=aws_lambda_invocation.bootstrap runs the bootstrap again, which sets "
    "the secret's password on the broker",
    "EVENT_SOURCE_AUTHZ_ERROR": "Lambda lacks a permission to access the broker: the function's role needs "
    "mq:DescribeBroker, secretsmanager:GetSecretValue on {secret} and the EC2 network-interface actions "
    "(main.tf; terraform apply restores them); if it has them, Lambda's poller may need more than read on the "
    "queue, which AWS does not document: set consumer_configure_permission = true and run terraform apply (the "
    "bootstrap then grants the consumer user configure on its queue)",
    "FUNCTION_CONFIG_NOT_VALID": "the function's configuration is not valid: check its state, role and layer "
    "(aws lambda get-function-configuration --function-name {function} --region {region}) and apply",
}
TRANSITIONAL_STATES = ("Creating", "Enabling", "Updating")
# LastProcessingResult texts are not documented for Amazon MQ (only the codes above are): a
# refusal is recognised by RabbitMQ's own reply (403 ACCESS_REFUSED) or the usual English words.
ACCESS_REFUSAL = re.compile(r"access[ _-]?(refused|denied)|not[ _-]?authori[sz]ed|permission|forbidden|\b403\b", re.I)
# monitoring.tf names the alarm on a queue without consumer "<name_prefix>-poller-stopped".
POLLER_STOPPED_ALARM = "-poller-stopped"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fixes: tuple[str, ...] = ()  # for a failed check: the cause and the fix, one line each
    skipped: bool = False  # not checked here, and the detail says why: neither passed nor failed

    def line(self) -> str:
        status = "skipped" if self.skipped else "ok" if self.ok else "FAILED"
        return f"{status:<8}{self.name:<13}{self.detail}"


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
    secrets: Any

    @classmethod
    def for_region(cls, region: str) -> Clients:
        names = ("lambda", "logs", "sqs", "cloudwatch", "secretsmanager")
        return cls(*(boto3.client(name, region_name=region) for name in names))  # type: ignore[call-overload]


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
        "and a poison message, wait for the function's log line and the dead letter, count the consumers of the "
        "queue, and read the event source mapping's and the alarms' states. The AWS side always comes from the "
        "Terraform outputs; the publishing options (send.py's, --url too) only say where to publish."
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
        "--skip-publish",
        action="store_true",
        help="publish nothing: read the mapping's and the alarms' states and count the queue's consumers",
    )
    parser.add_argument(
        "--rotation-drill",
        action="store_true",
        help="rotate the consumer's secret twice (this changes its password on the broker), then check that the "
        "mapping still consumes and that the broker refuses the password the secret held before",
    )
    parser.add_argument(
        "--drill-wait",
        type=float,
        default=DEFAULT_DRILL_WAIT,
        help="with --rotation-drill: seconds to wait after the second rotation before checking (default %(default)s)",
    )
    args = parser.parse_args(argv)
    if args.timeout <= 0:
        parser.error(f"--timeout must be positive, got {args.timeout}")
    if args.poll_interval <= 0:
        parser.error(f"--poll-interval must be positive, got {args.poll_interval}")
    if args.window < 1:
        parser.error(f"--window must be at least 1, got {args.window}")
    if args.drill_wait < 0:
        parser.error(f"--drill-wait must be 0 or positive, got {args.drill_wait}")
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
    outputs = read_deployment(args.outputs, drill=args.rotation_drill)
    region = outputs["region"]
    clients = Clients.for_region(region)
    mappings = wait_while_transitional(clients, outputs["event_source_mapping_uuids"], args)
    report.add(mapping_state_check(mappings, outputs))
    enabled = mappings.enabled
    publishing = enabled and not args.skip_publish
    # Where to publish: unless given, the deployment's queue, shards and ordering key (send.py's --url
    # does not read the outputs).
    args.queue = args.queue or outputs["queue_name"]
    if args.shards is None:
        args.shards = len(outputs.get("consumed_queues") or [None])
    args.ordering_key = args.ordering_key or outputs.get("ordering_key")
    target = resolve_target(args) if publishing or (enabled and args.rotation_drill) else None
    if publishing and target is not None:
        check_mapping_consumes(mappings, target)
        check_queue(target)  # before the drill changes a password: a broker out of reach stops here
    retired: tuple[str, str] | None = None  # the consumer's credentials before a drill that completed
    if args.rotation_drill:
        if enabled:
            drill = rotation_drill(clients, outputs, args)
            report.add(drill.check)
            retired, mappings = drill.retired, drill.mappings
            # A mapping the drill stopped would consume nothing: its consumers and messages tell no more.
            enabled = mappings.enabled
            publishing = publishing and enabled
        else:
            report.add(Check("rotation", True, "drill not run: the mapping is not Enabled", skipped=True))
    if enabled:
        report.add(consumers_check(clients, outputs, mappings, args))
    if publishing and target is not None:
        debug = function_log_level(clients, outputs["function_name"]) == "DEBUG"
        markers = Markers.new()
        published_at = time.time()
        report.add(publish_markers(target, markers, args.window))
        log, letter = wait_for_results(
            clients, outputs, markers, target=target, debug=debug, published_at=published_at, args=args
        )
        mappings = get_mappings(clients, outputs["event_source_mapping_uuids"])
        if args.rotation_drill:
            log = after_the_drill(log, mappings, outputs)
        report.add(log)
        report.add(letter)
    if retired is not None and target is not None:
        report.add(retired_credentials_check(target, *retired))
    report.add(processing_check(mappings, outputs))
    report.add(alarms_check(describe_alarms(clients, outputs["alarm_names"]), outputs["alarm_names"], region))


# --- the deployment ---------------------------------------------------------------------


def read_deployment(path: str | None, drill: bool = False) -> dict[str, Any]:
    outputs = read_outputs(path, offer_url=False)  # verify.py reads the deployment's even with --url
    missing = [name for name in OUTPUT_NAMES if outputs.get(name) in (None, "")]
    if missing:
        fail(OUTPUTS, f"the Terraform outputs lack {', '.join(missing)}: they are stale, run terraform apply again")
    names = outputs["alarm_names"]
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        fail(OUTPUTS, f"the Terraform output alarm_names is not a list of names: {names!r}")
    uuids = outputs["event_source_mapping_uuids"]
    if not isinstance(uuids, dict) or not all(isinstance(uuid_, str) for uuid_ in uuids.values()):
        fail(OUTPUTS, f"the Terraform output event_source_mapping_uuids is not a map of queue to UUID: {uuids!r}")
    if drill and "rotation_function_name" not in outputs:
        fail(OUTPUTS, "the Terraform outputs lack rotation_function_name: they are stale, run terraform apply again")
    if drill and not outputs["rotation_function_name"]:
        fail(
            USAGE,
            "--rotation-drill rotates the consumer's secret, but this deployment does not rotate credentials "
            "(credential_rotation_days = null, so the output rotation_function_name is null): set "
            "credential_rotation_days and run terraform apply, or drop --rotation-drill",
        )
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


@dataclass(frozen=True)
class Mappings:
    """The deployment's event source mappings as GetEventSourceMapping returns them, by the queue each
    reads: the queue's, or one per shard queue."""

    by_queue: dict[str, dict[str, Any]]

    @property
    def enabled(self) -> bool:
        return all(mapping.get("State") == "Enabled" for mapping in self.by_queue.values())

    @property
    def stopped(self) -> list[dict[str, Any]]:
        """The mappings that are not Enabled."""
        return [mapping for mapping in self.by_queue.values() if mapping.get("State") != "Enabled"]


def get_mappings(clients: Clients, uuids: Mapping[str, str]) -> Mappings:
    return Mappings({queue: get_mapping(clients, mapping_uuid) for queue, mapping_uuid in uuids.items()})


def wait_while_transitional(clients: Clients, uuids: Mapping[str, str], args: argparse.Namespace) -> Mappings:
    """The mappings, once none is being created, enabled or updated (or at the timeout)."""
    found: list[Mappings] = []

    def settled() -> bool:
        found[:] = [get_mappings(clients, uuids)]
        return not any(mapping.get("State") in TRANSITIONAL_STATES for mapping in found[0].by_queue.values())

    poll(time.monotonic() + args.timeout, args.poll_interval, settled)
    return found[0]


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


def mapping_state_check(mappings: Mappings, outputs: Mapping[str, Any]) -> Check:
    queues = ", ".join(mappings.by_queue) or "?"
    if mappings.enabled:
        if len(mappings.by_queue) == 1:
            return Check("mapping", True, f"Enabled, consuming queue {queues}")
        return Check("mapping", True, f"all {len(mappings.by_queue)} Enabled, consuming queues {queues}")
    details, fixes = [], []
    for mapping in mappings.stopped:
        detail, fix = _stopped(mapping, outputs)
        details.append(detail if len(mappings.by_queue) == 1 else f"{', '.join(mapping.get('Queues') or [])}: {detail}")
        fixes.append(fix)
    return Check("mapping", False, "; ".join(details), tuple(fixes))


def _stopped(mapping: Mapping[str, Any], outputs: Mapping[str, Any]) -> tuple[str, str]:
    """Why a mapping is not Enabled, and the fix."""
    state, reason = mapping.get("State"), mapping.get("StateTransitionReason") or ""
    detail = f"{state}, StateTransitionReason {reason}"
    uuid_, region = mapping.get("UUID", "?"), outputs["region"]
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
    return detail, fix


def processing_check(mappings: Mappings, outputs: Mapping[str, Any]) -> Check:
    results = {
        queue: mapping.get("LastProcessingResult") or "none reported yet"
        for queue, mapping in mappings.by_queue.items()
    }
    problems = {queue: result for queue, result in results.items() if result.startswith("PROBLEM")}
    if not problems:
        return Check("processing", True, f"LastProcessingResult {', '.join(sorted(set(results.values())))}")
    fixes = []
    for queue, result in problems.items():
        if ACCESS_REFUSAL.search(result):
            fixes.append(
                f"Lambda reports an access refusal ({result}): if the function's role has its permissions (main.tf; "
                f"terraform apply restores them), Lambda's poller may need more than read on queue {queue!r}, which "
                "AWS does not document: set consumer_configure_permission = true and run terraform apply (the "
                "bootstrap then grants the consumer user configure on its queue)"
            )
        else:
            which = "" if len(results) == 1 else f" of queue {queue!r}"
            fixes.append(
                f'Lambda reports a problem with the mapping{which} ({result}): see the Lambda guide "Troubleshoot '
                "Amazon MQ event source mapping errors\", and the function's errors with aws logs tail "
                f"{outputs['log_group_name']} --since 1h --region {outputs['region']}"
            )
    listed = [result if len(results) == 1 else f"{queue}: {result}" for queue, result in problems.items()]
    return Check("processing", False, f"LastProcessingResult {'; '.join(listed)}", tuple(fixes))


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


# --- the poller's consumer ---------------------------------------------------------------


def consumers_check(
    clients: Clients, outputs: Mapping[str, Any], mappings: Mappings, args: argparse.Namespace
) -> Check:
    """Whether Lambda's poller holds a consumer on each consumed queue (one per shard queue with
    shard_count), which AWS does not document and the poller-stopped alarm assumes. The metrics function
    counts the consumers through the management API (src/rabbitmq_admin/metrics.py); invoked through
    Lambda, it answers for a private broker too."""
    queues = list(mappings.by_queue) or [outputs["queue_name"]]
    function, region = outputs["metrics_function_name"], outputs["region"]
    tail = f"aws logs tail /aws/lambda/{function} --since 15m --region {region}"
    wait = min(args.timeout, CONSUMER_WAIT)
    seen: dict[str, Any] = {}
    counts: dict[str, float | None] = {}

    def done() -> bool:
        seen.update(invoke_metrics(clients, function))
        for queue in queues:
            figures = (seen.get("queues") or {}).get(queue) if "errorMessage" not in seen else None
            counts[queue] = figures.get("Consumers") if isinstance(figures, dict) else None
        return "errorMessage" in seen or all((count or 0) >= 1 for count in counts.values())

    poll(time.monotonic() + wait, args.poll_interval, done)
    if "errorMessage" in seen:
        fix = f"the metrics function {function} failed ({seen['errorMessage']}): read its log with {tail}"
        return Check("consumers", False, f"the metrics function {function} failed", (fix,))
    unknown = [queue for queue, count in counts.items() if count is None]
    if unknown:
        named = ", ".join(repr(queue) for queue in unknown)
        fix = (
            f"the metrics function {function} reported no figures for queue {named} within {wait:.0f} s (a queue "
            f"just declared has none for some seconds): run verify.py again, or read its log with {tail}"
        )
        return Check("consumers", False, f"no figures for queue {named}", (fix,))
    idle = [queue for queue, count in counts.items() if not count]
    if not idle:
        if len(queues) == 1:
            (queue,) = queues
            return Check(
                "consumers", True, f"{counts[queue]:g} consumer(s) on queue {queue!r}: Lambda's poller holds one"
            )
        least = min(count or 0 for count in counts.values())
        return Check(
            "consumers", True, f"at least {least:g} consumer(s) on each of {len(queues)} queues: a poller each"
        )
    named = ", ".join(repr(queue) for queue in idle)
    detail = f"no consumer on queue {named} for {wait:.0f} s while the mapping is Enabled"
    if not any(name.endswith(POLLER_STOPPED_ALARM) for name in outputs["alarm_names"]):
        return Check("consumers", True, f"{detail}; the poller-stopped alarm is off, as it must be then")
    fix = (
        f"Lambda's poller holds no consumer on queue {named} although the mapping is Enabled: unless "
        "LastProcessingResult (the processing check) reports a problem, it reads the queue without one, which AWS "
        "does not document and the poller-stopped alarm assumes it does not, so that alarm would fire for ever: "
        "set create_poller_stopped_alarm = false, run terraform apply, and report this behaviour"
    )
    return Check("consumers", False, detail, (fix,))


def invoke_metrics(clients: Clients, function: str) -> dict[str, Any]:
    """The metrics function's result ({"queues": {name: {"Consumers": n, ...}}}, metrics.publish),
    or its error ({"errorMessage": ...}) when it failed: the Invoke response's FunctionError."""
    with aws_errors(f"invoke the metrics function {function}"):
        response = clients.lambda_.invoke(FunctionName=function, InvocationType="RequestResponse", Payload=b"{}")
        payload = response["Payload"].read()
    try:
        result = json.loads(payload or b"null")
    except ValueError:
        result = None
    if response.get("FunctionError"):
        message = result.get("errorMessage") if isinstance(result, dict) else None
        return {"errorMessage": message or f"{response['FunctionError']} error, no message"}
    return result if isinstance(result, dict) else {}


# --- the rotation drill -------------------------------------------------------------------


@dataclass(frozen=True)
class Drill:
    check: Check
    retired: tuple[str, str] | None  # the credentials the secret held before, once both rotations finished
    mappings: Mappings  # as they are after the drill


def rotation_drill(clients: Clients, outputs: Mapping[str, Any], args: argparse.Namespace) -> Drill:
    """Rotate the consumer's secret twice, wait, and read the mappings' states again."""
    secret, region = outputs["consumer_secret_arn"], outputs["region"]
    tail = f"aws logs tail /aws/lambda/{outputs['rotation_function_name']} --since 15m --region {region}"
    with aws_errors(f"read the consumer's secret {secret}"):
        try:
            before = current_credentials(clients.secrets, secret)
        except ValueError as exc:
            fail(AWS, f"{exc}: the bootstrap writes it (terraform apply)")
    if not args.quiet and not args.json and sys.stderr.isatty():
        print(f"rotating the consumer's secret {ROTATIONS} times ...", file=sys.stderr, flush=True)
    rotations: list[Rotation] = []
    for number in range(1, ROTATIONS + 1):
        try:
            with aws_errors(f"rotate the consumer's secret {secret}"):
                rotations.append(rotate(clients.secrets, secret, timeout=args.timeout, interval=args.poll_interval))
        except ValueError as exc:  # what the rotation stored
            fail(AWS, f"{exc}: read the rotation function's log ({tail})")
        except RotationUnfinished as exc:
            remove = (
                f"aws secretsmanager update-secret-version-stage --secret-id {secret} --version-stage AWSPENDING "
                f"--remove-from-version-id {exc.version} --region {region}"
            )
            fix = (
                f"{exc}: the rotation function's log names the failed step ({tail}); once it is fixed, take "
                f"AWSPENDING off that version ({remove}) and run the drill again"
            )
            detail = f"drill ran: rotation {number} of {ROTATIONS} did not finish within {args.timeout:.0f} s"
            mappings = get_mappings(clients, outputs["event_source_mapping_uuids"])
            return Drill(Check("rotation", False, detail, (fix,)), None, mappings)
    users = " -> ".join([before[0], *(rotation.username for rotation in rotations)])
    seconds = ", ".join(f"{rotation.seconds:.0f} s" for rotation in rotations)
    time.sleep(args.drill_wait)
    mappings = get_mappings(clients, outputs["event_source_mapping_uuids"])
    detail = (
        f"drill ran: rotated the consumer's secret {ROTATIONS} times ({users}; {seconds}), waited {args.drill_wait:g} s"
    )
    if mappings.stopped:
        fixes = tuple(
            f"the mapping is {mapping.get('State')} ({mapping.get('StateTransitionReason')}) after the rotation "
            f"drill: {POLLER_KEPT_OLD_SECRET}; {enable_again(mapping, outputs)}"
            for mapping in mappings.stopped
        )
        states = ", ".join(str(mapping.get("State")) for mapping in mappings.stopped)
        return Drill(Check("rotation", False, f"{detail}; the mapping is {states} now", fixes), before, mappings)
    unproven = "; with --skip-publish, that messages still flow is not checked" if args.skip_publish else ""
    kept = "the mapping is" if len(mappings.by_queue) == 1 else f"all {len(mappings.by_queue)} mappings are"
    return Drill(Check("rotation", True, f"{detail}; {kept} still Enabled{unproven}"), before, mappings)


# AWS does not document when Lambda's poller reads a rotated secret again; rotation relies on it.
POLLER_KEPT_OLD_SECRET = (
    "Lambda's poller did not take up the rotated secret, which credential rotation relies on (AWS does not "
    "document when it reads the secret again): turn rotation off (credential_rotation_days = null), run terraform "
    "apply, and report this behaviour"
)


def enable_again(mapping: Mapping[str, Any], outputs: Mapping[str, Any]) -> str:
    return (
        "then enable the mapping again: aws lambda update-event-source-mapping --uuid "
        f"{mapping.get('UUID', '?')} --enabled --region {outputs['region']}"
    )


def after_the_drill(log: Check, mappings: Mappings, outputs: Mapping[str, Any]) -> Check:
    """The function's check after a rotation drill: a message processed proves the mappings still
    consume; none, with a mapping stopped, names the drill as the cause."""
    if log.ok:
        return Check(log.name, True, f"{log.detail}, after the rotation drill")
    if not mappings.stopped:
        return log
    fixes = tuple(
        f"the function logged nothing after the rotation drill and the mapping is {mapping.get('State')} "
        f"({mapping.get('StateTransitionReason')}): {POLLER_KEPT_OLD_SECRET}; {enable_again(mapping, outputs)}"
        for mapping in mappings.stopped
    )
    return Check(log.name, False, log.detail, fixes)


def retired_credentials_check(target: Target, username: str, password: str) -> Check:
    """An AMQP login with the credentials the consumer's secret held before the drill: after two
    rotations the broker must refuse them."""
    outcome, why = login(target.parameters, username, password)
    where = f"{target.parameters.host}:{target.parameters.port}"
    if outcome == REFUSED:
        return Check("old password", True, f"the broker refuses user {username!r} with its pre-drill password")
    if outcome == ACCEPTED:
        fix = (
            f"the broker at {where} still accepts user {username!r} with the password the consumer's secret held "
            "before two rotations, so a leaked password outlives its rotation: the rotation function must change it "
            "(src/rabbitmq_admin/rotation.py); read its log"
        )
        return Check("old password", False, f"still accepted: {why}", (fix,))
    return Check(
        "old password",
        True,
        f"not checked: the broker at {where} is not reachable from here ({why}); a private broker answers inside "
        "its VPC only: run verify.py --rotation-drill there to check it",
        skipped=True,
    )


# --- publish ----------------------------------------------------------------------------


def check_mapping_consumes(mappings: Mappings, target: Target) -> None:
    """The queues send.py's target reaches (the queue, or the shard queues behind the exchange) are those
    the mappings read."""
    queues = sorted(mappings.by_queue)
    if sorted(target.queues or (target.queue,)) != queues:
        reached = ", ".join(repr(queue) for queue in target.queues or (target.queue,))
        fail(
            USAGE,
            f"the event source mapping{'s' if len(queues) > 1 else ''} consume{'' if len(queues) > 1 else 's'} "
            f"{', '.join(queues) or 'no queue'}, not {reached}: the function would never see the messages; drop "
            "--queue and --shards or name the mapping's queue",
        )


def publish_markers(target: Target, markers: Markers, window: int) -> Check:
    """example-message.json under the valid marker, and under the poison marker a body that is
    not JSON although its content type says so: the handler dead-letters that one at once."""
    poison = f"not JSON: the poison message of verify.py {markers.poison}".encode()
    example = read_body(str(EXAMPLE_MESSAGE))
    messages = [(example, markers.valid), (poison, markers.poison)]
    timestamp = int(time.time())
    # A header ordering key travels with both, as send.py sets it: sharded, they reach one shard queue.
    headers = {target.key_header: key_in(example, DEFAULT_KEY_FIELD) or "verify"} if target.key_header else None

    def message(index: int) -> tuple[bytes, pika.BasicProperties]:
        body, marker = messages[index]
        return body, pika.BasicProperties(
            content_type="application/json",
            delivery_mode=pika.DeliveryMode.Persistent,
            message_id=marker,
            timestamp=timestamp,
            app_id="verify.py",
            headers=headers,
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
        f"confirmed on {f'exchange {target.exchange!r}' if target.exchange else f'queue {target.queue!r}'}, vhost "
        f"{target.vhost!r}: {markers.valid} ({EXAMPLE_MESSAGE.name}), "
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
            keys = [f"{queue}::{target.vhost}" for queue in target.queues or (target.queue,)]
            log = log_check(lines, batches, markers.valid, keys, published_at)
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
    queue_keys: Sequence[str],
    published_at: float,
) -> Check | None:
    """The function's log check, or None while the log does not tell yet. `lines` name the
    marker; `batches` are batch summaries of the consumed queues ("queue::vhost", a shard queue's when
    sharded), looked at when the log level names no processed message."""
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
        for queue_key in queue_keys:
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
