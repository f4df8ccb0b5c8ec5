"""Every key an operator sets is documented (issue #11 point 5).

The key lists come from the code, never from a list kept here: the fields of the settings model
(`intacct_sync.settings.Settings`, recursively: sections, nested objects, the values of maps and
the elements of lists such as rules), of the connection secret (`Connection`), of the Intacct
credentials secret (`IntacctCredentials`), and the keys the shipped `default_settings.json`
uses. A key added to any of them without documentation fails here.

"Documented" means the key appears in backticks in docs/settings.md (the full reference) or, for
the two secrets, in docs/settings.md or the README: `` `key` `` itself, or as one part of a
dotted path (`` `stock.source.kind` `` documents `source` and `kind`). A key of a settings
section that only one place uses must also appear under its full path (`` `stock.source.kind` ``),
so a table row names it; the keys of a shape used in several places (a numbering, a payment
method, a SKU pattern, a rule) are documented once by name.
"""

from __future__ import annotations

import json
import re
import types
import typing
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Union

from pydantic import BaseModel

from intacct_sync import settings as settings_module
from intacct_sync.intacct.credentials import IntacctCredentials
from intacct_sync.models.connection import Connection
from intacct_sync.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
SETTINGS_DOC = ROOT / "docs" / "settings.md"
README = ROOT / "README.md"
DEFAULT_SETTINGS_FILE = Path(settings_module.__file__).with_name("default_settings.json")

# A key path as docs write it: `a`, `a.b`, `a[].b`, `a.<id>.b`.
_KEY_PATH = re.compile(r"[A-Za-z_]\w*(?:\[\])?(?:\.(?:<[^<>`]+>|[A-Za-z_]\w*(?:\[\])?))*")


def _spans(text: str) -> set[str]:
    """Every backticked span of `text` that reads as a key or a dotted key path."""
    return {s for s in re.findall(r"`([^`\n]+)`", text) if _KEY_PATH.fullmatch(s)}


def _names(text: str) -> set[str]:
    """The key names the backticked key paths of `text` mention (each dotted part)."""
    return {part.removesuffix("[]") for span in _spans(text) for part in span.split(".")}


# --- the keys, from the models --------------------------------------------------------------


@dataclass(frozen=True)
class Key:
    path: str
    """Dotted path: `stock.source.kind`; a map's keys are `<key>`, a list's elements `[]`."""
    name: str
    owner: type[BaseModel]
    plain: bool
    """Reached through nested objects only (no map key, no list element)."""
    models: tuple[type[BaseModel], ...]
    """The models on the way from the root to the key's owner."""


def _unwrap(tp: Any) -> list[Any]:
    origin = typing.get_origin(tp)
    if origin is Annotated:
        return _unwrap(typing.get_args(tp)[0])
    if origin in (Union, types.UnionType):
        return [t for arg in typing.get_args(tp) for t in _unwrap(arg)]
    return [tp]


def _nested(tp: Any, path: str, plain: bool) -> Iterator[tuple[type[BaseModel], str, bool]]:
    """The models a field's type holds: directly, as list/set elements or as map values."""
    for t in _unwrap(tp):
        origin = typing.get_origin(t)
        if isinstance(t, type) and issubclass(t, BaseModel):
            yield t, path, plain
        elif origin in (tuple, list, set, frozenset):
            for arg in typing.get_args(t):
                if arg is not Ellipsis:
                    yield from _nested(arg, f"{path}[]", False)
        elif origin is dict:
            yield from _nested(typing.get_args(t)[1], f"{path}.<key>", False)


def model_keys(
    model: type[BaseModel], path: str = "", plain: bool = True, models: tuple[type[BaseModel], ...] = ()
) -> list[Key]:
    """Every field of `model` and of the models its fields hold, recursively."""
    keys: list[Key] = []
    chain = (*models, model)
    for name, field in model.model_fields.items():
        here = f"{path}.{name}" if path else name
        keys.append(Key(here, name, model, plain, chain))
        for sub, sub_path, sub_plain in _nested(field.annotation, here, plain):
            if sub in chain:  # a recursive model: its keys are listed already
                continue
            keys.extend(model_keys(sub, sub_path, sub_plain, chain))
    return keys


def default_settings_keys() -> list[str]:
    """The settings keys default_settings.json uses, walked along the model: the keys of a map
    (gateway names, SKUs) are data, not settings keys, and are left out."""
    data = json.loads(DEFAULT_SETTINGS_FILE.read_text(encoding="utf-8"))
    found: list[str] = []

    def walk(value: Any, tp: Any, path: str) -> None:
        for t in _unwrap(tp):
            origin = typing.get_origin(t)
            if isinstance(t, type) and issubclass(t, BaseModel) and isinstance(value, dict):
                for key, item in value.items():
                    here = f"{path}.{key}" if path else key
                    found.append(here)
                    field = t.model_fields.get(key)
                    if field is not None:
                        walk(item, field.annotation, here)
            elif origin in (tuple, list) and isinstance(value, list):
                args = [a for a in typing.get_args(t) if a is not Ellipsis]
                for item in value:
                    for arg in args:
                        walk(item, arg, f"{path}[]")
            elif origin is dict and isinstance(value, dict):
                for item in value.values():
                    walk(item, typing.get_args(t)[1], f"{path}.<key>")

    walk(data, Settings, "")
    return found


SETTINGS_KEYS = model_keys(Settings)


# --- the tests ------------------------------------------------------------------------------


def test_the_key_lists_come_from_the_code() -> None:
    paths = {k.path for k in SETTINGS_KEYS}
    # Spot checks that the walk reaches every kind of nesting; the lists themselves are the models'.
    assert {"customer.match", "stock.source.kind", "writeback.shopify_metafield.namespace"} <= paths
    assert {"items.overrides.<key>.sku_map", "stock.connections.<key>.locations"} <= paths  # map values
    assert {"rules[].when.order_total.min", "rules[].set.warehouse_id", "units.by_sku[].unit"} <= paths  # lists
    assert {"store", "webhook_secret", "api_base_url", "placed_statuses"} <= set(Connection.model_fields)
    assert {"sender_id", "endpoint_url"} <= set(IntacctCredentials.model_fields)
    assert "payments.gateways.<key>.payment_method" in default_settings_keys()


def test_every_settings_key_is_documented_in_settings_md() -> None:
    documented = _names(SETTINGS_DOC.read_text(encoding="utf-8"))
    missing = [k.path for k in SETTINGS_KEYS if k.name not in documented]
    assert not missing, f"settings keys not documented in docs/settings.md (as `key`): {missing}"


def test_section_keys_are_documented_under_their_full_path() -> None:
    """A key reached through sections only (no map, no list) whose shape no other place uses
    gets its own row: `stock.shopify.reason`, not just `reason` somewhere."""
    places = Counter(owner for owner, _ in {(k.owner, k.path[: -len(k.name)]) for k in SETTINGS_KEYS})
    spans = _spans(SETTINGS_DOC.read_text(encoding="utf-8"))
    missing = [
        k.path for k in SETTINGS_KEYS if k.plain and all(places[m] == 1 for m in k.models) and k.path not in spans
    ]
    assert not missing, f"settings keys without their full path in docs/settings.md: {missing}"


def test_every_key_of_the_shipped_defaults_is_a_documented_settings_key() -> None:
    known = {k.path for k in SETTINGS_KEYS}
    documented = _names(SETTINGS_DOC.read_text(encoding="utf-8"))
    unknown = [p for p in default_settings_keys() if p not in known]
    assert not unknown, f"default_settings.json keys the settings model does not have: {unknown}"
    missing = [p for p in default_settings_keys() if p.rsplit(".", 1)[-1].removesuffix("[]") not in documented]
    assert not missing, f"default_settings.json keys not documented in docs/settings.md: {missing}"


def test_every_connection_secret_key_is_documented() -> None:
    documented = _names(SETTINGS_DOC.read_text(encoding="utf-8")) | _names(README.read_text(encoding="utf-8"))
    missing = [name for name in Connection.model_fields if name not in documented]
    assert not missing, f"connection secret keys not documented in docs/settings.md or README.md: {missing}"


def test_every_intacct_credentials_key_is_documented() -> None:
    documented = _names(SETTINGS_DOC.read_text(encoding="utf-8")) | _names(README.read_text(encoding="utf-8"))
    missing = [name for name in IntacctCredentials.model_fields if name not in documented]
    assert not missing, f"Intacct credentials keys not documented in docs/settings.md or README.md: {missing}"
