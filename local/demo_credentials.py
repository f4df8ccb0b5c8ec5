"""The local stand-in for the Intacct credentials secret (same keys as in Secrets Manager)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CREDENTIALS_FILE = Path(__file__).parent / "config" / "intacct-credentials.json"


def sandbox_credentials() -> dict[str, Any]:
    """The secret's JSON for the sandbox's demo company (endpoint_url is filled in at start)."""
    data: dict[str, Any] = json.loads(CREDENTIALS_FILE.read_text())
    return data
