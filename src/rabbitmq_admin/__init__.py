"""What runs in AWS as the broker's administrator, through the RabbitMQ management HTTP API:
three Lambda functions built from this one package.

- `bootstrap_handler`: at deploy time (Terraform invokes it before it creates the event source
  mapping), and on a laptop through `scripts/bootstrap.py`, it applies the one definition of
  the queue topology (`topology`), the policy that holds the delivery limit and dead-lettering
  (`policy`), and the least-privilege users (`users`); `bootstrap.apply` does it idempotently.
- `rotation_handler`: the Secrets Manager rotation function of the users' secrets (alternating
  users, `rotation`); with Terraform's credential rotation only.
- `metrics_handler`: every minute, the work and dead-letter queues' depth, consumers and rates as
  CloudWatch metrics, on every engine version (`metrics`); with Terraform's monitoring only.

Each function's entry point and settings are in its `<name>_handler` module, what it does in
`<name>`.

Python's standard library and the boto3 that every Lambda Python runtime includes (imported
when Secrets Manager is first called), nothing from the other packages of the project: the
functions' deployment package holds this package alone. Secrets Manager is reached through
`secrets_manager`, the management API through `management`; the functions read their
configuration from their environment only (`config`).
"""
