"""``qqreliable._frozen.frozen_dataclass`` behaves as ``dataclass(frozen=True)``: the
option classes made with it, and a twin pair made both ways, compared feature by feature."""

from __future__ import annotations

import copy
import dataclasses
import inspect
import pickle
from typing import Any, List, Optional

import pytest

from qqreliable import Backoff, MediaConfig, OutboundMedia, Pacing, SendPolicy
from qqreliable._frozen import frozen_dataclass

OPTION_CLASSES = [Backoff, SendPolicy, Pacing, MediaConfig, OutboundMedia]
made: List[str] = []


def _new_list() -> List[int]:
    return [1]


@frozen_dataclass(frozen=True)
class Ours:
    name: str
    size: int = 3
    tags: List[int] = dataclasses.field(default_factory=_new_list)
    note: Optional[str] = None

    def __post_init__(self) -> None:
        made.append(self.name)
        if self.size < 0:
            raise ValueError("size must be >= 0")


@dataclasses.dataclass(frozen=True)
class Theirs:
    name: str
    size: int = 3
    tags: List[int] = dataclasses.field(default_factory=_new_list)
    note: Optional[str] = None

    def __post_init__(self) -> None:
        made.append(self.name)
        if self.size < 0:
            raise ValueError("size must be >= 0")


def _both(*args: Any, **kwargs: Any) -> Any:
    return Ours(*args, **kwargs), Theirs(*args, **kwargs)


@pytest.mark.parametrize("args, kwargs", [
    (("a",), {}), (("a", 5), {}), (("a",), {"note": "n"}), ((), {"name": "b", "tags": [2, 3]}),
    (("a", 1, [4], "x"), {}),
])
def test_construction_repr_eq_hash_match_a_frozen_dataclass(args: Any, kwargs: Any) -> None:
    ours, theirs = _both(*args, **kwargs)
    assert repr(ours).replace("Ours", "X") == repr(theirs).replace("Theirs", "X")
    assert ours == Ours(*args, **kwargs) and not (ours != Ours(*args, **kwargs))
    assert ours != theirs and ours != dataclasses.astuple(ours)  # another class: never equal
    assert dataclasses.asdict(ours) == dataclasses.asdict(theirs)
    if not isinstance(ours.tags, list):
        assert hash(ours) == hash(Ours(*args, **kwargs))
    with pytest.raises(TypeError):
        hash(ours)  # a list field: unhashable, as the dataclass's hash of its fields
    with pytest.raises(TypeError):
        hash(theirs)


def test_hash_is_by_value_when_the_fields_are_hashable() -> None:
    a, b = Ours("a", tags=None), Ours("a", tags=None)  # type: ignore[arg-type]
    assert hash(a) == hash(b) and len({a, b}) == 1
    assert hash(Pacing()) == hash(Pacing()) and len({SendPolicy(), SendPolicy()}) == 1


def test_defaults_factories_and_post_init() -> None:
    made.clear()
    first, second = Ours("x"), Ours("y")
    assert first.tags == [1] and first.tags is not second.tags  # a fresh default per instance
    assert made == ["x", "y"]
    with pytest.raises(ValueError, match="size must be"):
        Ours("z", -1)


@pytest.mark.parametrize("call", [
    lambda cls: cls(),  # a required field missing
    lambda cls: cls("a", 1, [], None, "extra"),  # too many positionals
    lambda cls: cls("a", nope=1),  # an unknown keyword
    lambda cls: cls("a", name="b"),  # twice
])
def test_bad_arguments_raise_type_error_like_the_dataclass(call: Any) -> None:
    with pytest.raises(TypeError):
        call(Theirs)
    with pytest.raises(TypeError):
        call(Ours)


def test_it_is_frozen() -> None:
    ours = Ours("a")
    with pytest.raises(dataclasses.FrozenInstanceError):
        ours.size = 4  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        del ours.size  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        SendPolicy().max_attempts = 9  # type: ignore[misc]


def test_dataclass_functions_work() -> None:
    ours = Ours("a", 2)
    assert dataclasses.is_dataclass(ours) and dataclasses.is_dataclass(Ours)
    assert [f.name for f in dataclasses.fields(Ours)] == [f.name for f in dataclasses.fields(Theirs)]
    changed = dataclasses.replace(ours, size=7)
    assert (changed.name, changed.size, type(changed)) == ("a", 7, Ours)
    with pytest.raises(ValueError, match="size must be"):
        dataclasses.replace(ours, size=-2)
    assert getattr(Ours, "__match_args__", None) == getattr(Theirs, "__match_args__", None)


def test_pickle_and_copy_round_trip() -> None:
    for value in [Ours("a", 2, [5], "n"), SendPolicy(max_attempts=5), MediaConfig(workers=3)]:
        for restored in (pickle.loads(pickle.dumps(value)), copy.copy(value), copy.deepcopy(value)):
            assert restored == value and type(restored) is type(value)


def test_the_signature_is_the_dataclass_one() -> None:
    assert str(inspect.signature(Ours)).replace("Ours", "X") == str(inspect.signature(Theirs)).replace("Theirs", "X")


@pytest.mark.parametrize("cls", OPTION_CLASSES, ids=lambda c: c.__name__)
def test_the_option_classes_keep_their_dataclass_surface(cls: Any) -> None:
    value = cls()
    assert dataclasses.is_dataclass(value)
    names = [f.name for f in dataclasses.fields(cls)]
    assert list(inspect.signature(cls).parameters) == names
    assert repr(value).startswith(f"{cls.__name__}({names[0]}=")
    assert dataclasses.replace(value) == value
    assert cls(**{n: getattr(value, n) for n in names}) == value


def test_only_frozen_is_accepted() -> None:
    with pytest.raises(TypeError, match="frozen=True"):
        frozen_dataclass(frozen=False)
