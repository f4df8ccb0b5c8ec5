"""Sage Intacct XML Web Services: client, function builders, typed results and errors.

The names below load on first use (PEP 562), so importing one submodule (`intacct.gate`,
`intacct.wire`, `intacct.errors`) does not import the client and with it requests and pydantic.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from intacct_sync.intacct.client import FieldInfo, IntacctClient, ItemTotal, SessionCache
    from intacct_sync.intacct.credentials import IntacctCredentials
    from intacct_sync.intacct.errors import (
        ErrorDetail,
        IntacctAlreadyExecuted,
        IntacctConfigurationError,
        IntacctFunctionError,
        IntacctOutcomeUnknown,
        IntacctPermanentError,
        IntacctRateLimited,
        IntacctRequestError,
        IntacctTransientError,
        IntacctUnavailable,
    )
    from intacct_sync.intacct.wire import Function, Record, Result

_SOURCE = {
    "FieldInfo": "client",
    "IntacctClient": "client",
    "ItemTotal": "client",
    "SessionCache": "client",
    "IntacctCredentials": "credentials",
    "ErrorDetail": "errors",
    "IntacctAlreadyExecuted": "errors",
    "IntacctConfigurationError": "errors",
    "IntacctFunctionError": "errors",
    "IntacctOutcomeUnknown": "errors",
    "IntacctPermanentError": "errors",
    "IntacctRateLimited": "errors",
    "IntacctRequestError": "errors",
    "IntacctTransientError": "errors",
    "IntacctUnavailable": "errors",
    "Function": "wire",
    "Record": "wire",
    "Result": "wire",
}


def __getattr__(name: str) -> Any:
    module = _SOURCE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_SOURCE})


__all__ = [
    "ErrorDetail",
    "FieldInfo",
    "Function",
    "IntacctAlreadyExecuted",
    "IntacctClient",
    "IntacctConfigurationError",
    "IntacctCredentials",
    "IntacctFunctionError",
    "IntacctOutcomeUnknown",
    "IntacctPermanentError",
    "IntacctRateLimited",
    "IntacctRequestError",
    "IntacctTransientError",
    "IntacctUnavailable",
    "ItemTotal",
    "Record",
    "Result",
    "SessionCache",
]
