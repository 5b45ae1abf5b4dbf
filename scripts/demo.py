"""The whole pattern, locally, with no AWS account: python scripts/demo.py (or make demo).

The code is rabbitmq_tools.demo; installed, the same command is rabbitmq-demo.
"""

from rabbitmq_tools.demo import main

if __name__ == "__main__":
    raise SystemExit(main())
