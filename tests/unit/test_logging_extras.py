"""No log call passes a reserved LogRecord attribute in `extra`.

`logging` raises KeyError ("Attempt to overwrite 'created' in LogRecord") for such a key, but only
when the record is made, i.e. only when the level is enabled: tests that run at WARNING pass while
the same code crashes in Lambda at INFO. So every `extra={...}` literal is checked statically.
"""

from __future__ import annotations

import ast
import logging
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "layers" / "shared" / "intacct_sync"

# What Logger.makeRecord refuses: every attribute of a LogRecord, plus the two it fills in later.
RESERVED = frozenset(logging.LogRecord("n", logging.INFO, "p", 1, "m", None, None).__dict__) | {"message", "asctime"}


def _extra_keys(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, key) for each literal key of `extra={...}` or `extra=dict(key=...)` in a call."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        for kw in node.keywords:
            if kw.arg != "extra":
                continue
            value = kw.value
            if isinstance(value, ast.Dict):
                found += [
                    (k.lineno, k.value) for k in value.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)
                ]
            elif isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "dict":
                found += [(value.lineno, k.arg) for k in value.keywords if k.arg is not None]
    return found


def _offenders(root: Path) -> list[str]:
    offenders: list[str] = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        offenders += [f"{path.relative_to(root)}:{line} '{key}'" for line, key in _extra_keys(tree) if key in RESERVED]
    return offenders


def test_the_reserved_set_is_what_logging_really_refuses() -> None:
    logger = logging.getLogger("test_logging_extras")
    for key in ("created", "message", "asctime", "name", "msg", "args", "levelname", "module", "taskName"):
        assert key in RESERVED
        with pytest.raises(KeyError, match="Attempt to overwrite"):
            logger.makeRecord("n", logging.INFO, "f", 1, "m", (), None, extra={key: 1})


def test_the_scan_finds_a_reserved_key_in_a_dict_literal_and_in_dict_call() -> None:
    tree = ast.parse('log.info("x", extra={"created": 1, "fine": 2})\nlog.info("y", extra=dict(module="m"))\n')
    assert [k for _, k in _extra_keys(tree) if k in RESERVED] == ["created", "module"]


def test_the_scan_sees_the_package() -> None:
    # Guards against a moved package turning the main test into a silent pass.
    assert sum(len(_extra_keys(ast.parse(p.read_text(encoding="utf-8")))) for p in PACKAGE.rglob("*.py")) > 20


def test_no_extra_key_in_the_package_is_a_reserved_logrecord_attribute() -> None:
    offenders = _offenders(PACKAGE)
    assert not offenders, (
        "these log calls raise KeyError whenever their level is enabled; rename the keys: " + ", ".join(offenders)
    )
