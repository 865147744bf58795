"""A spec model built from whatever parsed, so cross-field rules run in the same round as the
schema errors instead of the next one.

When the schema stage or the model refuses part of a spec, the rest still says something:
a backend naming an undeclared bucket is worth reporting next to a misspelt key elsewhere.
`partial_spec` validates the tree part by part (each model field on its own, recursing into
nested models and lists of models) and puts `UNPARSED` where a part did not validate. Any use
of `UNPARSED` (comparing, formatting, iterating, truth, attribute access) raises `Unparsed`,
and the rule runner then drops that rule for this spec: its input was already reported, and a
rule never sees a value that only looks valid.
"""

from __future__ import annotations

import functools
from typing import Any, NoReturn, Union, get_args, get_origin

from pydantic import BaseModel, TypeAdapter, ValidationError

from airspec.model import Spec


class Unparsed(Exception):
    """A rule touched a part of the spec that did not validate."""


class _UnparsedValue:
    """Stands where a value did not validate; any use raises `Unparsed`."""

    __slots__ = ()

    def _refuse(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise Unparsed

    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = _refuse
    __hash__ = __bool__ = __len__ = __iter__ = __contains__ = _refuse
    __str__ = __repr__ = __format__ = __int__ = __float__ = __index__ = _refuse
    __getitem__ = __add__ = __radd__ = __mod__ = __call__ = _refuse

    def __getattr__(self, name: str) -> NoReturn:
        raise Unparsed


UNPARSED: Any = _UnparsedValue()


def touched_unparsed(exc: TypeError) -> bool:
    """A TypeError raised by C code (e.g. `re.match`) handed `UNPARSED`: it names the type."""
    return _UnparsedValue.__name__ in str(exc)


@functools.cache
def _adapter(annotation: Any, metadata: tuple[Any, ...]) -> TypeAdapter[Any]:
    from typing import Annotated

    return TypeAdapter(Annotated[annotation, *metadata] if metadata else annotation)


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model class an annotation holds directly or as `Model | None`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) in (Union, type(int | None)):
        models = [a for a in get_args(annotation) if isinstance(a, type) and issubclass(a, BaseModel)]
        if len(models) == 1:
            return models[0]
    return None


def _value(annotation: Any, metadata: tuple[Any, ...], raw: Any) -> Any:
    try:
        return _adapter(annotation, metadata).validate_python(raw, strict=True)
    except ValidationError:
        pass
    model = _model_in(annotation)
    if model is not None:
        return partial_model(model, raw)
    if get_origin(annotation) is list and isinstance(raw, list):
        (item,) = get_args(annotation) or (Any,)
        item_model = _model_in(item)
        if item_model is not None:
            return [partial_model(item_model, each) for each in raw]
    return UNPARSED


def _before_validators(cls: type[BaseModel], raw: dict[str, Any]) -> dict[str, Any]:
    """Apply the model's `mode="before"` validators (defaults that depend on other fields)."""
    for dec in cls.__pydantic_decorators__.model_validators.values():
        if dec.info.mode == "before":
            try:
                out = dec.func.__get__(None, cls)(raw)
            except Exception:  # a validator that refuses the data: keep the raw data
                continue
            if isinstance(out, dict):
                raw = out
    return raw


def partial_model(cls: type[BaseModel], raw: Any) -> Any:
    """`cls` validated from `raw`, or, where parts fail, built field by field with `UNPARSED`
    in each part that did not validate (unknown keys are ignored: the schema reported them)."""
    try:
        return cls.model_validate(raw)
    except ValidationError:
        pass
    if not isinstance(raw, dict):
        return UNPARSED
    raw = _before_validators(cls, raw)
    values: dict[str, Any] = {}
    for name, info in cls.model_fields.items():
        key = info.alias or name
        if key not in raw:
            values[name] = (
                UNPARSED if info.is_required() else info.get_default(call_default_factory=True)
            )
        else:
            values[name] = _value(info.annotation, tuple(info.metadata), raw[key])
    return cls.model_construct(**values)


def partial_spec(raw: Any) -> Spec | None:
    """The spec as far as it parsed; None when not even its top level is a mapping."""
    built = partial_model(Spec, raw)
    return built if isinstance(built, Spec) else None
