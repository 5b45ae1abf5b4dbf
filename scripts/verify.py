"""Check a deployment end to end after terraform apply: python scripts/verify.py --help.

The code is rabbitmq_tools.verify; make verify runs it, and installed, the same command is rabbitmq-verify.
"""

from rabbitmq_tools.verify import main

if __name__ == "__main__":
    raise SystemExit(main())
