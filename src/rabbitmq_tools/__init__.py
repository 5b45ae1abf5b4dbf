"""The project's tooling: it runs on a laptop or in CI, never in AWS.

Publishing (`send`, `replay`), a local stand-in for Lambda's RabbitMQ event source mapping
(`local_event_source_mapping`, with `lambda_event` building the events), the broker bootstrap
from the command line (`bootstrap`), the local demo, and the libraries they share (`broker`,
`publisher`). The two Lambda functions are the packages beside this one, `rabbitmq_consumer`
and `rabbitmq_admin` (whose topology and bootstrap the tools use); neither imports
anything from here, and each deployment package holds only its own package.
"""
