"""`typing.NamedTuple`'s class syntax without importing `typing`, for the fast path.

The no-op `compile` (airspec.launch, airspec.incremental) answers in about 90 ms, about half
of it Python's start-up and the reading and hashing it must do; `typing` was the largest
import of its own (~3 ms). The records it returns are named tuples, declared as
`class X(NamedTuple)` with annotated fields. For a type checker `NamedTuple` here is
`typing.NamedTuple`; at run time it builds the same `collections.namedtuple`, and refuses a
class body it would not reproduce (a default, a method).
"""

from __future__ import annotations

from collections import namedtuple

TYPE_CHECKING = False  # typing.TYPE_CHECKING, which mypy also reads this way

if TYPE_CHECKING:
    from typing import NamedTuple as NamedTuple
else:

    class _NamedTupleMeta(type):
        def __new__(mcls, name, bases, namespace):
            fields = tuple(namespace.get("__annotations__", {}))
            extra = set(namespace) - {"__module__", "__qualname__", "__doc__", "__annotations__"}
            if extra:
                raise TypeError(f"{name}: only annotated fields, no {sorted(extra)}")
            cls = namedtuple(name, fields, module=namespace["__module__"])
            cls.__qualname__ = namespace["__qualname__"]
            if namespace.get("__doc__"):
                cls.__doc__ = namespace["__doc__"]
            return cls

    NamedTuple = type.__new__(_NamedTupleMeta, "NamedTuple", (), {})
