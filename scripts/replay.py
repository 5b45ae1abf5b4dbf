"""Publish dead letters back to the work queue: python scripts/replay.py --help.

The code is rabbitmq_tools.replay; installed, the same command is rabbitmq-replay.
"""

from rabbitmq_tools.replay import main

if __name__ == "__main__":
    raise SystemExit(main())
