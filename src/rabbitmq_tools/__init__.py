"""The project's tooling: it runs on a laptop or in CI, never in AWS.

Publishing (`send`, `replay`), a local stand-in for Lambda's RabbitMQ event source mapping
(`local_event_source_mapping`, with `lambda_event` building the events), the local demo, and
the libraries they share (`broker`, `topology`, `publisher`). The Lambda function is the
`rabbitmq_consumer` package beside this one; it imports nothing from here, and its
deployment package holds only itself.
"""
