"""Build a canonical model from values that already hold its rules, without pydantic's validation.

The adapters build every model field by field from values they parsed (`Decimal` from
`to_decimal`, text from `Node.text`, model instances they built): pydantic's validation of such
values changes nothing, and for an order of hundreds of lines it was most of the webhook's CPU
(issue #12). `construct_checked(model, fields)` checks each value against its field exactly as
validation would accept it unchanged:

- the type, exactly (`str`, `bool`, `int`, `Decimal`, a `Literal`'s values, an enum member, an
  instance of the field's model class, a tuple of such), `None` only where the field allows it;
- `Money` / `Quantity`: finite, within the bounds of `money.in_bounds`, inline;
- the model's text rule (`order.Frozen._check_inputs`): every string valid Unicode that SQS and
  XML carry, so the check would neither refuse nor clean it;
- a `pattern` (currency and country codes): matched; a `UtcDatetime`: aware and in UTC already;
- no unknown field, no required field missing (defaults as the model declares them).

Any value that does not pass returns None: the caller then validates as before (`build`), which
gives the same refusal naming the field, or the same cleaned model. Models with any other
validator (the event envelopes) or a field type not listed are always validated. The result is
the instance validation would give: the same field values, in field order, with the same fields
set; its JSON is byte-identical (`tests/unit/test_intake_serialisation.py`).
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, Final, Literal, get_args, get_origin

from pydantic import AfterValidator, BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from intacct_sync.models.money import AMOUNT, MAX_INTEGER_DIGITS, MAX_PLACES, _require_utc, in_bounds
from intacct_sync.models.text import DISALLOWED

_MISSING: Final = object()
_BUILDERS: dict[type[BaseModel], Callable[[dict[str, Any]], Any] | None] = {}
_ALLOWED_VALIDATORS: Final = frozenset({"_check_inputs"})


def construct_checked[T: BaseModel](model: type[T], fields: dict[str, Any]) -> T | None:
    """`model` built from `fields` when every value holds the field's rules as is, else None."""
    try:
        builder = _BUILDERS[model]
    except KeyError:
        builder = _BUILDERS[model] = _builder(model)
    return None if builder is None else builder(fields)


def construct_trusted[T: BaseModel](model: type[T], values: dict[str, Any], unset: frozenset[str] = frozenset()) -> T:
    """`model` from `values` without any check: every field of `model`, in declaration order,
    each a value `construct_checked` accepts, which the caller guarantees (an adapter whose
    parsing already checked them, e.g. `shopify._line_model`). `unset`: the fields holding their
    default that `build` would not have been given (left out of the fields set, as it leaves them)."""
    instance = object.__new__(model)
    _set(instance, "__dict__", values)
    _set(instance, "__pydantic_fields_set__", set(values).difference(unset) if unset else set(values))
    _set(instance, "__pydantic_extra__", None)
    _set(instance, "__pydantic_private__", None)
    return instance


_set: Final = object.__setattr__


# --- the checks, one Python expression per field type ---------------------------------------------
# Each model gets one function, compiled once, with every field's check written out (a call per
# field costs as much as the check itself; this runs for every line of every order).


def _is_clean(value: str) -> bool:
    return DISALLOWED.search(value) is None


def _is_amount(value: Decimal) -> bool:
    """`order.Frozen._check_inputs`'s inline bounds check of a Decimal: true exactly when it keeps
    the value as it is."""
    if not value.is_finite() or (value.adjusted() >= MAX_INTEGER_DIGITS and not value.is_zero()):
        return False
    text = str(value)
    if "E" in text:
        return in_bounds(value)
    dot = text.find(".")
    return dot < 0 or len(text) - dot - 1 <= MAX_PLACES


_TEXT: Final = "(type({v}) is str and (({v}.isascii() and {v}.isprintable()) or _is_clean({v})))"


class _Names:
    """The objects the generated code refers to, by generated name."""

    def __init__(self) -> None:
        self.objects: dict[str, Any] = {
            "_is_clean": _is_clean,
            "_is_amount": _is_amount,
            "Decimal": Decimal,
            "datetime": datetime,
            "UTC": UTC,
        }

    def add(self, value: Any) -> str:
        name = f"_o{len(self.objects)}"
        self.objects[name] = value
        return name


def _check_for(tp: Any, v: str, names: _Names) -> str | None:
    """A Python expression, true when the value in variable `v` is a `tp` that validation keeps
    as it is (None: a type this module does not check)."""
    origin = get_origin(tp)
    if origin is typing.Annotated:
        base, *meta = get_args(tp)
        if base is Decimal and meta == [AMOUNT]:
            # `_is_amount`, written out for the usual value (plain notation), which it decides.
            return (
                f"(type({v}) is Decimal and {v}.is_finite()"
                f" and ({v}.adjusted() < {MAX_INTEGER_DIGITS} or {v}.is_zero())"
                f' and ((("E" not in (t := str({v}))) and ((p := t.find(".")) < 0 or len(t) - p <= {MAX_PLACES + 1}))'
                f" or _is_amount({v})))"
            )
        if base is datetime and len(meta) == 1 and isinstance(meta[0], AfterValidator):
            # `_require_utc` keeps an aware UTC datetime as it is.
            return f"(type({v}) is datetime and {v}.tzinfo is UTC)" if meta[0].func is _require_utc else None
        pattern = _pattern_only(base, meta)
        if pattern is None:
            return None
        search = names.add(re.compile(pattern).search)
        # The pattern is anchored (^...$); Python's `$` also matches before a final newline, which
        # pydantic's does not, so a string with a newline is left to validation.
        return f'({_TEXT.format(v=v)} and "\\n" not in {v} and {search}({v}) is not None)'
    if origin in (typing.Union, types.UnionType):
        args = get_args(tp)
        if len(args) != 2 or type(None) not in args:
            return None
        (inner,) = (a for a in args if a is not type(None))
        check = _check_for(inner, v, names)
        return None if check is None else f"({v} is None or {check})"
    if origin is Literal:
        allowed = frozenset(get_args(tp))
        if not all(type(a) is str and _is_clean(a) for a in allowed):
            return None
        return f"(type({v}) is str and {v} in {names.add(allowed)})"
    if origin is tuple:
        args = get_args(tp)
        if len(args) != 2 or args[1] is not Ellipsis:
            return None
        item = _check_for(args[0], "i", names)
        return None if item is None else f"(type({v}) is tuple and all({item} for i in {v}))"
    if origin is not None:
        return None
    if tp is str:
        return _TEXT.format(v=v)
    if tp is bool or tp is int:
        return f"type({v}) is {tp.__name__}"
    if tp is Decimal:
        return f"(type({v}) is Decimal and {v}.is_finite())"
    if isinstance(tp, type) and issubclass(tp, Enum | BaseModel):
        return f"type({v}) is {names.add(tp)}"
    return None


def _pattern_only(base: Any, meta: list[Any]) -> str | None:
    """The pattern of `Annotated[str, StringConstraints(pattern=...)]` with no other constraint."""
    if base is not str or len(meta) != 1:
        return None
    constraint = meta[0]
    others = {k: v for k, v in vars(constraint).items() if k != "pattern" and v is not None}
    pattern = getattr(constraint, "pattern", None)
    if others or not isinstance(pattern, str) or not (pattern.startswith("^") and pattern.endswith("$")):
        return None
    return pattern


def _builder(model: type[BaseModel]) -> Callable[[dict[str, Any]], Any] | None:
    """The compiled constructor of `model`, or None when its values must always be validated."""
    decorators = model.__pydantic_decorators__
    if (
        set(decorators.model_validators) - _ALLOWED_VALIDATORS
        or decorators.field_validators
        or decorators.validators
        or decorators.root_validators
        or decorators.field_serializers
        or decorators.model_serializers
        or decorators.computed_fields
        or model.__pydantic_post_init__ is not None
        or model.model_config.get("extra") != "forbid"
        or model.__private_attributes__
    ):
        return None
    hints = typing.get_type_hints(model, include_extras=True)
    names = _Names()
    lines = ["def construct(fields):", f"    if not {names.add(frozenset(model.model_fields))}.issuperset(fields):"]
    lines.append("        return None")
    lines.append("    get = fields.get")
    values = []
    for index, (name, info) in enumerate(model.model_fields.items()):
        v = f"v{index}"
        check = _check_for(_annotated(hints[name], info), v, names)
        if check is None or info.default_factory is not None or info.alias not in (None, name):
            return None
        lines.append(f"    {v} = get({name!r}, _MISSING)")
        lines.append(f"    if {v} is _MISSING:")
        if info.default is PydanticUndefined:
            lines.append("        return None")
        else:
            lines.append(f"        {v} = {names.add(info.default)}")
        lines.append(f"    elif not {check}:")
        lines.append("        return None")
        values.append(f"{name!r}: {v}")
    lines += [
        f"    instance = _new({names.add(model)})",
        f"    _set(instance, '__dict__', {{{', '.join(values)}}})",
        "    _set(instance, '__pydantic_fields_set__', set(fields))",
        "    _set(instance, '__pydantic_extra__', None)",
        "    _set(instance, '__pydantic_private__', None)",
        "    return instance",
    ]
    namespace = {**names.objects, "_MISSING": _MISSING, "_new": object.__new__, "_set": object.__setattr__}
    exec(compile("\n".join(lines), f"<construct_checked {model.__name__}>", "exec"), namespace)  # noqa: S102
    return namespace["construct"]  # type: ignore[no-any-return]


def _annotated(hint: Any, info: FieldInfo) -> Any:
    """The field's type with the metadata pydantic moved into `FieldInfo.metadata` put back."""
    if get_origin(hint) is typing.Annotated:
        return hint
    if info.metadata:
        return typing.Annotated[(hint, *info.metadata)]
    return hint
