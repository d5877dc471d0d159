"""The executor: validation, planning, signature cache, events, cancellation. No Qt."""

from nodestudio.engine.cache import CacheEntry, OutputCache
from nodestudio.engine.cancel import CancelToken
from nodestudio.engine.context import NoModels, RunContext, RunEnvironment
from nodestudio.engine.events import (
    NodeFailed,
    NodeFinished,
    NodeProgress,
    NodeSkipped,
    NodeStarted,
    PlanReady,
    RunEvent,
    RunFinished,
    RunStarted,
    ValidationFailed,
)
from nodestudio.engine.executor import Executor, NodeExecutionError, RunResult
from nodestudio.engine.modes import resolve_modes
from nodestudio.engine.plan import Plan, make_plan, topological_order
from nodestudio.engine.signature import node_signature, signatures
from nodestudio.engine.sizing import Footprint, footprint
from nodestudio.engine.status import cache_states
from nodestudio.engine.validate import validate

__all__ = [
    "CacheEntry", "CancelToken", "Executor", "Footprint", "NoModels", "NodeExecutionError",
    "NodeFailed", "NodeFinished", "NodeProgress", "NodeSkipped", "NodeStarted", "OutputCache",
    "Plan", "PlanReady", "RunContext", "RunEnvironment", "RunEvent", "RunFinished", "RunResult",
    "RunStarted", "ValidationFailed", "cache_states", "footprint", "make_plan", "node_signature",
    "resolve_modes", "signatures", "topological_order", "validate",
]
