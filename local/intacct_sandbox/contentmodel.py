"""A tiny DTD content-model validator.

Content models are written in DTD syntax (``a, b?, (c | d)*, e+``) and checked against the
sequence of child element names. On a mismatch we report the element where matching stopped,
the way libxml2 does for Intacct's legacy (order-sensitive) functions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from xml.etree.ElementTree import Element

from .errors import schema_error

ANY = "ANY"

Node = tuple[Any, ...]  # ("name", str) | ("seq", list) | ("alt", list) | ("opt"|"star"|"plus", node)

_TOKEN = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_.\-]*|[(),|?*+])")


def parse_model(text: str) -> Node:
    tokens = _TOKEN.findall(text)
    pos = 0

    def peek() -> str | None:
        return tokens[pos] if pos < len(tokens) else None

    def take() -> str:
        nonlocal pos
        tok: str = tokens[pos]
        pos += 1
        return tok

    def parse_list() -> Node:
        items = [parse_item()]
        sep = None
        while peek() in (",", "|"):
            s = take()
            if sep is not None and s != sep:
                raise ValueError(f"mixed separators in content model: {text}")
            sep = s
            items.append(parse_item())
        if len(items) == 1:
            return items[0]
        return ("seq" if sep == "," else "alt", items)

    def parse_item() -> Node:
        tok = take()
        if tok == "(":
            node = parse_list()
            if take() != ")":
                raise ValueError(f"unbalanced content model: {text}")
        else:
            node = ("name", tok)
        suffix = peek()
        if suffix == "?":
            take()
            return ("opt", node)
        if suffix == "*":
            take()
            return ("star", node)
        if suffix == "+":
            take()
            return ("plus", node)
        return node

    node = parse_list()
    if pos != len(tokens):
        raise ValueError(f"trailing tokens in content model: {text}")
    return node


@dataclass
class _Matcher:
    tokens: list[str]
    furthest: int = 0

    def run(self, node: Node, starts: set[int]) -> set[int]:
        kind = node[0]
        out: set[int] = set()
        if kind == "name":
            for i in starts:
                if i < len(self.tokens) and self.tokens[i] == node[1]:
                    out.add(i + 1)
        elif kind == "seq":
            cur = starts
            for child in node[1]:
                cur = self.run(child, cur)
                if not cur:
                    break
            out = cur
        elif kind == "alt":
            for child in node[1]:
                out |= self.run(child, starts)
        elif kind == "opt":
            out = set(starts) | self.run(node[1], starts)
        elif kind in ("star", "plus"):
            first = self.run(node[1], starts)
            out = set(first) if kind == "plus" else set(starts) | first
            frontier = first
            while frontier:
                nxt = self.run(node[1], frontier) - out
                out |= nxt
                frontier = nxt
        if out:
            self.furthest = max(self.furthest, *out)
        return out


def _render(node: Node) -> str:
    kind = node[0]
    if kind == "name":
        return str(node[1])
    if kind in ("seq", "alt"):
        sep = " , " if kind == "seq" else " | "
        return "(" + sep.join(_render(c) for c in node[1]) + ")"
    suffix = {"opt": "?", "star": "*", "plus": "+"}[kind]
    return _render(node[1]) + suffix


class ContentModels:
    """A set of element models; elements without a model must be text-only (#PCDATA)."""

    def __init__(self, models: dict[str, str]) -> None:
        self.models: dict[str, Node | str] = {
            name: (ANY if text == ANY else parse_model(text)) for name, text in models.items()
        }

    def validate(self, elem: Element, path: str = "") -> None:
        where = f"{path}/{elem.tag}" if path else elem.tag
        model = self.models.get(elem.tag)
        children = list(elem)
        if model == ANY:
            return
        if model is None:
            if children:
                raise schema_error(
                    f"Element '{where}': element '{children[0].tag}' is not expected; '{elem.tag}' holds text only."
                )
            return
        assert isinstance(model, tuple)
        names = [c.tag for c in children]
        matcher = _Matcher(names)
        ends = matcher.run(model, {0})
        if len(names) not in ends:
            got = " ".join(names)
            if matcher.furthest < len(names):
                bad = names[matcher.furthest]
                prev = names[matcher.furthest - 1] if matcher.furthest else None
                after = f" after '{prev}'" if prev else " as the first child"
                problem = f"element '{bad}' is not expected here{after}"
            else:
                problem = "a required element is missing at the end"
            raise schema_error(
                f"Element {elem.tag} content does not follow the DTD, expecting {_render(model)}, "
                f"got ({got}) — in '{where}': {problem}."
            )
        for child in children:
            self.validate(child, where)
