"""Apply the queue topology and the least-privilege users to a broker: python scripts/bootstrap.py --help.

The code is rabbitmq_tools.bootstrap (which runs rabbitmq_admin, as the deployed Lambda
function does); installed, the same command is rabbitmq-bootstrap.
"""

from rabbitmq_tools.bootstrap import main

if __name__ == "__main__":
    raise SystemExit(main())
