"""A DynamoDB server with the idempotency table, for local mode: python scripts/local_dynamodb.py --help.

The code is rabbitmq_tools.local_dynamodb (moto's server; pip install -e '.[local]').
"""

from rabbitmq_tools.local_dynamodb import main

if __name__ == "__main__":
    raise SystemExit(main())
