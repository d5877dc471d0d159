"""Pure data: the graph model, graph files and their migrations. No Qt, no torch."""

from nodestudio.graph.files import FORMAT_NAME, FORMAT_VERSION, dumps, load, loads, save
from nodestudio.graph.layout import Group, Layout, NodeLayout
from nodestudio.graph.model import Graph, Link, Node
from nodestudio.graph.problems import GraphError, GraphFileError, GraphValidationError, Problem

__all__ = [
    "FORMAT_NAME", "FORMAT_VERSION", "Graph", "GraphError", "GraphFileError",
    "GraphValidationError", "Group", "Layout", "Link", "Node", "NodeLayout", "Problem", "dumps",
    "load", "loads", "save",
]
