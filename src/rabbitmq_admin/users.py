"""The broker users besides the admin, each with the least it needs.

What each AMQP 0-9-1 operation needs, from RabbitMQ's access-control guide
(https://www.rabbitmq.com/docs/access-control, "How Permissions Work"): basic.consume and
basic.get need `read` on the queue; basic.publish needs `write` on the exchange, and the
default exchange's blank name is checked as `amq.default`; queue.declare with passive=true
needs nothing, with passive=false `configure` on the queue; queue.bind needs `write` on the
queue and `read` on the exchange. confirm.select (publisher confirms) and the mandatory flag
are not in the table: they need no permission. basic.ack, basic.reject and basic.qos neither.

- consumer, for the Lambda event source mappings: read on the work queue (or, sharded, on every
  shard queue), nothing else; and, only
  when asked (`configure=True`, Terraform's consumer_configure_permission), configure on it too,
  should Lambda's poller turn out to declare the queue non-passively (AWS does not document it;
  `make verify` checks it on a deployment).
- publisher, for send.py: write on the exchange it publishes through, nothing else: the default
  exchange to the work queue, or, sharded, the hash exchange; its passive checks that the
  exchange and the queues exist need no permission.
- monitoring, for the metrics function: RabbitMQ's `monitoring` tag, so it may read the
  management API, and permissions that match no resource (`^$` three times). It needs that
  entry all the same: the API shows a vhost's queues only to a user with permissions on the
  vhost, whatever its tags (`is_authorized_vhost` in the management plugin's rabbit_mgmt_util).

The consumer and the publisher have no tag, so neither may use the management API or console.
The admin user (Amazon MQ's, made with the broker) is for people, the bootstrap and the
rotation function only.

Each role's secret names one of two users, `<name>` or `<name>_clone`: the rotation function
(`rotation`) alternates between them, so the user the secret named last keeps working.

Every user the bootstrap or the rotation makes carries the tag MARKER_TAG, and neither changes a
user without it: a user of the same name is someone else's account. One exception, for users
made before the marker existed: an unmarked user that holds a password one of our secrets holds
was made by us (nobody else has that password), and is adopted (`made_by_us`). A tag RabbitMQ
does not know grants nothing: the consumer and the publisher still cannot use the management
API (tests/admin/test_permissions.py).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import string
from dataclasses import dataclass
from typing import Any

from .topology import Topology

NOTHING = "^$"  # matches no resource name
DEFAULT_EXCHANGE = "amq.default"
MONITORING_TAG = "monitoring"
ADMINISTRATOR_TAG = "administrator"
MARKER_TAG = "rabbitmq-lambda"  # on every user the bootstrap and the rotation make
CLONE_SUFFIX = "_clone"  # the second user's name in AWS's alternating-users rotation templates
# Letters, digits and URL-safe punctuation: none of the `,` `:` `=` that Amazon MQ refuses in
# passwords, nothing a URL or a shell needs to quote, 190 bits of entropy in 32 characters.
PASSWORD_ALPHABET = string.ascii_letters + string.digits + "-_.~"
PASSWORD_LENGTH = 32


@dataclass(frozen=True)
class Permissions:
    """Regular expressions of the resource names a user may configure, write to and read from."""

    configure: str
    write: str
    read: str


@dataclass(frozen=True)
class User:
    role: str
    name: str
    password: str
    permissions: Permissions
    tags: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError(f"the {self.role} user name must not be empty")
        if not self.password:
            raise ValueError(f"the {self.role} user's password must not be empty")

    def __repr__(self) -> str:  # never show the password, in logs or tracebacks
        return f"User(role={self.role!r}, name={self.name!r}, permissions={self.permissions!r}, tags={self.tags!r})"


def consumer(name: str, password: str, topology: Topology, configure: bool = False) -> User:
    queue = topology.queue_pattern
    return User("consumer", name, password, Permissions(queue if configure else NOTHING, NOTHING, queue))


def publisher(name: str, password: str, exchange: str = "") -> User:
    """Write on the exchange it publishes through: the default one, or a sharded topology's hash
    exchange (`Topology.exchange`)."""
    writes = f"^{re.escape(exchange or DEFAULT_EXCHANGE)}$"
    return User("publisher", name, password, Permissions(NOTHING, writes, NOTHING))


def monitoring(name: str, password: str) -> User:
    return User("monitoring", name, password, Permissions(NOTHING, NOTHING, NOTHING), (MONITORING_TAG,))


def alternate(name: str) -> str:
    """The other user of a role's pair: `x` for `x_clone`, `x_clone` for `x`."""
    original = name.removesuffix(CLONE_SUFFIX)
    return original if original and original != name else name + CLONE_SUFFIX


def tags_of(user: dict[str, Any]) -> tuple[str, ...]:
    """A user's tags from `GET /api/users/<name>` (a list), sorted."""
    return tuple(sorted(user.get("tags") or []))


def marked(tags: tuple[str, ...]) -> tuple[str, ...]:
    """A role's tags and the marker, sorted as `tags_of` gives them."""
    return tuple(sorted({*tags, MARKER_TAG}))


def made_by_us(user: dict[str, Any], tags: tuple[str, ...], passwords: tuple[str, ...]) -> bool:
    """Whether a user from `GET /api/users/<name>` is one of ours: it carries the marker, or it was
    made before the marker with a role's `tags` and holds one of `passwords`, which only our
    secrets hold."""
    if MARKER_TAG in tags_of(user):
        return True
    return tags_of(user) == tuple(sorted(tags)) and any(holds_password(user, password) for password in passwords)


def holds_password(user: dict[str, Any], password: str) -> bool:
    """Whether a user from `GET /api/users/<name>` has this password."""
    return password_matches(password, str(user.get("password_hash", "")), str(user.get("hashing_algorithm", "")))


def generate_password() -> str:
    return "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(PASSWORD_LENGTH))


# RabbitMQ's internal password hashing: base64 of a 4-byte salt followed by
# hash(salt + UTF-8 password) (https://www.rabbitmq.com/docs/passwords, "Computing Password Hashes").
_HASHES = {
    "rabbit_password_hashing_sha256": hashlib.sha256,
    "rabbit_password_hashing_sha512": hashlib.sha512,
    "rabbit_password_hashing_md5": hashlib.md5,
}


def password_matches(password: str, password_hash: str, hashing_algorithm: str) -> bool:
    """Whether a user's stored hash (`GET /api/users/<name>`) is of this password: so the
    bootstrap changes nothing when the password is already right, and the rotation function
    can prove a password without logging in. False when unsure."""
    algorithm = _HASHES.get(hashing_algorithm)
    try:
        stored = base64.b64decode(password_hash, validate=True)
    except ValueError:
        return False
    if algorithm is None or len(stored) <= 4:
        return False
    salt, digest = stored[:4], stored[4:]
    return hmac.compare_digest(algorithm(salt + password.encode()).digest(), digest)
