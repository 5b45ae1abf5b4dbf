"""The project's tooling: it runs on a laptop or in CI, never in AWS.

Publishing (`send`, `replay`), a local stand-in for Lambda's RabbitMQ event source mapping
(`local_event_source_mapping`, with `lambda_event` building the events), the broker bootstrap
from the command line (`bootstrap`), the local demo (`demo`, with the example's messages and
expectations in `demo_messages`), the check of a live deployment (`verify`), and the libraries
they share (`broker`, `publisher`, `credentials`, `project`). The Lambda functions are the
packages beside this one: `rabbitmq_consumer`, the consumer, and `rabbitmq_admin`, the bootstrap,
metrics and rotation functions (whose topology and bootstrap the tools use); neither imports
anything from here, and each deployment package holds only its own package.
"""
