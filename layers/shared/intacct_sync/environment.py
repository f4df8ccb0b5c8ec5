"""The environment variables template.yaml gives the functions, read once and validated."""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict

from intacct_sync.errors import ConfigurationError


class Environment(BaseModel):
    model_config = ConfigDict(frozen=True)

    stage: str = "local"
    orders_queue_url: str | None = None
    payments_queue_url: str | None = None
    orders_dlq_url: str | None = None
    payments_dlq_url: str | None = None
    claim_check_bucket: str | None = None
    state_table: str | None = None
    connection_secret_prefix: str = "intacct-sync/local/connections/"  # noqa: S105 - a name, not a secret
    intacct_secret_arn: str | None = None
    settings_parameter: str | None = None
    intacct_max_concurrency: int = 2

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None) -> Environment:
        env = os.environ if environ is None else environ
        values = {name: env[name.upper()] for name in cls.model_fields if env.get(name.upper())}
        return cls.model_validate(values)

    def require(self, *names: str) -> None:
        """Raise a ConfigurationError naming every missing variable."""
        missing = [n.upper() for n in names if not getattr(self, n)]
        if missing:
            raise ConfigurationError(
                f"Environment variable(s) {', '.join(missing)} not set.",
                fix="template.yaml sets them: redeploy the stack (sam deploy), or export them locally.",
            )
