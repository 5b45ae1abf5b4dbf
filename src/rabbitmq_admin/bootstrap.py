"""Apply the topology and the users to a broker, through its management API, idempotently.

Each resource is read first and written only when it is missing or differs, so a second run
changes nothing and reports nothing. What cannot be changed in place (a queue's arguments, an
exchange's type) is never changed: a clash stops the run with the fix. Nor is a user that is
not ours (`users.made_by_us`): that is someone else's account, never ours to take over.

`prove` and `retire` serve a user's renaming (`bootstrap` below): the new user is proved on
the broker before its secret names it, and the old one is deleted only once the secret no
longer does, and only if it is ours.

`bootstrap` is the whole run of the bootstrap function (`bootstrap_handler`, which reads its
settings): a user's secret without a value gets a generated password, stored as {"username", "password"}
before any user has it; a stored password is kept, so a second run changes nothing. A secret
that names `<username>_clone` (or, for a `..._clone` username, the name without it) has been
rotated (`rotation`): it is kept as it is, and that user is the one made or corrected. Writing
the configured name back would change `<username>`'s password under whoever still holds the
previous version, the very moment alternating users avoid.

A secret that names another user (the user name changed in Terraform) is renamed in an order
that never lets it name a user the broker lacks: the new user is made with the secret's password,
its tags and permissions, and proved on the broker; then the secret names it; then the former
user and its `_clone`, if ours, are deleted. A run that fails half-way leaves the secret naming
a user that exists with that password, and the next run picks up where it stopped: it finds
the former user in the secret's AWSPREVIOUS version once the secret names the new one.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from . import shards
from .errors import AdminError
from .management import ManagementClient
from .policy import work_queue_policy
from .secrets_manager import SecretsManager, SecretValueNotFound, parse_credentials, read_credentials
from .topology import DEAD_LETTER_EXCHANGE_TYPE, QUEUE_ARGUMENTS, Topology
from .users import MARKER_TAG, User, alternate, generate_password, holds_password, made_by_us, marked, tags_of

if TYPE_CHECKING:
    from .bootstrap_handler import Settings

logger = logging.getLogger(__name__)

# The users the bootstrap makes, each with its secret; "monitoring" only with the metrics function.
ROLES = ("consumer", "publisher", "monitoring")


def apply(client: ManagementClient, topology: Topology, users: Sequence[User]) -> list[str]:
    """Create or update what differs; return one line per change (none: nothing changed)."""
    names = [user.name for user in users]
    # Rotation alternates each user with its `_clone`: a name that is another's alternate would
    # hand one role's password and permissions to the other.
    taken = names + [alternate(name) for name in names]
    if len(set(taken)) != len(taken):
        raise AdminError(
            f"the users {names} must have different names, none the `_clone` alternate of another: each one's "
            "permissions are its own"
        )
    changes: list[str] = []

    def changed(line: str) -> None:
        logger.info(line)
        changes.append(line)

    overview = client.get("overview") or {}  # also proves the URL and the credentials first
    vhost = topology.vhost
    on = f"on vhost {vhost!r}"
    if client.get("vhosts", vhost) is None:
        # A vhost made through the API grants its maker full permissions on it, as the
        # declarations below need.
        client.put("vhosts", vhost, body={"description": f"queue {topology.queue} and its dead-letter queue"})
        changed(f"created vhost {vhost!r}")

    exchange = topology.dead_letter_exchange
    existing = client.get("exchanges", vhost, exchange)
    if existing is None:
        body = {"type": DEAD_LETTER_EXCHANGE_TYPE, "durable": True, "auto_delete": False, "internal": False}
        client.put("exchanges", vhost, exchange, body={**body, "arguments": {}})
        changed(f"created exchange {exchange!r} ({DEAD_LETTER_EXCHANGE_TYPE}) {on}")
    elif existing.get("type") != DEAD_LETTER_EXCHANGE_TYPE or not existing.get("durable"):
        raise AdminError(
            f"exchange {exchange!r} {on} exists as a {'durable' if existing.get('durable') else 'transient'} "
            f"{existing.get('type')} exchange, not a durable {DEAD_LETTER_EXCHANGE_TYPE} one: delete exchange "
            f"{exchange!r} or choose another queue_name"
        )

    _declare_queue(client, topology, topology.dead_letter_queue, changed)
    if not client.get("bindings", vhost, "e", exchange, "q", topology.dead_letter_queue):
        client.post("bindings", vhost, "e", exchange, "q", topology.dead_letter_queue, body={"routing_key": ""})
        changed(f"bound queue {topology.dead_letter_queue!r} to exchange {exchange!r} {on}")

    # The policy before the work queue (or the shards): a queue never exists without its delivery limit.
    policies: list[dict[str, Any]] = client.get("policies", vhost) or []
    policy = work_queue_policy(topology, policies, str(overview.get("rabbitmq_version", "")))
    current = next((p for p in policies if p.get("name") == policy.name), None)
    if current is None or {key: current.get(key) for key in policy.body} != policy.body:
        client.put("policies", vhost, policy.name, body=policy.body)
        settings = ", ".join(f"{key} {value}" for key, value in policy.definition.items())
        changed(
            f"{'created' if current is None else 'updated'} policy {policy.name!r} {on} (priority {policy.priority}, "
            f"apply-to {policy.apply_to}): {settings}"
        )
    for queue in topology.queues:
        _declare_queue(client, topology, queue, changed)
    shards.apply(client, topology, overview, changed)

    for user in users:
        _apply_user(client, topology, user, changed)
    return changes


def _declare_queue(client: ManagementClient, topology: Topology, name: str, changed: Callable[[str], None]) -> None:
    on = f"on vhost {topology.vhost!r}"
    existing = client.get("queues", topology.vhost, name)
    if existing is None:
        client.put(
            "queues", topology.vhost, name, body={"durable": True, "auto_delete": False, "arguments": QUEUE_ARGUMENTS}
        )
        changed(f"created queue {name!r} (quorum) {on}")
        return
    # Arguments of an existing queue can never change; anything beyond its type (such as the
    # x-delivery-limit that earlier versions of send.py declared) would also outrank the policy.
    arguments = existing.get("arguments") or {}
    other = {key: value for key, value in arguments.items() if key != "x-queue-type"}
    if existing.get("type") != "quorum" or other or not existing.get("durable"):
        raise AdminError(
            f"queue {name!r} {on} exists as a {'durable' if existing.get('durable') else 'transient'} "
            f"{existing.get('type')} queue with arguments {arguments}, not a durable quorum queue with arguments "
            f"{QUEUE_ARGUMENTS}: delete queue {name!r} (its messages too) or choose another queue_name"
        )


def _apply_user(client: ManagementClient, topology: Topology, user: User, changed: Callable[[str], None]) -> None:
    if client.username in (user.name, alternate(user.name)):
        raise AdminError(
            f"the {user.role} user {user.name!r} is the admin user the bootstrap works as, or its `_clone` alternate "
            f"that rotation would use: choose another {user.role}_username"
        )
    existing = client.get("users", user.name)
    tags = marked(user.tags)
    if existing is not None and not made_by_us(existing, user.tags, (user.password,)):
        # Never take over, promote or demote a person's or a tool's account by accident.
        raise AdminError(
            f"user {user.name!r} exists without the tag {MARKER_TAG!r} of the users this bootstrap makes, and without "
            f"the password the {user.role} secret holds, so it is someone else's: choose another {user.role}_username, "
            "or delete that user"
        )
    if existing is None or tags_of(existing) != tags or not holds_password(existing, user.password):
        client.put("users", user.name, body={"password": user.password, "tags": ",".join(tags)})
        if existing is None:
            changed(f"created {user.role} user {user.name!r}")
        elif MARKER_TAG not in tags_of(existing):
            changed(f"adopted {user.role} user {user.name!r}, made before the {MARKER_TAG!r} tag: tagged it")
        else:
            changed(f"set the password and tags of {user.role} user {user.name!r}")
    wanted = {"configure": user.permissions.configure, "write": user.permissions.write, "read": user.permissions.read}
    current = client.get("permissions", topology.vhost, user.name) or {}
    if {key: current.get(key) for key in wanted} != wanted:
        client.put("permissions", topology.vhost, user.name, body=wanted)
        granted = ", ".join(f"{key} {value}" for key, value in wanted.items())
        changed(f"set the permissions of {user.role} user {user.name!r} on vhost {topology.vhost!r}: {granted}")


def prove(client: ManagementClient, user: User) -> None:
    """Check on the broker that the user exists, ours, with its password."""
    found = client.get("users", user.name)
    if found is None or MARKER_TAG not in tags_of(found) or not holds_password(found, user.password):
        raise AdminError(
            f"user {user.name!r} is not on the broker with the {MARKER_TAG!r} tag and the password its secret is "
            "about to hold, although the bootstrap has just set them: run the bootstrap again (terraform apply)"
        )


def adopt(client: ManagementClient, user: User, changed: Callable[[str], None]) -> None:
    """Tag a user made before the marker, if it holds `user.password`; its password stays."""
    found = client.get("users", user.name)
    if found is None or MARKER_TAG in tags_of(found) or not made_by_us(found, user.tags, (user.password,)):
        return
    client.put("users", user.name, body={"password": user.password, "tags": ",".join(marked(user.tags))})
    changed(f"adopted {user.role} user {user.name!r}, made before the {MARKER_TAG!r} tag: tagged it")


def retire(
    client: ManagementClient, user: User, names: Sequence[str], passwords: Sequence[str], changed: Callable[[str], None]
) -> None:
    """Delete the users of `user`'s role that have the role's former names, those that are ours
    (marked, or made before the marker with the role's tags and holding one of `passwords`).
    Another user of such a name is left alone, with a warning."""
    role = user.role
    for name in names:
        found = client.get("users", name)
        if found is None:
            continue
        if not made_by_us(found, user.tags, tuple(passwords)):
            logger.warning(
                "left user %r, a former %s user name: it is not one this bootstrap made; delete it if nothing uses it",
                name,
                role,
            )
            continue
        client.delete("users", name)
        changed(f"deleted user {name!r}, a former {role} user name")


def bootstrap(settings: Settings, secrets: SecretsManager, retry_for: float) -> dict[str, Any]:
    """Store the users' credentials where missing, apply the topology and the users, finish a
    renaming; return what changed. `retry_for`: how long to retry a broker not answering yet."""
    topology = settings.topology
    client = admin_client(secrets, settings.management_url, settings.admin_secret_arn, retry_for=retry_for)
    changes: list[str] = []

    def changed(line: str) -> None:
        logger.info(line)
        changes.append(line)

    arns, configured = settings.secret_arns, settings.usernames
    roles = list(arns)
    current = {role: stored_credentials(secrets, arns[role], configured[role], changed) for role in roles}
    previous = {role: previous_credentials(secrets, arns[role]) for role in roles}
    # The user each secret names, or will name: a rotated secret's user is kept.
    pairs = {role: (configured[role], alternate(configured[role])) for role in roles}
    users = {
        role: settings.user(
            role, value["username"] if value["username"] in pairs[role] else configured[role], value["password"]
        )
        for role, value in current.items()
    }
    changes += apply(client, topology, list(users.values()))
    keep = {name for user in users.values() for name in (user.name, alternate(user.name))}
    for role, user in users.items():
        value, before = current[role], previous[role]
        if value["username"] != user.name:
            # Renamed: the new user is on the broker with the secret's password (apply), proved
            # there before the secret names it; only then does the former user go.
            prove(client, user)
            secrets.put_secret_string(arns[role], json.dumps({**value, "username": user.name}))
            changed(f"stored user name {user.name!r} (was {value['username']!r}) in secret {arns[role]}")
        passwords = [value["password"], *([before["password"]] if before else [])]
        if before and before["username"] == alternate(user.name):
            adopt(client, settings.user(role, before["username"], before["password"]), changed)
        former = {
            name
            for found in (value, before)
            if found and found["username"] not in (user.name, alternate(user.name))
            for name in (found["username"], alternate(found["username"]))
        }
        retire(client, user, sorted(former - keep), passwords, changed)
    logger.info("queue %r on vhost %r: %d change(s)", topology.queue, topology.vhost, len(changes))
    return {
        "changed": bool(changes),
        "changes": changes,
        "vhost": topology.vhost,
        "queue": topology.queue,
        "queues": list(topology.queues),  # the consumed ones: the work queue, or the shards
        "exchange": topology.exchange,  # "" (the default exchange), or the shards' hash exchange
        "dead_letter_queue": topology.dead_letter_queue,
        "policy": topology.policy_name,
        "users": [user.name for user in users.values()],
    }


def admin_client(
    secrets: SecretsManager, management_url: str, admin_secret_arn: str, retry_for: float
) -> ManagementClient:
    """The management API as the broker's admin, whose credentials the admin secret holds."""
    admin_user, admin_password = read_credentials(secrets, admin_secret_arn, "admin")
    return ManagementClient(
        management_url,
        admin_user,
        admin_password,
        retry_for=retry_for,
        credentials_hint=f"the admin secret {admin_secret_arn} must hold the broker admin's user name and current "
        "password",
    )


def stored_credentials(
    secrets: SecretsManager, secret_arn: str, username: str, changed: Callable[[str], None]
) -> dict[str, Any]:
    """The value of the user's secret ({"username", "password"} and any other key), or, when it
    has none, a generated password for `username`, stored there first."""
    try:
        return parse_credentials(secrets.get_secret_string(secret_arn), secret_arn)
    except SecretValueNotFound:
        pass
    # Stored before any user has it: a run that fails later leaves a password that the next run
    # finds and gives the user, never a user whose password is nowhere. Nothing reads the secret
    # before the bootstrap has made its user: Terraform creates the mapping after the bootstrap.
    value = {"username": username, "password": generate_password()}
    secrets.put_secret_string(secret_arn, json.dumps(value))
    changed(f"stored a generated password for user {username!r} in secret {secret_arn}")
    return value


def previous_credentials(secrets: SecretsManager, secret_arn: str) -> dict[str, Any] | None:
    """The secret's AWSPREVIOUS value, if it has one that holds credentials: after a rotation the
    `_clone` alternate's, after a renaming the former user's."""
    try:
        text = secrets.get_secret_string(secret_arn, version_stage="AWSPREVIOUS")
    except SecretValueNotFound:
        return None
    try:
        return parse_credentials(text, secret_arn)
    except AdminError:  # not credentials: no user to find from it
        return None
