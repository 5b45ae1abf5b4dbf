"""A handler for the interruption tests: it marks that a batch is in flight, then takes long."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    Path(os.environ["SLOW_HANDLER_MARKER"]).touch()
    time.sleep(60)
    return {}
