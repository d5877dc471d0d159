"""Which worker runs which job: the one already holding the job's models, else the least loaded.

A job's model keys are the signatures of its loader nodes (nodes with a ``models:…`` choice),
so two jobs that load the same checkpoint file share a key whatever else differs. The
dispatcher remembers which keys each worker has loaded; sending a job there means its
checkpoint is not read again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from nodestudio.api.registry import NodeRegistry
from nodestudio.graph.model import Graph


@dataclass
class WorkerLoad:
    name: str
    idle: bool
    models: set[str] = field(default_factory=set)
    jobs_done: int = 0


def loader_nodes(graph: Graph, registry: NodeRegistry) -> dict[str, str]:
    """Node id → the model it names, for every node that loads a model file."""
    loaders = {}
    for node in graph:
        node_type = registry.get(node.type)
        if node_type is None or node.mode != "normal":
            continue
        for spec in node_type.inputs:
            value = node.values.get(spec.name, spec.default)
            if (spec.choices_source or "").startswith("models:") and isinstance(value, str):
                loaders[node.id] = value
    return loaders


def model_keys(graph: Graph, registry: NodeRegistry, executor: Any = None,
               environment: Any = None) -> frozenset[str]:
    """The signatures of ``graph``'s loader nodes (their names when the graph cannot plan)."""
    loaders = loader_nodes(graph, registry)
    if executor is not None:
        try:
            plan = executor.prepare(graph, environment=environment)
            return frozenset(plan.signatures[node_id] for node_id in loaders
                             if node_id in plan.signatures)
        except Exception:  # an invalid graph still routes; the worker says why
            pass
    return frozenset(f"{graph.node(node_id).type}:{name}" for node_id, name in loaders.items())


def choose_job(worker: WorkerLoad, pending: Sequence[tuple[str, frozenset[str]]],
               workers: Sequence[WorkerLoad], steal_backlog: int = 2) -> str | None:
    """The pending job (id, model keys) ``worker`` should take now, or None to leave it idle.

    First a job whose models it holds; then one whose models no live worker holds; then,
    when another worker's own backlog reaches ``steal_backlog``, that worker's oldest job
    (waiting costs more than loading the model again)."""
    if not pending:
        return None
    for job_id, keys in pending:
        if keys and keys <= worker.models:
            return job_id
    others = [w for w in workers if w.name != worker.name]
    for job_id, keys in pending:
        if not keys or not any(keys & w.models for w in others):
            return job_id
    for other in others:
        backlog = [job_id for job_id, keys in pending if keys & other.models]
        if len(backlog) >= steal_backlog:
            return backlog[-1]
    return None


def least_loaded(workers: Sequence[WorkerLoad]) -> WorkerLoad | None:
    idle = [w for w in workers if w.idle]
    return min(idle, key=lambda w: (len(w.models), w.jobs_done)) if idle else None
