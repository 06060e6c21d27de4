"""The reliability layer's small records (``reliability.interfaces``), made by
``_frozen.frozen_dataclass``: immutable, equal and hashed by value, readable reprs,
picklable, as frozen dataclasses."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from typing import Any, Dict, List

import pytest

from qqreliable.reliability import interfaces as itf

# one value per record, with every field set away from its default
SAMPLES: List[Any] = [
    itf.Judgement("unknown", never_left=True, message_id=7, upload_failed=True, refused=True,
                  retry_after=1.5, confirmed=True),
    itf.Payload(bytes=10, urls=2, media=True),
    itf.HistoryEntry("hi", message_id=3, time=1.0, author=42, own=True),
    itf.DeliveryLookup(own_message=None, history=None, by_id=None, whoami=None),
    itf.AccountSignal(False, reason="kicked", source=itf.SIGNAL_STATUS),
    itf.PastMessage(5, 2.0, "cursor", {"message_id": 5}, own=True),
    itf.MediaRef("image", file="abc.jpg", url="http://example.invalid/a.jpg"),
    itf.OutboundElement("record", b"bytes", url=None),
    itf.Replacement(base64="AAAA", uri=None, name="a.png"),
]


def _names(value: Any) -> List[str]:
    return [field.name for field in dataclasses.fields(value)]


@pytest.mark.parametrize("value", SAMPLES, ids=lambda v: type(v).__name__)
def test_a_record_is_immutable(value: Any) -> None:
    field = _names(value)[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(value, field, None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        delattr(value, field)
    with pytest.raises(dataclasses.FrozenInstanceError):
        value.not_a_field = 1


@pytest.mark.parametrize("value", SAMPLES, ids=lambda v: type(v).__name__)
def test_a_record_is_equal_and_hashed_by_value(value: Any) -> None:
    twin = type(value)(*[getattr(value, name) for name in _names(value)])
    assert twin == value and not (twin != value)
    if type(value) is not itf.PastMessage:  # its event is a dict: unhashable, as before
        assert hash(twin) == hash(value)
        assert len({twin, value}) == 1
    assert value != tuple(getattr(value, name) for name in _names(value))  # not a tuple
    for index in range(len(_names(value))):  # any one field differing makes them differ
        values = [getattr(value, name) for name in _names(value)]
        values[index] = object()
        assert type(value)(*values) != value


@pytest.mark.parametrize("value", SAMPLES, ids=lambda v: type(v).__name__)
def test_a_record_pickles_and_copies(value: Any) -> None:
    if type(value) is itf.DeliveryLookup:
        restored = copy.deepcopy(value)
    else:
        restored = pickle.loads(pickle.dumps(value))
    assert restored == value and type(restored) is type(value)
    assert copy.copy(value) == value


def test_the_repr_names_every_field_as_a_dataclass_would() -> None:
    assert repr(itf.Payload(bytes=3)) == "Payload(bytes=3, urls=0, media=False)"
    assert repr(itf.MediaRef("image", url="u")) == "MediaRef(kind='image', file=None, url='u')"


def test_defaults_and_keywords_are_those_of_the_dataclasses() -> None:
    judgement = itf.Judgement(outcome="delivered")
    assert (judgement.never_left, judgement.message_id, judgement.upload_failed, judgement.refused,
            judgement.retry_after, judgement.confirmed) == (False, None, False, False, None, False)
    assert itf.AccountSignal(True).source == itf.SIGNAL_NOTICE
    assert itf.AccountSignal(True).reason == ""
    assert itf.MediaRef("file", url="http://x/y").key == "file:http://x/y"
    with pytest.raises(TypeError):
        itf.Payload(nope=1)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        itf.Judgement()  # type: ignore[call-arg]


def test_records_of_different_kinds_are_never_equal() -> None:
    # same field values, different classes (OutboundElement and MediaRef both hold kind/file/url)
    fields: Dict[str, Any] = {"kind": "image", "file": "f", "url": None}
    assert itf.MediaRef(**fields) != itf.OutboundElement(**fields)
