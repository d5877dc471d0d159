"""A pack declaring sockets of types nobody defined is refused when it registers."""

from __future__ import annotations

import pytest

from nodestudio.api import IMAGE, Input, NodePack, NodeRegistry, Output, node
from nodestudio.api.schema import SchemaError
from nodestudio.api.sockets import SocketType


@node("typo.blur", inputs=[Input("image", "IMGE")], outputs=[Output("image", IMAGE)])
def blur(image: object) -> object:
    return image


@node("own.make", outputs=[Output("thing", "ACME_THING")])
def make() -> object:
    return object()


def test_an_unknown_socket_type_is_refused_naming_pack_node_and_type():
    registry = NodeRegistry()
    with pytest.raises(SchemaError) as refused:
        registry.add_pack(NodePack("typo", [blur]))
    assert str(refused.value) == (
        "pack 'typo': node type 'typo.blur' uses socket type(s) IMGE, which neither NodeStudio "
        "nor the pack declares (add them to NodePack(sockets=[SocketType(...)]))")
    assert "typo.blur" not in registry and "IMGE" not in registry.sockets


def test_a_type_the_pack_declares_itself_registers():
    registry = NodeRegistry()
    registry.add_pack(NodePack("own", [make], sockets=[SocketType("ACME_THING", "#123456")]))
    assert "own.make" in registry and "ACME_THING" in registry.sockets
