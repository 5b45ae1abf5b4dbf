"""Run the Lambda handler on a queue as Lambda's event source mapping would: --help says how.

The code is rabbitmq_tools.local_event_source_mapping; installed, the same command is rabbitmq-local-mapping.
"""

from rabbitmq_tools.local_event_source_mapping import main

if __name__ == "__main__":
    raise SystemExit(main())
