"""``@frozen_dataclass(frozen=True)``: a frozen dataclass without its import-time cost.

The public option classes (:class:`~qqreliable.SendPolicy`, :class:`~qqreliable.Pacing`,
:class:`~qqreliable.Backoff`, ``MediaConfig``, ``OutboundMedia``) are frozen dataclasses:
``dataclasses.fields``, ``replace``, ``asdict`` and ``is_dataclass`` work on them, as
documented. ``@dataclass(frozen=True)`` compiles six methods from source for each class
when its module is imported: 1.2-1.8 ms per class here, the largest part of what
``import qqreliable`` adds to ``import requests, websocket``.

This decorator makes the same dataclass (``dataclass(init=False, repr=False, eq=False)``:
fields and metadata only, nothing compiled) and gives it shared, generic methods that
behave as the generated ones: ``__init__`` (positional or keyword, defaults and
default factories, then ``__post_init__``), ``__repr__``, ``__eq__`` and ``__hash__`` over
the fields, and ``__setattr__``/``__delattr__`` raising
:class:`dataclasses.FrozenInstanceError`; ``inspect.signature`` reads the usual one.
Type checkers and documentation tools see ``dataclasses.dataclass`` itself: a module
imports it as ::

    if not TYPE_CHECKING:
        from .._frozen import frozen_dataclass as dataclass
    else:
        from dataclasses import dataclass

(the runtime branch first: griffe, behind the API pages, keeps the last import).

Only what these classes use is supported: fields with ``init=True``, no ``InitVar``,
no ``kw_only``, no inheritance between them.
"""

from __future__ import annotations

import inspect
import sys
from dataclasses import MISSING, FrozenInstanceError, dataclass, fields
from typing import TYPE_CHECKING, Any, Callable, Dict, Tuple, Type, TypeVar

__all__ = ["frozen_dataclass"]

_T = TypeVar("_T")
_set = object.__setattr__

if TYPE_CHECKING:  # what type checkers see: dataclass(frozen=True), exactly
    from dataclasses import dataclass as frozen_dataclass
else:

    def frozen_dataclass(*, frozen: bool) -> Callable[[Type[_T]], Type[_T]]:
        """``dataclass(frozen=True)``, its methods shared instead of compiled per class."""
        if frozen is not True:
            raise TypeError("frozen_dataclass makes frozen dataclasses only: pass frozen=True")
        return _make


def _make(cls: Type[_T]) -> Type[_T]:
    cls = dataclass(init=False, repr=False, eq=False)(cls)
    specs = tuple(fields(cls))  # type: ignore[arg-type]
    for spec in specs:
        if not spec.init or getattr(spec, "kw_only", False) is True:
            raise TypeError(f"{cls.__name__}.{spec.name}: frozen_dataclass supports plain init fields only")
    names = tuple(spec.name for spec in specs)
    defaults: Tuple[Tuple[str, Any, Any], ...] = tuple((s.name, s.default, s.default_factory) for s in specs)
    known = frozenset(names)
    post_init = getattr(cls, "__post_init__", None)
    title = cls.__qualname__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        if len(args) > len(names):
            raise TypeError(f"{title}() takes {len(names)} positional arguments but {len(args)} were given")
        for name, value in zip(names, args):
            if name in kwargs:
                raise TypeError(f"{title}() got multiple values for argument {name!r}")
            _set(self, name, value)
        for name in kwargs:
            if name not in known:
                raise TypeError(f"{title}() got an unexpected keyword argument {name!r}")
        for name, default, factory in defaults[len(args):]:
            if name in kwargs:
                value = kwargs[name]
            elif default is not MISSING:
                value = default
            elif factory is not MISSING:
                value = factory()
            else:
                raise TypeError(f"{title}() missing required argument: {name!r}")
            _set(self, name, value)
        if post_init is not None:
            post_init(self)

    def values(self: Any) -> Tuple[Any, ...]:
        return tuple([getattr(self, name) for name in names])

    def __repr__(self: Any) -> str:
        inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in names)
        return f"{type(self).__qualname__}({inner})"

    def __eq__(self: Any, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return values(self) == values(other)  # type: ignore[no-any-return]

    def __hash__(self: Any) -> int:
        return hash(values(self))

    def __setattr__(self: Any, name: str, value: Any) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self: Any, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    methods: Dict[str, Any] = {
        "__init__": __init__, "__repr__": __repr__, "__eq__": __eq__, "__hash__": __hash__,
        "__setattr__": __setattr__, "__delattr__": __delattr__,
    }
    for attr, function in methods.items():
        function.__qualname__ = f"{title}.{attr}"
        setattr(cls, attr, function)
    if sys.version_info >= (3, 10):  # as dataclasses set it from 3.10 on
        setattr(cls, "__match_args__", names)  # noqa: B010 (mypy: a class attribute set late)
    cls.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=spec.type,
                           default=(default if default is not MISSING
                                    else _FACTORY if factory is not MISSING else inspect.Parameter.empty))
         for spec, (name, default, factory) in zip(specs, defaults)],
        return_annotation=None,
    )
    return cls


class _Factory:
    """A default made by a factory, as the signature shows it (as dataclasses do)."""

    def __repr__(self) -> str:
        return "<factory>"


_FACTORY = _Factory()
