"""Exceptions that map onto the three failure levels of an Intacct response.

- ControlError: `/response/errormessage`, nothing ran (bad XML, schema, sender credentials).
- AuthError: `/response/operation/errormessage`, no function ran (login, session, entity).
- FunctionError: `result/errormessage` of one function.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Self


@dataclass
class ErrorDetail:
    errorno: str
    description: str | None = None
    description2: str | None = None
    correction: str | None = None


@dataclass
class SandboxError(Exception):
    errors: list[ErrorDetail] = field(default_factory=list)

    @classmethod
    def one(
        cls,
        errorno: str,
        description: str | None = None,
        description2: str | None = None,
        correction: str | None = None,
    ) -> Self:
        return cls([ErrorDetail(errorno, description, description2, correction)])

    def __str__(self) -> str:
        return "; ".join(f"{e.errorno}: {e.description} {e.description2 or ''}".strip() for e in self.errors)


class ControlError(SandboxError):
    """Control-level failure: the whole request is refused."""


class AuthError(SandboxError):
    """Authentication failure inside <operation>."""


class FunctionError(SandboxError):
    """Failure of one <function>."""


def schema_error(detail: str) -> ControlError:
    return ControlError.one(
        "XL03000003",
        f"XML Parse schema error: {detail}",
        None,
        "Fix the request so that it follows the Intacct DTD/XSD (element names and order).",
    )


def bl_error(description: str, description2: str | None = None, correction: str | None = None) -> FunctionError:
    """The generic business-logic failure Intacct uses for most create/update rule violations."""
    return FunctionError.one("BL01001973", description, description2, correction)


def query_failed(description: str, description2: str | None = None) -> FunctionError:
    return FunctionError.one("Query Failed", description, description2, None)
