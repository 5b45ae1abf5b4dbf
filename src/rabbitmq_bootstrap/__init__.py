"""The deploy-time broker bootstrap: it runs in AWS, as a Lambda function that Terraform invokes
before it creates the event source mapping, and on a laptop through `scripts/bootstrap.py`.

Through the RabbitMQ management HTTP API, as the broker's admin user, it applies the one
definition of the queue topology (`topology`), the policy that holds the delivery limit and
dead-lettering (`policy`), and the least-privilege consumer and publisher users (`users`);
`bootstrap.apply` does all of it, idempotently. `handler.lambda_handler` is the Lambda entry
point; it keeps the users' passwords in Secrets Manager (`secrets`).

Python's standard library only, and nothing from the other packages of the project: the
function's deployment package holds this package alone.
"""
