"""Device settings: a name that is no device, and a CUDA card the machine does not have, are
said in words wherever they are met (a script's Session, a setting, a node on the device)."""

from __future__ import annotations

import pytest
import torch

from nodestudio.api.errors import NodeError
from nodestudio.app.devices import DeviceError, device_name_problem, resolve_device
from nodestudio.engine.executor import failure_message


@pytest.mark.parametrize("name", ["auto", "cpu", "CUDA", " cuda:1 ", "mps", "cpu:0", "xpu", None,
                                  ""])
def test_the_names_a_device_setting_may_take(name):
    assert device_name_problem(name) is None


@pytest.mark.parametrize("name", ["gpu", "cuda:", "cuda:x", "cuda1", "nvidia"])
def test_names_that_are_no_device(name):
    assert device_name_problem(name) == (
        f"{name!r} is not a device NodeStudio knows: use auto, cpu, cuda (cuda:1 for a second "
        "card) or mps")
    with pytest.raises(DeviceError):
        resolve_device(name)


def test_a_card_beyond_the_machines_is_named_with_those_it_has(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("cuda:1") == "cuda:1"
    with pytest.raises(DeviceError) as caught:
        resolve_device("cuda:2")
    assert str(caught.value) == (
        "device 'cuda:2' was asked for, but this machine has 2 CUDA cards (cuda:0 to cuda:1)")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(DeviceError, match=r"has one CUDA card \(cuda:0\)$"):
        resolve_device("cuda:1")


def test_a_node_that_meets_a_missing_device_says_why_without_an_exception_name(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(DeviceError) as caught:
        resolve_device("cuda")
    assert isinstance(caught.value, NodeError) and isinstance(caught.value, ValueError)
    assert failure_message(caught.value) == (
        "device 'cuda' was asked for, but CUDA is not available here")
