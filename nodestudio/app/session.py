"""Session: the Python API for running graphs headless, shared by the CLI and the GUI.

    session = nodestudio.Session(device="auto", models_dir="~/models")
    result = session.run(graph)            # result.executed, result.cached, result.outputs …
    graph.set_value(node_id, "seed", 7)
    again = session.run(graph)             # only the changed node and what is downstream run
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from collections.abc import Iterable
from pathlib import Path

from nodestudio.api.registry import NodeRegistry
from nodestudio.app.backends import ExecutionBackend, open_backend
from nodestudio.app.choices import available_choices
from nodestudio.app.devices import device_name_problem, resolve_device
from nodestudio.app.formats import image_metadata, read_graph
from nodestudio.app.models import ModelLibrary
from nodestudio.app.packs import create_registry
from nodestudio.app.path_rules import (
    INPUT_FILES_SOURCE,
    OutsidePath,
    model_problems,
    normalized,
    output_problems,
    outside_paths,
    readable_roots,
    resolve_image_name,
)
from nodestudio.app.run_options import nodes_named
from nodestudio.app.settings import Settings, data_dir
from nodestudio.engine.cache import OutputCache
from nodestudio.engine.cancel import CancelToken
from nodestudio.engine.context import RunEnvironment
from nodestudio.engine.executor import EventSink, Executor, NodeExecutionError, RunResult
from nodestudio.engine.plan import check_graph, effective_graph
from nodestudio.engine.slow_sizes import slow_size_warnings
from nodestudio.engine.status import CacheState, cache_states
from nodestudio.engine.unrun import unrunnable_outputs
from nodestudio.engine.unused_values import unused_value_warnings
from nodestudio.engine.validate import missing_choice_message, needed_nodes
from nodestudio.graph import files
from nodestudio.graph.model import Graph
from nodestudio.graph.problems import GraphValidationError, Problem
from nodestudio.graph.subgraph_flatten import flatten

_GIB = 1024**3


class RunCancelledError(Exception):
    def __init__(self, result: RunResult) -> None:
        self.result = result
        super().__init__("the run was cancelled")


class Session:
    """A registry, a model library, an output cache and an executor that live across runs."""

    def __init__(
        self,
        device: str | None = None,
        models_dir: str | os.PathLike[str] | Iterable[str | os.PathLike[str]] | None = None,
        *,
        output_dir: str | os.PathLike[str] | None = None,
        input_dir: str | os.PathLike[str] | None = None,
        registry: NodeRegistry | None = None,
        settings: Settings | None = None,
        cache: OutputCache | None = None,
        allowed_paths: Iterable[str | os.PathLike[str]] = (),
    ) -> None:
        if settings is None:
            settings = Settings.load()
            # A script's Session reads settings.json itself (the command and the window load
            # it and say these their own way).
            for problem in settings.problems:
                logging.getLogger("nodestudio.settings").warning(problem)
        self.settings = settings
        if device is not None:
            refusal = device_name_problem(device)
            if refusal:  # said here, at the script's line, not at the first node on a device
                raise ValueError(f"device {refusal}")
            self.settings.device = device
        if models_dir is not None:
            roots = [models_dir] if isinstance(models_dir, str | os.PathLike) else models_dir
            self.settings.models_dirs = [Path(root).expanduser() for root in roots]
        if output_dir is not None:
            self.settings.output_dir = Path(output_dir).expanduser()
        if input_dir is not None:
            self.settings.input_dir = Path(input_dir).expanduser()
        #: Folders outside the input, output and models folders that graphs may read from,
        #: with the user's consent (--allow-path, the window's prompt): see app/path_rules.py.
        self.allowed_paths = [normalized(Path(folder)) for folder in allowed_paths]
        self.registry = registry or create_registry(user_packs_dir=self.settings.user_packs_dir)
        self.models = ModelLibrary(self.settings.models_dirs,
                                   _extra_model_folders(self.settings.extra_model_paths),
                                   allowed=self.allowed_paths)
        self.executor = Executor(self.registry, cache or _default_cache(self.settings))
        _apply_performance_settings(self.settings)
        self.logger = logging.getLogger("nodestudio.session")
        self._device: str | None = None

    @property
    def cache(self) -> OutputCache:
        return self.executor.cache

    @property
    def device(self) -> str:
        """The concrete device runs use (resolving "auto" imports torch, once)."""
        if self._device is None:
            self._device = resolve_device(self.settings.device)
        return self._device

    def environment(self) -> RunEnvironment:
        return RunEnvironment(
            device=lambda: self.device,
            models=self.models,
            output_dir=self.settings.output_dir,
            input_dir=self.settings.input_dir,
            readable_roots=readable_roots(self.settings.input_dir, self.allowed_paths),
            logger=logging.getLogger("nodestudio.run"),
            node_scope=_memory_node_scope,
        )

    def load_graph(self, path: str | os.PathLike[str]) -> Graph:
        return read_graph(Path(path), self.registry)

    def choices(self, source: str) -> list[str] | None:
        """What an input whose list comes from the environment may hold ("models:checkpoints",
        "files:input")."""
        return available_choices(source, self.models, self.settings.input_dir)

    def validate(self, graph: Graph) -> list[Problem]:
        """Every problem that stops ``graph`` from running, the named models and images missing
        included (the window and ``nodestudio validate`` both ask this)."""
        effective, problems = check_graph(graph, self.registry, choices=self.choices)
        problems = _without_allowed_images(problems, effective, self.registry, self.settings)
        return [*_naming_model_folders(problems, effective, self.registry, self.models),
                *self.path_problems(effective)]

    def warnings(self, graph: Graph) -> list[Problem]:
        """What would let ``graph`` run but badly: sizes far beyond what the device renders in
        reasonable time (kind "slow"), and outputs that cannot run because their node type is
        not installed (each once: an importer may have named them already). Never imports
        torch to learn the device."""
        known = {(w.kind, w.node_id) for w in graph.load_warnings}
        unrun = [problem for problem in unrunnable_outputs(graph, self.registry)
                 if (problem.kind, problem.node_id) not in known]
        return [*unrun, *slow_size_warnings(graph, self.registry, self._device_kind())]

    def _device_kind(self) -> str:
        if self._device is not None:
            return self._device
        setting = (self.settings.device or "auto").strip().lower()
        if setting != "auto":
            return setting
        if "torch" in sys.modules:  # already paid for: ask it
            return self.device
        # A guess that costs nothing: an NVIDIA driver or a Mac means an accelerator.
        has_gpu = Path("/proc/driver/nvidia/version").exists() or sys.platform == "darwin"
        return "cuda" if has_gpu else "cpu"

    def outside_paths(self, graph: Graph) -> list[OutsidePath]:
        """The pictures ``graph`` reads outside the folders it may use without consent."""
        return outside_paths(graph, self.registry, self.settings.input_dir, self.allowed_paths)

    def path_problems(self, graph: Graph) -> list[Problem]:
        """What ``graph`` would touch outside its folders (pictures, models) and save nodes
        that cannot write in the output folder: refused before anything runs."""
        labels = {node.id: _label(node, self.registry) for node in graph}
        outside = self.outside_paths(graph)
        return [*(item.problem(labels[item.node_id]) for item in outside),
                *model_problems(graph, self.registry, self.models),
                *output_problems(graph, self.registry, Path(self.settings.output_dir))]

    def cache_states(self, graph: Graph) -> dict[str, CacheState]:
        """Per node: "cached", "stale" or "unknown" — what a run would reuse, without running."""
        # Subgraph instances report per inner node, under their flat ids ("7/3").
        return cache_states(flatten(graph, self.registry).graph, self.registry, self.cache,
                            self.environment())

    def backend(self, farm: str | None = None) -> ExecutionBackend:
        """Where queued jobs run: this machine (``farm`` None) or the Ray render farm at
        ``farm`` ("auto", ray://HOST:PORT); the same submit / wait / cancel either way
        (app/backends.py). Ray is imported only for a farm."""
        return open_backend(self, farm)

    def run(
        self,
        graph: Graph | str | os.PathLike[str],
        *,
        outputs: Iterable[str] | None = None,
        on_event: EventSink | None = None,
        cancel: CancelToken | None = None,
        check: bool = True,
    ) -> RunResult:
        """Run ``graph`` (a Graph, or a graph file's path) and return what happened.

        ``outputs`` (node ids or titles) runs only those nodes and what they need. Raises
        GraphValidationError (nothing ran) when the graph is invalid; with ``check`` (the
        default) also NodeExecutionError when a node failed and RunCancelledError when the run
        was cancelled — the result is on the exception's ``result``. A value set for an input
        the node does not have (a typo) is a UserWarning: the run goes on without it.
        """
        graph = self._graph_to_run(graph)
        effective, _, _ = effective_graph(graph, self.registry)
        for warning in unused_value_warnings(effective, self.registry):
            # The caller's line, as Python's own warnings name it: a script's typo is there.
            warnings.warn(str(warning), UserWarning, stacklevel=2)
        if outputs is not None:
            # By id or by title, as `--only` takes them; a name of neither is left for
            # validation to report (with the node it likely meant).
            outputs = [found for name in outputs for found in nodes_named(graph, name) or [name]]
            effective = effective.subgraph(needed_nodes(effective, outputs))
        problems = self.path_problems(effective)
        if problems:
            raise GraphValidationError(f"the graph has {len(problems)} problem(s)", problems)
        result = self.executor.run(
            graph, self.environment(), outputs=outputs, on_event=on_event, cancel=cancel,
            graph_document=files.to_document(graph),
            image_metadata=image_metadata(graph, self.registry),
        )
        if check and result.status == "failed":
            raise NodeExecutionError(result)
        if check and result.status == "cancelled":
            raise RunCancelledError(result)
        return result

    def _graph_to_run(self, graph: object) -> Graph:
        if isinstance(graph, Graph):
            return graph
        if isinstance(graph, (str, os.PathLike)):
            return self.load_graph(graph)
        raise TypeError("Session.run takes a Graph or the path of a graph file, not "
                        f"{type(graph).__name__}")


def _memory_node_scope() -> contextlib.AbstractContextManager[None]:
    """What the memory mode does around each node (runtime/memory_manager.py; no torch)."""
    from nodestudio.runtime import memory_manager

    return memory_manager.node_scope()


def _apply_performance_settings(settings: Settings) -> None:
    """Memory mode and fast mode are process-wide (one GPU per process); neither imports torch."""
    from nodestudio.runtime import fast_mode, memory_manager

    memory_manager.configure(settings.memory_mode)
    fast_mode.configure(settings.fast, cache_dir=data_dir() / "cache" / "torch-compile")


def _default_cache(settings: Settings) -> OutputCache:
    ram = settings.ram_cache_gib * _GIB if settings.ram_cache_gib else _half_of_ram()
    vram = settings.vram_cache_gib * _GIB if settings.vram_cache_gib else None
    return OutputCache(ram_budget=int(ram) if ram else None,
                       vram_budget=int(vram) if vram else None)


def _half_of_ram() -> int | None:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2
    except (ValueError, OSError, AttributeError):
        return None


def _extra_model_folders(yaml_files: list[Path]) -> dict[str, list[Path]]:
    """Extra model folders from ComfyUI ``extra_model_paths.yaml`` files (see formats)."""
    from nodestudio.app.formats import read_extra_model_paths

    folders: dict[str, list[Path]] = {}
    for path in yaml_files:
        for kind, paths in read_extra_model_paths(path).items():
            folders.setdefault(kind, []).extend(paths)
    return folders



def _label(node: object, registry: NodeRegistry) -> str:
    """"Load Image (node 3)": how problems name the node an artist has to look at."""
    node_type = registry.get(getattr(node, "type", ""))
    name = getattr(node, "title", None) or (node_type.display_name if node_type else "node")
    return f"{name} (node {getattr(node, 'id', '?')})"


def _missing_choice(problem: Problem, graph: Graph,
                    registry: NodeRegistry) -> tuple[str, object] | None:
    """(choices source, value) of a "missing_choice" problem, None for any other problem."""
    node = graph.nodes.get(problem.node_id or "")
    node_type = registry.get(node.type) if node is not None else None
    spec = node_type.input(problem.input) if node_type and problem.input else None
    if problem.kind != "missing_choice" or node is None or spec is None:
        return None
    return spec.choices_source or "", node.values.get(spec.name, spec.default)


def _retold(problem: Problem, old: str, new: str) -> Problem:
    return Problem(problem.message.replace(old, new), problem.node_id, problem.input,
                   problem.kind)


def _naming_model_folders(problems: list[Problem], graph: Graph, registry: NodeRegistry,
                          models: ModelLibrary) -> list[Problem]:
    """A missing model says the folder to put it in (the first its kind is looked for in),
    not the name of the list it was looked up in ("models:diffusion_models")."""
    named = []
    for problem in problems:
        missing = _missing_choice(problem, graph, registry)
        if missing is not None and missing[0].startswith("models:"):
            source, value = missing
            folders = models.folders(source.partition(":")[2])
            if folders:
                said = (missing_choice_message(value, source, folders[0]) if value else
                        f"no model chosen: pick one, or put one in {folders[0]}")
                problem = _retold(problem, missing_choice_message(value, source), said)
        named.append(problem)
    return named


def _without_allowed_images(problems: list[Problem], graph: Graph, registry: NodeRegistry,
                            settings: Settings) -> list[Problem]:
    """Drop "not available" for pictures named by path that exist: whether the graph may read
    them is the path rules' question (path_problems), not the input folder's listing."""
    kept = []
    for problem in problems:
        missing = _missing_choice(problem, graph, registry)
        if missing is not None and missing[0] == INPUT_FILES_SOURCE:
            value = missing[1]
            if isinstance(value, str) and resolve_image_name(value, settings.input_dir).is_file():
                continue
            # Say where the picture belongs, not the name of the list it was looked up in.
            problem = _retold(problem, missing_choice_message(value, INPUT_FILES_SOURCE),
                              missing_choice_message(value, INPUT_FILES_SOURCE,
                                                     Path(settings.input_dir)))
        kept.append(problem)
    return kept
