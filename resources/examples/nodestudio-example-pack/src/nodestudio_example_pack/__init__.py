"""An example NodeStudio node pack (see README.md, "Writing nodes")."""

from nodestudio.api import NodePack, collect_nodes

from . import nodes

pack = NodePack(
    "example",
    nodes=collect_nodes(nodes),
    version="0.1.0",
    description="Example nodes: a vignette and a caption formatter",
)
