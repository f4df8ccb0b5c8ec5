"""Parser for the readByQuery SQL-like query text.

Grammar (keywords case-insensitive)::

    expr       := term (OR term)*
    term       := factor (AND factor)*
    factor     := NOT factor | '(' expr ')' | condition
    condition  := FIELD op literal
                | FIELD [NOT] LIKE string
                | FIELD [NOT] IN '(' literal (',' literal)* ')'
                | FIELD IS [NOT] NULL
    op         := = | != | <> | < | > | <= | >=
    literal    := 'string' | number

Inside a string literal ``\\'`` is an escaped quote; any other backslash is kept as is (so a
value ending in a backslash swallows the closing quote, as it does in Intacct).
"""

from __future__ import annotations

import re

from .errors import query_failed
from .filters import Node, resolve_field
from .objects import ObjectDef

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<str>')
      | (?P<num>[+-]?(?:\d+(?:\.\d*)?|\.\d+))(?![\w.])
      | (?P<op><=|>=|<>|!=|=|<|>)
      | (?P<punct>[(),])
      | (?P<word>[A-Za-z_][A-Za-z0-9_.]*)
    )""",
    re.VERBOSE,
)

KEYWORDS = {"AND", "OR", "NOT", "LIKE", "IN", "IS", "NULL"}
CMP = {"=": "eq", "!=": "ne", "<>": "ne", "<": "lt", ">": "gt", "<=": "le", ">=": "ge"}


def tokenize(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    i = 0
    n = len(text)
    while True:
        while i < n and text[i].isspace():
            i += 1
        if i >= n:
            return out
        m = _TOKEN.match(text, i)
        if m is None:
            raise query_failed(f"Invalid query near '{text[i : i + 20]}'", f"Query text: {text}")
        if m.group("str"):
            j = m.end()
            buf = []
            while True:
                if j >= n:
                    raise query_failed("Unterminated string literal in query", f"Query text: {text}")
                c = text[j]
                if c == "\\" and j + 1 < n and text[j + 1] == "'":
                    buf.append("'")
                    j += 2
                    continue
                if c == "'":
                    j += 1
                    break
                buf.append(c)
                j += 1
            out.append(("str", "".join(buf)))
            i = j
            continue
        kind = m.lastgroup or ""
        val = m.group(kind)
        if kind == "word" and val.upper() in KEYWORDS:
            out.append(("kw", val.upper()))
        else:
            out.append((kind, val))
        i = m.end()


class _Parser:
    def __init__(self, obj: ObjectDef, text: str) -> None:
        self.obj = obj
        self.text = text
        self.toks = tokenize(text)
        self.pos = 0

    def fail(self, msg: str) -> Exception:
        return query_failed(f"Invalid query: {msg}", f"Query text: {self.text}")

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.pos] if self.pos < len(self.toks) else None

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise self.fail("unexpected end of query")
        self.pos += 1
        return tok

    def accept(self, kind: str, val: str | None = None) -> bool:
        tok = self.peek()
        if tok and tok[0] == kind and (val is None or tok[1] == val):
            self.pos += 1
            return True
        return False

    def parse(self) -> Node | None:
        if not self.toks:
            return None
        node = self.expr()
        if self.peek() is not None:
            raise self.fail(f"unexpected '{self.peek()[1]}'")  # type: ignore[index]
        return node

    def expr(self) -> Node:
        nodes = [self.term()]
        while self.accept("kw", "OR"):
            nodes.append(self.term())
        return nodes[0] if len(nodes) == 1 else ("or", nodes)

    def term(self) -> Node:
        nodes = [self.factor()]
        while self.accept("kw", "AND"):
            nodes.append(self.factor())
        return nodes[0] if len(nodes) == 1 else ("and", nodes)

    def factor(self) -> Node:
        if self.accept("kw", "NOT"):
            return ("not", self.factor())
        if self.accept("punct", "("):
            node = self.expr()
            if not self.accept("punct", ")"):
                raise self.fail("missing ')'")
            return node
        return self.condition()

    def literal(self) -> str:
        kind, val = self.take()
        if kind not in ("str", "num"):
            raise self.fail(f"expected a quoted value or a number, got '{val}'")
        return val

    def condition(self) -> Node:
        kind, name = self.take()
        if kind != "word":
            raise self.fail(f"expected a field name, got '{name}'")
        f = resolve_field(self.obj, name)
        negate = self.accept("kw", "NOT")
        if self.accept("kw", "LIKE"):
            kind, val = self.take()
            if kind != "str":
                raise self.fail("LIKE needs a quoted pattern")
            return ("cmp", f, "notlike" if negate else "like", [val])
        if self.accept("kw", "IN"):
            if not self.accept("punct", "("):
                raise self.fail("IN needs a parenthesised list")
            vals = [self.literal()]
            while self.accept("punct", ","):
                vals.append(self.literal())
            if not self.accept("punct", ")"):
                raise self.fail("missing ')' after IN list")
            return ("cmp", f, "notin" if negate else "in", vals)
        if negate:
            raise self.fail("NOT must be followed by LIKE or IN here")
        if self.accept("kw", "IS"):
            neg = self.accept("kw", "NOT")
            if not self.accept("kw", "NULL"):
                raise self.fail("IS must be followed by [NOT] NULL")
            return ("cmp", f, "isnotnull" if neg else "isnull", [])
        kind, op = self.take()
        if kind != "op":
            raise self.fail(f"expected a comparison operator after {name}, got '{op}'")
        return ("cmp", f, CMP[op], [self.literal()])


def parse_query(obj: ObjectDef, text: str) -> Node | None:
    """Parse readByQuery text; None means "no condition" (empty query returns everything)."""
    return _Parser(obj, text or "").parse()
