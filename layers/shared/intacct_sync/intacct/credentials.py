"""The Intacct credentials secret: `{sender_id, sender_password, company_id, user_id,
user_password, entity_id?, endpoint_url?}`, validated with errors that name the key to fix."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

from intacct_sync.errors import ConfigurationError

DEFAULT_ENDPOINT = "https://api.intacct.com/ia/xml/xmlgw.phtml"
_PLAIN_URL = re.compile(r"[!-~]+")  # printable ASCII, no space or control characters

_KEY_HELP = {
    "sender_id": "the Web Services sender ID (developer license)",
    "sender_password": "the sender password that came with the sender ID",
    "company_id": "the Intacct company ID you sign in to",
    "user_id": "the Web Services user ID (Company > Admin > Web Services users)",
    "user_password": "the Web Services user's password (from Intacct's welcome email)",
    "entity_id": "optional: the entity ID for a multi-entity company; omit for the top level",
    "endpoint_url": f"optional: the XML gateway URL, default {DEFAULT_ENDPOINT}",
}


class IntacctCredentials(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    sender_id: str = Field(min_length=1)
    sender_password: SecretStr
    company_id: str = Field(min_length=1)
    user_id: str = Field(min_length=1)
    user_password: SecretStr
    entity_id: str | None = None
    endpoint_url: str = DEFAULT_ENDPOINT

    @field_validator("entity_id")
    @classmethod
    def _blank_entity_is_top_level(cls, v: str | None) -> str | None:
        return v or None

    @field_validator("endpoint_url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.scheme not in ("https", "http") or not parts.netloc:
            raise ValueError("must be an http(s) URL")
        # The client compares session endpoints with this URL and sends passwords to it, so it must
        # read the same to urllib3 (which connects) as to urlsplit: no userinfo, backslashes,
        # spaces, control or non-ASCII characters.
        if not _PLAIN_URL.fullmatch(v) or "@" in v or "\\" in v:
            raise ValueError("must be a plain http(s) URL (no user info, spaces, backslashes or non-ASCII)")
        try:
            lib = parse_url(v)
            same = (lib.host or "").lower() == (parts.hostname or "").lower() and lib.port == parts.port
        except (LocationParseError, ValueError):
            same = False
        if not same:
            raise ValueError("must be a plain http(s) URL with a valid host and port")
        return v

    @classmethod
    def from_secret(
        cls, raw: str | bytes | Mapping[str, Any], *, source: str = "the Intacct secret"
    ) -> IntacctCredentials:
        """Validate the secret's JSON; a `ConfigurationError` names every bad key and what it holds."""
        try:
            data = json.loads(raw) if isinstance(raw, (str, bytes)) else dict(raw)
        except json.JSONDecodeError as exc:
            raise ConfigurationError(
                f"{source} is not valid JSON (line {exc.lineno}, column {exc.colno}).",
                fix='Store it as a JSON object: {"sender_id": ..., "sender_password": ..., ...}.',
            ) from None
        if not isinstance(data, dict):
            raise ConfigurationError(f"{source} must be a JSON object.", fix="See README 'Intacct setup'.")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            problems = []
            for err in exc.errors():
                key = ".".join(str(p) for p in err["loc"]) or "(root)"
                what = "unknown key (check its spelling)" if err["type"] == "extra_forbidden" else err["msg"]
                hint = _KEY_HELP.get(key)
                problems.append(f"'{key}': {what}" + (f" - expected {hint}" if hint else ""))
            raise ConfigurationError(
                f"{source} is invalid: " + "; ".join(problems) + ".",
                fix="Edit the secret in Secrets Manager (README 'Intacct setup' lists every key).",
            ) from None
