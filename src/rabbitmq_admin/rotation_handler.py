"""The Secrets Manager rotation function's entry point: `rabbitmq_admin.rotation_handler.lambda_handler`.

Secrets Manager invokes it once per rotation step of the users' secrets (Terraform's
credential_rotation.tf) with {"SecretId", "ClientRequestToken", "Step"}; `rotation.rotate` runs
the step. Its configuration is its environment (`config`): MANAGEMENT_URL (the broker's console
URL), ADMIN_SECRET_ARN (the admin's {"username", "password"}, read only) and what
`SecretsManager.from_environment` reads.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from .errors import AdminError
from .rotation import rotate
from .secrets_manager import SecretsManager

logger = logging.getLogger("rabbitmq_admin")
logger.setLevel(logging.INFO)  # Lambda's root logger passes WARNING and above only


def lambda_handler(event: dict[str, Any], context: Any) -> None:
    try:
        rotate(event, SecretsManager.from_environment(), os.environ)
    except AdminError as exc:
        logger.error("rotation failed: %s", exc)
        raise
