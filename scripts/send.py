"""Publish test messages to the deployed broker, or to any RabbitMQ: python scripts/send.py --help.

The code is rabbitmq_tools.send; installed, the same command is rabbitmq-send.
"""

from rabbitmq_tools.send import main

if __name__ == "__main__":
    raise SystemExit(main())
