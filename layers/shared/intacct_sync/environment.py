"""The environment variables template.yaml gives the functions, read once and validated."""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, field_validator

from intacct_sync.errors import ConfigurationError

MIN_RETENTION_DAYS = 365


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
    ledger_retention_days: int = 0
    """Days a finished ledger entry is kept after its last change (0: for ever); template
    parameter `LedgerRetentionDays`."""

    @field_validator("ledger_retention_days")
    @classmethod
    def _retention(cls, days: int) -> int:
        if days != 0 and days < MIN_RETENTION_DAYS:
            raise ValueError(
                f"LEDGER_RETENTION_DAYS is {days}: give 0 (keep the ledger for ever) or at least "
                f"{MIN_RETENTION_DAYS} days (the finance audit trail); set the stack parameter LedgerRetentionDays"
            )
        return days

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


def ledger_retention_days(environ: Mapping[str, str] | None = None) -> int:
    """LEDGER_RETENTION_DAYS alone, validated as `Environment` does (0 when unset): what the
    ledger needs when nobody hands it the figure."""
    env = os.environ if environ is None else environ
    value = env.get("LEDGER_RETENTION_DAYS")
    try:
        return Environment.load({"LEDGER_RETENTION_DAYS": value} if value else {}).ledger_retention_days
    except ValueError:  # pydantic's ValidationError is a ValueError
        raise ConfigurationError(
            f"Environment variable LEDGER_RETENTION_DAYS={value!r} is not valid: give 0 or a number of days "
            f"of at least {MIN_RETENTION_DAYS}.",
            fix="Set the stack parameter LedgerRetentionDays (sam deploy) or export a valid value locally.",
        ) from None
