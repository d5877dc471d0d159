"""The executor: validate, plan, reuse cached outputs by signature, run the rest, report events.

A run works on a snapshot of the graph, so the artist can keep editing while it runs. When a
node fails, the nodes that depend on it are skipped, independent branches still run, and what
succeeded stays cached.
"""

from __future__ import annotations

import time
import traceback
import uuid
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nodestudio.api.errors import Cancelled, NodeError
from nodestudio.api.registry import NodeRegistry
from nodestudio.api.schema import NodeType
from nodestudio.engine import node_memory, oom
from nodestudio.engine.cache import CacheEntry, OutputCache
from nodestudio.engine.cancel import CancelToken
from nodestudio.engine.context import RunContext, RunEnvironment
from nodestudio.engine.events import (
    NodeFailed,
    NodeFinished,
    NodeSkipped,
    NodeStarted,
    PlanReady,
    RunEvent,
    RunFinished,
    RunStarted,
    ValidationFailed,
)
from nodestudio.engine.memory import PeakMemory
from nodestudio.engine.node_thread import CANCEL_GRACE_SECONDS, NodeAbandoned, NodeThread
from nodestudio.engine.output_check import check_outputs
from nodestudio.engine.plan import Plan, check_graph, make_plan
from nodestudio.engine.signature import widget_values
from nodestudio.engine.sizing import footprint
from nodestudio.engine.validate import ChoicesProvider
from nodestudio.graph.model import Graph
from nodestudio.graph.problems import GraphValidationError
from nodestudio.graph.subgraph_flatten import PATH_KEY

EventSink = Callable[[RunEvent], None]


@dataclass
class RunResult:
    run_id: str
    status: str  # "finished", "failed" or "cancelled"
    executed: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)
    #: Node id -> error message, for nodes that raised or were abandoned after Cancel.
    failed: dict[str, str] = field(default_factory=dict)
    #: Node id -> {output name: value}, for every node the run ran or took from the cache,
    #: and the nodes upstream of a cached one whose results the cache still holds.
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Files written by output nodes during this run.
    files: list[Path] = field(default_factory=list)
    #: Node id -> image batches shown by that node (preview and save nodes).
    images: dict[str, list[Any]] = field(default_factory=dict)
    node_seconds: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    #: Nodes that ignored Cancel and were left running; their results are discarded.
    abandoned: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "finished"


class NodeExecutionError(Exception):
    """Raised by :meth:`Executor.run_or_raise` when a node failed."""

    def __init__(self, result: RunResult) -> None:
        self.result = result
        details = "; ".join(f"node {node_id}: {message}" for node_id, message
                            in result.failed.items())
        super().__init__(f"the run failed: {details}")


class Executor:
    def __init__(self, registry: NodeRegistry, cache: OutputCache | None = None) -> None:
        self.registry = registry
        self.cache = cache if cache is not None else OutputCache()
        #: Seconds a node may run on after Cancel before the run abandons it (node_thread.py).
        self.cancel_grace = CANCEL_GRACE_SECONDS

    def prepare(
        self, graph: Graph, *, outputs: Iterable[str] | None = None,
        choices: ChoicesProvider | None = None, environment: RunEnvironment | None = None,
    ) -> Plan:
        """Validate and plan without running; raises GraphValidationError with every problem."""
        # Subgraph instances are flattened there (inner ids "instance/inner"), see plan.py.
        effective, problems = check_graph(graph, self.registry, outputs=outputs, choices=choices)
        if problems:
            raise GraphValidationError(f"the graph has {len(problems)} problem(s)", problems)
        return make_plan(effective, self.registry, self.cache, outputs, environment)

    def run(
        self,
        graph: Graph,
        environment: RunEnvironment | None = None,
        *,
        outputs: Iterable[str] | None = None,
        on_event: EventSink | None = None,
        cancel: CancelToken | None = None,
        choices: ChoicesProvider | None = None,
        graph_document: dict[str, Any] | None = None,
        image_metadata: dict[str, str] | None = None,
    ) -> RunResult:
        """Run ``graph``; raises GraphValidationError (before running anything) if invalid."""
        environment = environment or RunEnvironment()
        cancel = cancel or CancelToken()
        run_id = uuid.uuid4().hex[:12]
        emit = on_event or (lambda event: None)
        started = time.perf_counter()
        emit(RunStarted(run_id, len(graph)))
        snapshot = graph.copy()
        try:
            plan = self.prepare(snapshot, outputs=outputs, choices=choices,
                                environment=environment)
        except GraphValidationError as error:
            emit(ValidationFailed(run_id, tuple(error.problems)))
            raise
        emit(PlanReady(run_id, tuple(plan.to_run), tuple(plan.cached), dict(plan.signatures)))
        result = RunResult(run_id, "finished", cached=list(plan.cached))
        _Run(self, plan, environment, cancel, emit, result, graph_document,
             image_metadata).execute()
        result.seconds = time.perf_counter() - started
        emit(RunFinished(run_id, result.status, tuple(result.executed), tuple(result.cached),
                         tuple(result.failed), result.seconds))
        return result


class _Run:
    """One execution of a plan (kept apart so the Executor itself holds no run state)."""

    def __init__(
        self, executor: Executor, plan: Plan, environment: RunEnvironment, cancel: CancelToken,
        emit: EventSink, result: RunResult, graph_document: dict[str, Any] | None,
        image_metadata: dict[str, str] | None,
    ) -> None:
        self.executor = executor
        self.registry = executor.registry
        self.cache = executor.cache
        self.plan = plan
        self.graph = plan.graph
        self.environment = environment
        self.cancel = cancel
        self.emit = emit
        self.result = result
        self.graph_document = graph_document
        self.image_metadata = image_metadata
        # Outputs this run needs, held here so cache eviction cannot pull them from under us.
        self.values: dict[str, tuple[Any, ...]] = {}
        self.broken: set[str] = set()
        self.memory = PeakMemory()
        # Node code runs on this helper so that a Cancel it ignores can be walked away from.
        self.node_thread = NodeThread(executor.cancel_grace)

    def execute(self) -> None:
        try:
            self._execute()
        finally:
            self.node_thread.close()

    def _execute(self) -> None:
        for node_id in self.plan.cached:
            entry = self.cache.get(self.plan.signatures[node_id])
            if entry is None:  # evicted between planning and now: cannot happen single-threaded
                raise RuntimeError(f"cached output of node {node_id} vanished")
            self._record_outputs(node_id, entry.outputs)
            if entry.files or entry.images:
                self.result.images.setdefault(node_id, []).extend(entry.images)
            self.emit(NodeFinished(self.result.run_id, node_id, 0.0, None, None,
                                   tuple(entry.files), tuple(entry.images), cached=True))
        for node_id in self.plan.to_run:
            if self.cancel.cancelled:
                self.result.status = "cancelled"
                return
            broken_inputs = [link.source for link in self.graph.links_into(node_id)
                             if link.source in self.broken]
            if broken_inputs:
                self.broken.add(node_id)
                self.emit(NodeSkipped(self.result.run_id, node_id,
                                      f"node {broken_inputs[0]} failed"))
                continue
            if not self._run_node(node_id) and self.result.status == "cancelled":
                return
        if self.result.failed:
            self.result.status = "failed"
        self._add_upstream_outputs()

    def _add_upstream_outputs(self) -> None:
        """The outputs of the nodes a cached result stood in for (upstream of it, so not run),
        where the cache still holds them: a script that reads the decoded image after a re-run
        finds it there, as it did the first time."""
        for node_id in self.plan.order:
            if node_id not in self.result.outputs:
                entry = self.cache.get(self.plan.signatures[node_id])
                if entry is not None:
                    self._record_outputs(node_id, entry.outputs)

    def _run_node(self, node_id: str) -> bool:
        node = self.graph.node(node_id)
        node_type = self.registry.get(node.type)
        assert node_type is not None  # validated
        run_id = self.result.run_id
        gate = _EventGate(self.emit)
        context = RunContext(node_id, self.environment, self.cancel, gate.emit, run_id,
                             self.graph_document, self.image_metadata)
        self.emit(NodeStarted(run_id, node_id, node_type.id))
        started = time.perf_counter()
        ram_before, vram_before = node_memory.in_use()
        self.memory.start()
        try:
            kwargs = self._inputs(node_id, node_type)
            if node_type.wants_context:
                kwargs["ctx"] = context
            returned = self.node_thread.call(_scoped(node_type.function,
                                                     self.environment.node_scope),
                                             kwargs, self.cancel)
            outputs = _normalise(node_type, returned)
            check_outputs(node_type, outputs)
        except Cancelled:
            self.result.status = "cancelled"
            return False
        except NodeAbandoned as error:
            gate.close()  # its late progress and previews must not show on a finished run
            self._abandoned(node_id, str(error))
            return False
        except KeyboardInterrupt:
            raise  # Ctrl+C at a terminal is the person's wish, never a node's failure
        except BaseException as error:  # a node's sys.exit must not end the app
            if self.cancel.cancelled:
                self.result.status = "cancelled"
                return False
            self.broken.add(node_id)
            message = oom.recover(error, self.cache) or failure_message(error)
            if node.extra.get(PATH_KEY):  # an inner node of a subgraph: say where it sits
                message = f"{node.extra[PATH_KEY]}: {message}"
            self.result.failed[node_id] = message
            self.emit(NodeFailed(run_id, node_id, message, type(error).__name__,
                                 traceback.format_exc()))
            return False
        seconds = time.perf_counter() - started
        peak_ram, peak_vram = self.memory.stop()
        size = footprint(outputs)
        self.cache.put(self.plan.signatures[node_id],
                       CacheEntry(outputs, size, list(context.files), list(context.images)))
        self._record_outputs(node_id, outputs)
        self.result.executed.append(node_id)
        self.result.files.extend(context.files)
        if context.images:
            self.result.images.setdefault(node_id, []).extend(context.images)
        self.result.node_seconds[node_id] = seconds
        self.emit(NodeFinished(run_id, node_id, seconds, peak_ram, peak_vram,
                               tuple(context.files), tuple(context.images),
                               ram_added=node_memory.added(peak_ram, ram_before),
                               vram_added=node_memory.added(peak_vram, vram_before),
                               output_bytes=size.ram + size.vram))
        return True

    def _abandoned(self, node_id: str, message: str) -> None:
        self.memory.stop()
        self.result.status = "cancelled"
        self.result.abandoned.append(node_id)
        self.result.failed[node_id] = message
        self.emit(NodeFailed(self.result.run_id, node_id, message, "NodeAbandoned", ""))

    def _inputs(self, node_id: str, node_type: NodeType) -> dict[str, Any]:
        node = self.graph.node(node_id)
        values = widget_values(node, node_type)
        kwargs: dict[str, Any] = {}
        for spec in node_type.inputs:
            link = self.graph.link_into(node_id, spec.name)
            if link is not None:
                source_type = self.registry.get(self.graph.node(link.source).type)
                assert source_type is not None
                index = source_type.output_index(link.output)
                kwargs[spec.name] = self.values[link.source][index]  # type: ignore[index]
            else:
                kwargs[spec.name] = values.get(spec.name)
        return kwargs

    def _record_outputs(self, node_id: str, outputs: tuple[Any, ...]) -> None:
        self.values[node_id] = outputs
        node_type = self.registry.get(self.graph.node(node_id).type)
        assert node_type is not None
        self.result.outputs[node_id] = {
            spec.name: value for spec, value in zip(node_type.outputs, outputs, strict=False)
        }


class _EventGate:
    """A node's way to emit events, closed when the run walks away from the node."""

    __slots__ = ("_emit", "_open")

    def __init__(self, emit: EventSink) -> None:
        self._emit = emit
        self._open = True

    def emit(self, event: RunEvent) -> None:
        if self._open:
            self._emit(event)

    def close(self) -> None:
        self._open = False


def failure_message(error: BaseException, who: str = "the node") -> str:
    """Why a node (``who``, or other code of a run) failed, said for the artist."""
    if isinstance(error, SystemExit):
        # Node code is pack code run in-process: exiting would close the window or end the
        # CLI with the node's code and no word, so it becomes this node's failure instead.
        code = "" if error.code is None else repr(error.code)
        return (f"{who} called sys.exit({code}), which would have closed NodeStudio; "
                "it was stopped and counted as failed")
    message = str(error) or type(error).__name__
    if isinstance(error, NodeError):
        return message
    return f"{type(error).__name__}: {message}"


def _normalise(node_type: NodeType, returned: Any) -> tuple[Any, ...]:
    count = len(node_type.outputs)
    if count == 0:
        return ()
    if count == 1:
        return (returned,)
    if not isinstance(returned, tuple | list) or len(returned) != count:
        got = f"{len(returned)} values" if isinstance(returned, tuple | list) else "one value"
        raise TypeError(f"{node_type.id} returned {got}, but declares {count} outputs")
    return tuple(returned)


def _scoped(function: Callable[..., Any],
            scope: Callable[[], AbstractContextManager[Any]] | None) -> Callable[..., Any]:
    """``function`` run inside the environment's node scope (on the node's own thread)."""
    if scope is None:
        return function

    def run(**kwargs: Any) -> Any:
        with scope():
            return function(**kwargs)

    return run
