"""The work queue's policy, placed among the policies a vhost already has.

RabbitMQ applies exactly one policy to a queue: of those whose pattern matches its name, the
one of highest priority (operator policies merge separately). Amazon MQ creates its own
policies on the default vhost `/` when it creates a broker ("Amazon MQ for RabbitMQ broker
defaults": AWS-DEFAULT-POLICY-SINGLE-INSTANCE at priority 0 on a single instance; on a cluster
AWS-DEFAULT-POLICY-CLUSTER[-MULTI-AZ] and AWS-DEFAULT-QUORUM-QUEUES-POLICY-CLUSTER-MULTI-AZ at
priority 1), holding settings such as `queue-mode: lazy` and, on clusters, `max-length` with
`overflow: reject-publish`. A policy of ours at the same or a lower priority would lose to
them, and the delivery limit would silently not apply; at a higher priority it replaces them
for the work queue. So ours takes a priority above every other policy that matches the work
queue, and carries the keys of the ones it displaces that it does not set itself: the work
queue keeps Amazon MQ's recommended limits, and gains the delivery limit and dead-lettering.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .topology import Topology

# The apply-to values whose policies reach a quorum queue, least specific first: `all` and
# `queues` on every version, `quorum_queues` from RabbitMQ 3.13 on.
_REACHES_QUORUM_QUEUES = ("all", "queues", "quorum_queues")

# Keys a quorum queue has no use for. Amazon MQ's guide ("Policy configurations for quorum
# queues for Amazon MQ for RabbitMQ") says a policy for quorum queues must not hold the
# classic-mirroring `ha-*` keys nor `queue-mode`, both of which its default policies hold.
_CLASSIC_ONLY = re.compile(r"^(ha-.*|queue-mode)$")


@dataclass(frozen=True)
class Policy:
    name: str
    pattern: str
    apply_to: str
    priority: int
    definition: dict[str, Any]

    @property
    def body(self) -> dict[str, Any]:
        """The policy as the management API takes it, and returns it."""
        return {
            "pattern": self.pattern,
            "apply-to": self.apply_to,
            "priority": self.priority,
            "definition": self.definition,
        }


def apply_to(rabbitmq_version: str) -> str:
    """`quorum_queues` where the broker knows it (3.13 and later: every engine Amazon MQ still
    runs): Amazon MQ appends the `ha-*` keys to a custom policy that may apply to classic queues
    on a 3.x cluster. RabbitMQ 3.10 to 3.12 know `queues` only."""
    try:
        major, minor = (int(part) for part in rabbitmq_version.split(".")[:2])
    except ValueError:
        return "quorum_queues"  # not a release number: a development build, newer than any release
    return "quorum_queues" if (major, minor) >= (3, 13) else "queues"


def work_queue_policy(topology: Topology, vhost_policies: list[dict[str, Any]], rabbitmq_version: str) -> Policy:
    """Our policy, given the vhost's policies as `GET /api/policies/<vhost>` returns them. It covers
    every consumed queue (the shards, when sharded), so it outranks what matches any of them."""
    rivals = [
        policy
        for policy in vhost_policies
        if policy.get("name") != topology.policy_name
        and policy.get("apply-to") in _REACHES_QUORUM_QUEUES
        and any(_matches(str(policy.get("pattern", "")), queue) for queue in topology.queues)
    ]
    top = max((int(policy.get("priority", 0)) for policy in rivals), default=-1)
    carried: dict[str, Any] = {}
    # Amazon MQ's cluster policies tie at priority 1; the more specific apply-to wins a clash.
    displaced = [policy for policy in rivals if int(policy.get("priority", 0)) == top]
    for policy in sorted(displaced, key=lambda policy: _REACHES_QUORUM_QUEUES.index(policy["apply-to"])):
        carried.update(policy.get("definition") or {})
    carried = {key: value for key, value in carried.items() if not _CLASSIC_ONLY.match(key)}
    return Policy(
        topology.policy_name,
        topology.queue_pattern,
        apply_to(rabbitmq_version),
        top + 1,
        {**carried, **topology.policy_definition},
    )


def _matches(pattern: str, name: str) -> bool:
    """RabbitMQ matches patterns with Erlang's PCRE; Python's `re` agrees on the usual ones. A
    pattern Python cannot read counts as matching, so ours still ends up above it."""
    try:
        return re.search(pattern, name) is not None
    except re.error:
        return True
