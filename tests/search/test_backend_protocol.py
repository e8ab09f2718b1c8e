"""Both backends implement every operation of the Backend protocol, with the protocol's signature."""

from __future__ import annotations

import inspect

import pytest

from sltsim.metrics.history import MaskHistory
from sltsim.search.backend import Backend
from sltsim.search.numpy_backend import Search


def _operations() -> dict:
    return {name: member for name, member in vars(Backend).items()
            if not name.startswith("_") and (inspect.isfunction(member) or isinstance(member, property))}


def _backends() -> list:
    out = [Search]
    try:
        from sltsim.torch_backend.backend import Run
    except ImportError:  # pragma: no cover - the torch extra is not installed
        return out
    return out + [Run]


def test_the_protocol_lists_the_operations_the_methods_use():
    ops = _operations()
    assert {"masks", "scores", "set_scores", "restrict", "train", "evaluate", "new_cycle", "searched"} <= set(ops)
    assert len(ops) >= 25


@pytest.mark.parametrize("backend", _backends(), ids=lambda b: b.__module__)
def test_every_operation_is_implemented_with_the_protocols_parameters(backend):
    for name, member in _operations().items():
        assert hasattr(backend, name), f"{backend.__name__} lacks {name}"
        if inspect.isfunction(member):
            want = list(inspect.signature(member).parameters)
            got = list(inspect.signature(getattr(backend, name)).parameters)
            assert got == want, f"{backend.__name__}.{name}{tuple(got)} differs from the protocol's {tuple(want)}"


def test_both_histories_give_the_counts_the_record_builder_reads():
    histories = [MaskHistory]
    try:
        from sltsim.torch_backend.history import DeviceHistory
        histories.append(DeviceHistory)
    except ImportError:  # pragma: no cover
        pass
    for history in histories:
        assert callable(getattr(history, "ever_and_selected", None)), history.__name__
