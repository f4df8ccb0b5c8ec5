"""A small GraphQL parser (queries, mutations, variables, aliases, fragments, directives).

Enough of the spec for the documents an Admin API client sends; no subscriptions, no schema
introspection. Parse errors raise `GraphQLSyntaxError` with the position, like a real server.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

_TOKEN = re.compile(
    r"""
    (?P<ws>[\s,\ufeff]+|\#[^\n\r]*)
  | (?P<block>\"\"\"(?:\\\"\"\"|[^\"]|\"(?!\"\"))*\"\"\")
  | (?P<string>"(?:\\.|[^"\\\n\r])*")
  | (?P<number>-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)
  | (?P<name>[_A-Za-z][_0-9A-Za-z]*)
  | (?P<spread>\.\.\.)
  | (?P<punct>[!$&()\:=@\[\]{|}])
    """,
    re.VERBOSE,
)


class GraphQLSyntaxError(Exception):
    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(message)
        self.line, self.column = line, column


@dataclass(frozen=True)
class Var:
    name: str


@dataclass(frozen=True)
class Enum:
    name: str


@dataclass
class Field:
    name: str
    alias: str | None
    args: dict[str, Any]
    directives: list[tuple[str, dict[str, Any]]]
    selections: list[Any] | None
    line: int
    column: int

    @property
    def key(self) -> str:
        return self.alias or self.name


@dataclass
class InlineFragment:
    type_condition: str | None
    selections: list[Any]


@dataclass
class FragmentSpread:
    name: str


@dataclass
class Operation:
    kind: str  # query | mutation
    name: str | None
    variables: dict[str, tuple[str, Any]]  # name -> (type text, default value or None)
    selections: list[Any]


@dataclass
class Document:
    operations: list[Operation] = field(default_factory=list)
    fragments: dict[str, tuple[str, list[Any]]] = field(default_factory=dict)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[tuple[str, str, int]] = []
        pos = 0
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if m is None:
                line, col = self._loc(pos)
                raise GraphQLSyntaxError(f'Parse error on "{text[pos]}" at [{line}, {col}]', line, col)
            kind = m.lastgroup or ""
            if kind != "ws":
                self.tokens.append((kind, m.group(), pos))
            pos = m.end()
        self.i = 0

    def _loc(self, pos: int) -> tuple[int, int]:
        line = self.text.count("\n", 0, pos) + 1
        col = pos - (self.text.rfind("\n", 0, pos) + 1) + 1
        return line, col

    def peek(self) -> tuple[str, str, int] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def error(self, what: str = "") -> GraphQLSyntaxError:
        tok = self.peek()
        if tok is None:
            line, col = self._loc(len(self.text))
            return GraphQLSyntaxError(f"Parse error on end of input{what}", line, col)
        line, col = self._loc(tok[2])
        return GraphQLSyntaxError(f'Parse error on "{tok[1]}" ({tok[0].upper()}) at [{line}, {col}]{what}', line, col)

    def next(self) -> tuple[str, str, int]:
        tok = self.peek()
        if tok is None:
            raise self.error()
        self.i += 1
        return tok

    def expect(self, value: str) -> tuple[str, str, int]:
        tok = self.peek()
        if tok is None or tok[1] != value or tok[0] in ("string", "block"):
            raise self.error()
        self.i += 1
        return tok

    def accept(self, value: str) -> bool:
        tok = self.peek()
        if tok is not None and tok[1] == value and tok[0] in ("punct", "spread"):
            self.i += 1
            return True
        return False

    def name(self) -> str:
        tok = self.next()
        if tok[0] != "name":
            self.i -= 1
            raise self.error()
        return tok[1]

    # ---- document ----
    def document(self) -> Document:
        doc = Document()
        if not self.tokens:
            raise self.error()
        while self.peek() is not None:
            tok = self.peek()
            assert tok is not None
            if tok[1] == "{":
                doc.operations.append(Operation("query", None, {}, self.selection_set()))
            elif tok[1] in ("query", "mutation"):
                doc.operations.append(self.operation())
            elif tok[1] == "fragment":
                self.next()
                fname = self.name()
                if self.name() != "on":
                    self.i -= 1
                    raise self.error()
                tname = self.name()
                doc.fragments[fname] = (tname, self.selection_set())
            else:
                raise self.error()
        return doc

    def operation(self) -> Operation:
        kind = self.next()[1]
        name = None
        tok = self.peek()
        if tok is not None and tok[0] == "name":
            name = self.name()
        variables: dict[str, tuple[str, Any]] = {}
        if self.accept("("):
            while not self.accept(")"):
                self.expect("$")
                vname = self.name()
                self.expect(":")
                vtype = self.type_ref()
                default = None
                if self.accept("="):
                    default = self.value(const=True)
                variables[vname] = (vtype, default)
                self.directives()
        self.directives()
        return Operation(kind, name, variables, self.selection_set())

    def type_ref(self) -> str:
        if self.accept("["):
            inner = self.type_ref()
            self.expect("]")
            text = f"[{inner}]"
        else:
            text = self.name()
        if self.accept("!"):
            text += "!"
        return text

    def directives(self) -> list[tuple[str, dict[str, Any]]]:
        out = []
        while self.accept("@"):
            dname = self.name()
            out.append((dname, self.arguments()))
        return out

    def arguments(self) -> dict[str, Any]:
        args: dict[str, Any] = {}
        if self.accept("("):
            while not self.accept(")"):
                aname = self.name()
                self.expect(":")
                args[aname] = self.value()
        return args

    def selection_set(self) -> list[Any]:
        self.expect("{")
        out: list[Any] = []
        while not self.accept("}"):
            if self.accept("..."):
                tok = self.peek()
                if tok is not None and tok[1] == "on":
                    self.next()
                    tname = self.name()
                    self.directives()
                    out.append(InlineFragment(tname, self.selection_set()))
                elif tok is not None and tok[1] == "{":
                    out.append(InlineFragment(None, self.selection_set()))
                else:
                    fname = self.name()
                    self.directives()
                    out.append(FragmentSpread(fname))
                continue
            tok = self.peek()
            if tok is None:
                raise self.error()
            line, col = self._loc(tok[2])
            first = self.name()
            alias, fname = None, first
            if self.accept(":"):
                alias, fname = first, self.name()
            args = self.arguments()
            dirs = self.directives()
            sels = None
            nxt = self.peek()
            if nxt is not None and nxt[1] == "{":
                sels = self.selection_set()
            out.append(Field(fname, alias, args, dirs, sels, line, col))
        if not out:
            raise self.error()
        return out

    def value(self, const: bool = False) -> Any:
        tok = self.next()
        kind, text = tok[0], tok[1]
        if kind == "punct" and text == "$" and not const:
            return Var(self.name())
        if kind == "number":
            return float(text) if any(c in text for c in ".eE") else int(text)
        if kind == "string":
            return json.loads(text)
        if kind == "block":
            return text[3:-3].replace('\\"""', '"""').strip()
        if kind == "name":
            if text == "true":
                return True
            if text == "false":
                return False
            if text == "null":
                return None
            return Enum(text)
        if text == "[":
            items = []
            while not self.accept("]"):
                items.append(self.value(const))
            return items
        if text == "{":
            obj: dict[str, Any] = {}
            while not self.accept("}"):
                k = self.name()
                self.expect(":")
                obj[k] = self.value(const)
            return obj
        self.i -= 1
        raise self.error()


def parse(text: str) -> Document:
    return _Parser(text).document()


def resolve_value(value: Any, variables: dict[str, Any]) -> Any:
    """Substitute variables; enums become plain strings."""
    if isinstance(value, Var):
        return variables.get(value.name)
    if isinstance(value, Enum):
        return value.name
    if isinstance(value, list):
        return [resolve_value(v, variables) for v in value]
    if isinstance(value, dict):
        return {k: resolve_value(v, variables) for k, v in value.items()}
    return value
