"""Sage Intacct XML Web Services: client, function builders, typed results and errors."""

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
