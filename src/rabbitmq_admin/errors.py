"""The one exception type of the broker administration functions."""

from __future__ import annotations


class AdminError(Exception):
    """A fault the function cannot get past: its message is one line that names the cause and the
    fix. The Lambda handler lets it propagate (Lambda reports a FunctionError, so `terraform apply`
    stops before the event source mapping is created); the command line prints it and exits 1."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))  # one line, whatever a server put into it
