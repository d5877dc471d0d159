"""The `nodestudio` command: open the GUI, or run, validate and inspect graphs headless.

Exit codes of `run`: 0 done, 1 a node failed, 2 invalid graph (or bad arguments), 130
interrupted. `validate` exits 0 or 2.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nodestudio.app.run_output import JsonPrinter, ProgressPrinter, node_label
from nodestudio.graph.problems import GraphError, Problem

EXIT_OK, EXIT_NODE_FAILED, EXIT_INVALID, EXIT_INTERRUPTED = 0, 1, 2, 130
SUBCOMMANDS = ("run", "validate", "show", "nodes", "export", "farm")


def main(argv: Sequence[str] | None = None) -> int:
    from nodestudio.app.library_warnings import route_library_warnings

    argv = list(sys.argv[1:] if argv is None else argv)
    route_library_warnings()  # Pillow's, diffusers' and torch's notes are not the user's news
    if argv and argv[0] in SUBCOMMANDS:
        parser = _command_parser()
        args = parser.parse_args(argv)
        try:
            return int(args.handler(args))
        except BrokenPipeError:  # `nodestudio run … | head`: the reader left, so do we
            sys.stderr.close()
            return EXIT_OK
    return _open_gui(argv)


# -- GUI -----------------------------------------------------------------------------------------


def _gui_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nodestudio",
        description="NodeStudio: a node editor for controllable image generation. "
        "Without a command it opens the window; see `nodestudio run --help` for headless runs.",
        epilog="commands: " + ", ".join(SUBCOMMANDS),
    )
    parser.add_argument("graph", nargs="?", type=Path, help="graph file (or PNG) to open")
    parser.add_argument("--screenshot", type=Path, metavar="PNG",
                        help="open the window, save a screenshot once it is drawn, and exit")
    parser.add_argument("--models", type=Path, action="append", metavar="DIR",
                        help="models root (ComfyUI layout); may be given several times")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    parser.add_argument("--install-desktop", action="store_true",
                        help="add NodeStudio to the application menu (icon, graph file type) "
                        "for this user, and exit")
    parser.add_argument("--uninstall-desktop", action="store_true",
                        help="remove what --install-desktop added, and exit")
    return parser


def _open_gui(argv: list[str]) -> int:
    args = _gui_parser().parse_args(argv)
    if args.version or args.install_desktop or args.uninstall_desktop:
        return _desktop_command(args)  # none of these needs Qt or torch
    try:
        from nodestudio.ui.application import run_gui
    except ImportError as error:
        print(f"nodestudio: the window is not available in this build ({error}).\n"
              "Headless commands work: nodestudio run GRAPH, nodestudio validate GRAPH, "
              "nodestudio nodes.", file=sys.stderr)
        return EXIT_INVALID
    return int(run_gui(graph=args.graph, screenshot=args.screenshot, models=args.models))


def _desktop_command(args: argparse.Namespace) -> int:
    import nodestudio
    from nodestudio.app import desktop_install

    if args.version:
        print(f"nodestudio {nodestudio.__version__}")
        return EXIT_OK
    try:
        if args.install_desktop:
            report = desktop_install.install()
            print(f"installed {len(report.written)} files under {desktop_install.data_home()}")
        else:
            report = desktop_install.uninstall()
            print(f"removed {len(report.removed)} files" if report.removed
                  else "nothing to remove: the desktop files were not installed")
    except desktop_install.DesktopInstallError as error:
        print(f"nodestudio: {error}", file=sys.stderr)
        return EXIT_INVALID
    return EXIT_OK


# -- headless commands ---------------------------------------------------------------------------


def _device_argument(text: str) -> str:
    from nodestudio.app.devices import device_name_problem

    problem = device_name_problem(text)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return text.strip().lower()


def _add_run_parser(commands: Any) -> None:
    """``nodestudio run``: its options."""
    from nodestudio.app.settings import MEMORY_MODES

    run = commands.add_parser("run", help="run a graph and write its outputs")
    run.add_argument("graph", type=Path)
    run.add_argument("--set", dest="assignments", action="append", default=[],
                     metavar="NODE.INPUT=VALUE",
                     help="change a value before running (NODE: a node's id or title)")
    run.add_argument("--output", type=Path, metavar="DIR", help="folder for written images")
    run.add_argument("--input", type=Path, metavar="DIR", help="folder load-image names refer to")
    run.add_argument("--device", type=_device_argument, default=None,
                     metavar="auto|cpu|cuda|cuda:N|mps")
    run.add_argument("--only", action="append", default=[], metavar="NODE",
                     help="run only this output node and what it needs; may be given "
                     "several times")
    run.add_argument("--models", type=Path, action="append", metavar="DIR",
                     help="models root (ComfyUI layout); may be given several times")
    _add_extra_model_paths(run)
    _add_allow_path(run)
    run.add_argument("--json", action="store_true", help="print one JSON event per line")
    run.add_argument("--save-previews", action="store_true",
                     help="save what Preview Image nodes show, as preview_NNNNN_.png in the "
                          "output folder")
    run.add_argument("--memory-mode", choices=MEMORY_MODES,
                     default=None, help="how models are held on the GPU (default: the setting)")
    run.add_argument("--fast", action="store_true", default=None,
                     help="compile the denoiser with torch.compile (slow first run)")
    run.add_argument("--farm", metavar="ADDRESS", default=None,
                     help="run on a Ray render farm: ray://HOST:PORT, or auto for the one "
                     "`nodestudio farm start` started")
    run.add_argument("--sweep", dest="sweeps", action="append", default=[],
                     metavar="INPUT=VALUES", help="one run per value: seed=1..100, "
                     "positive.text=@prompts.txt, sampler.cfg=3,5,7; several multiply")
    run.set_defaults(handler=_run_command)


def _command_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nodestudio")
    commands = parser.add_subparsers(dest="command", required=True)

    _add_run_parser(commands)

    farm = commands.add_parser("farm", help="render farm (Ray) commands")
    farm_commands = farm.add_subparsers(dest="farm_command", required=True)
    start = farm_commands.add_parser("start", help="start a local Ray cluster head")
    start.add_argument("--port", type=int, default=6379)
    start.add_argument("--num-cpus", type=int, default=None)
    start.add_argument("--num-gpus", type=int, default=None)
    start.add_argument("--client-port", type=int, default=10001,
                       help="where NodeStudio on other machines connects: ray://HOST:PORT")
    start.set_defaults(handler=_farm_command)

    validate = commands.add_parser("validate", help="check a graph without running it")
    validate.add_argument("graph", type=Path)
    validate.add_argument("--models", type=Path, action="append", metavar="DIR",
                          help="models root (ComfyUI layout); may be given several times")
    _add_extra_model_paths(validate)
    _add_allow_path(validate)
    validate.add_argument("--json", action="store_true")
    validate.set_defaults(handler=_validate_command)

    show = commands.add_parser(
        "show", help="list a graph's nodes in run order, with the ids, inputs and values "
                     "--set and --only take")
    show.add_argument("graph", type=Path)
    show.add_argument("--json", action="store_true",
                      help="print the nodes (type, title, mode, values, links) as JSON")
    show.set_defaults(handler=_show_command)

    nodes = commands.add_parser(
        "nodes", help="list node types (or those a search finds, or one in full) and packs "
                      "that failed to load")
    nodes.add_argument("search", nargs="*", metavar="WORD",
                       help="words each listed type has in its id, name, category, pack or "
                            "description; a type's id or name shows that type in full")
    nodes.add_argument("--json", action="store_true",
                       help="print the types (each with its inputs and outputs), packs and "
                            "failed packs as JSON")
    nodes.set_defaults(handler=_nodes_command)

    export = commands.add_parser("export", help="convert a graph to another tool's format")
    export.add_argument("graph", type=Path)
    export.add_argument("--comfy-api", type=Path, metavar="OUT",
                        help="write ComfyUI's API prompt JSON")
    export.add_argument("--comfy-workflow", type=Path, metavar="OUT",
                        help="write a ComfyUI workflow (what ComfyUI saves and opens, with "
                             "the layout)")
    export.add_argument("--flat-subgraphs", action="store_true",
                        help="write subgraph instances as their nodes, for a ComfyUI from "
                             "before subgraphs")
    export.set_defaults(handler=_export_command)
    return parser


def _add_extra_model_paths(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--extra-model-paths", type=Path, action="append", default=[],
                        metavar="FILE", help="a ComfyUI extra_model_paths.yaml naming more "
                        "model folders; may be given several times")


def _add_allow_path(parser: argparse.ArgumentParser) -> None:
    # A shared graph reads only the input, models and example folders; anything else the
    # user names here (see nodestudio/app/path_rules.py).
    parser.add_argument("--allow-path", dest="allow_paths", type=Path, action="append",
                        default=[], metavar="DIR", help="let the graph read files in this "
                        "folder too (images, models); may be given several times")


def _loaded_settings() -> Any:
    """The user's settings; what settings.json holds that cannot be used is said on stderr
    (a typo there would otherwise switch a setting off without a word)."""
    from nodestudio.app.settings import Settings

    settings = Settings.load()
    for problem in settings.problems:
        print(f"warning: {problem}", file=sys.stderr)
    return settings


def _session(args: argparse.Namespace) -> Any:
    from nodestudio.app.formats import read_extra_model_paths
    from nodestudio.app.path_rules import named_folder_warnings
    from nodestudio.app.session import Session

    settings = _loaded_settings()
    if getattr(args, "memory_mode", None):
        settings.memory_mode = args.memory_mode
    if getattr(args, "fast", None):
        settings.fast = True
    for path in getattr(args, "extra_model_paths", []):
        read_extra_model_paths(path, strict=True)  # a file named on the command line must read
        settings.extra_model_paths.append(path)
    named = [("--models", folder) for folder in getattr(args, "models", None) or []]
    if getattr(args, "input", None):
        named.append(("--input", args.input))
    for warning in named_folder_warnings(named):
        print(f"warning: {warning}", file=sys.stderr)
    return Session(
        device=getattr(args, "device", None),
        models_dir=getattr(args, "models", None),
        output_dir=getattr(args, "output", None),
        input_dir=getattr(args, "input", None),
        settings=settings,
        allowed_paths=getattr(args, "allow_paths", []),
    )


def _run_command(args: argparse.Namespace) -> int:
    from nodestudio.app.session import RunCancelledError
    from nodestudio.engine.cancel import CancelToken
    from nodestudio.engine.executor import NodeExecutionError

    printer = JsonPrinter(sys.stdout) if args.json else ProgressPrinter(sys.stdout)
    try:
        session = _session(args)
    except ValueError as error:
        printer.invalid(str(error), [], heading="nodestudio run")
        return EXIT_INVALID
    # Options that cannot work are refused now, not after a render that took minutes.
    from nodestudio.app.run_options import (
        apply_assignments,
        check_only,
        option_problems,
        preview_only_note,
        save_previews,
    )

    problems = option_problems(session)
    if problems:
        printer.invalid("invalid options", problems, heading="nodestudio run")
        return EXIT_INVALID
    try:
        graph = session.load_graph(args.graph)
        apply_assignments(graph, session.registry, args.assignments)
        args.only = check_only(graph, session.registry, args.only)  # titles become ids
        if args.save_previews:
            save_previews(graph, session.registry)
    except GraphError as error:
        # The file that cannot be read, or --set and --only that do not fit the graph.
        printer.invalid(error.summary, error.problems, heading="nodestudio run")
        return EXIT_INVALID
    printer.warnings([*graph.load_warnings, *session.warnings(graph)])
    printer.titles = {node.id: node_label(node, session.registry) for node in graph}
    if getattr(args, "farm", None) or getattr(args, "sweeps", None):
        from nodestudio.app.farm.cli import run_jobs

        return run_jobs(session, graph, args.sweeps, args.farm, tuple(args.only) or None,
                        args.json)
    cancel = CancelToken()

    def interrupt(signum: int, frame: Any) -> None:
        if cancel.cancelled:  # a second Ctrl+C: stop now
            raise KeyboardInterrupt
        cancel.cancel()

    previous = signal.signal(signal.SIGINT, interrupt)
    try:
        result = session.run(graph, outputs=args.only or None, on_event=printer.event,
                             cancel=cancel)
    except GraphError as error:
        printer.invalid(error.summary, error.problems)
        return EXIT_INVALID
    except NodeExecutionError:
        return EXIT_NODE_FAILED
    except (RunCancelledError, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    finally:
        signal.signal(signal.SIGINT, previous)
    note = preview_only_note(graph, session.registry, result)
    if note is not None:  # before the last event, which tools read as the end
        printer.warnings([note])
    printer.done(result)
    return EXIT_OK


def _farm_command(args: argparse.Namespace) -> int:
    from nodestudio.app.farm.cli import farm_start

    return farm_start(args.port, args.num_cpus, args.num_gpus, args.client_port)


def _validate_command(args: argparse.Namespace) -> int:
    try:
        session = _session(args)
    except ValueError as error:
        print(f"nodestudio validate: {error}", file=sys.stderr)
        return EXIT_INVALID
    warnings: list[Problem] = []
    try:
        graph = session.load_graph(args.graph)
    except GraphError as error:
        # The reader's summary already names the file ("a.json: unrecognised graph format").
        problems = error.problems
        heading = error.summary
    else:
        problems = session.validate(graph)
        heading = f"{args.graph}: {len(problems)} problem(s)"
        warnings = [*graph.load_warnings, *session.warnings(graph)]
    if args.json:  # one document for tools: the warnings in it, not beside it on stderr
        print(json.dumps({"valid": not problems, "problems": [p.to_json() for p in problems],
                          "warnings": [w.to_json() for w in warnings]}))
        return EXIT_INVALID if problems else EXIT_OK
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if problems:
        print(heading)
        for problem in problems:
            print(f"  - {problem}")
    else:
        print(f"{args.graph}: valid")
    return EXIT_INVALID if problems else EXIT_OK


def _show_command(args: argparse.Namespace) -> int:
    from nodestudio.app.formats import read_graph
    from nodestudio.app.graph_listing import graph_json, graph_lines
    from nodestudio.app.packs import create_registry

    registry = create_registry(user_packs_dir=_loaded_settings().user_packs_dir)
    try:
        graph = read_graph(args.graph, registry)
    except GraphError as error:
        print(f"nodestudio show: {error}", file=sys.stderr)
        return EXIT_INVALID
    if args.json:
        print(json.dumps({**graph_json(graph, registry),
                          "warnings": [w.to_json() for w in graph.load_warnings]},
                         indent=2, ensure_ascii=False))
        return EXIT_OK
    for warning in graph.load_warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print("\n".join(graph_lines(graph, registry)))
    return EXIT_OK


def _nodes_command(args: argparse.Namespace) -> int:
    from nodestudio.app.node_listing import (
        closest_word,
        comfy_counterparts,
        describe,
        exact,
        matching,
    )
    from nodestudio.app.packs import create_registry

    registry = create_registry(user_packs_dir=_loaded_settings().user_packs_dir)
    query = " ".join(args.search)
    one = exact(registry, query) if query else None
    found = [one] if one is not None else matching(registry, query)
    comfy = comfy_counterparts(registry, query) if query and not found else None
    if comfy is not None and comfy[1]:  # a ComfyUI user's name: what it becomes here
        found = comfy[1]
        one = found[0] if len(found) == 1 else None
        if not args.json:
            names = " and ".join(f"{t.display_name} ({t.id})" for t in found)
            print(f"ComfyUI's {comfy[0]} becomes {names} when a workflow is imported:")
    if args.json:
        print(json.dumps({
            "nodes": [node_type.to_json() for node_type in found],
            "packs": [{"name": p.name, "source": p.source, "version": p.version,
                       "nodes": list(p.node_ids)} for p in registry.packs],
            "failed_packs": [{"name": f.name, "source": f.source, "message": f.message,
                              "traceback": f.traceback} for f in registry.failures],
        }, indent=2))
        return EXIT_OK
    if one is not None:
        print("\n".join(describe(one)))
        return EXIT_OK
    if not found:
        word = closest_word(registry, query)
        hint = f" (did you mean {word!r}?)" if word else ""
        print(f"nodestudio nodes: no node type has all of: {query}{hint}", file=sys.stderr)
        for failure in registry.failures:  # the type looked for may be in one of them
            print(f"failed pack {failure.name} ({failure.source}): {failure.message}",
                  file=sys.stderr)
        return EXIT_INVALID
    listed = {node_type.id for node_type in found}
    for category, node_types in registry.by_category().items():
        shown = [node_type for node_type in node_types if node_type.id in listed]
        if shown:
            print(f"{category}:")
        for node_type in shown:
            print(f"  {node_type.id:34} {node_type.display_name}")
    for failure in registry.failures:
        print(f"failed pack {failure.name} ({failure.source}): {failure.message}")
    return EXIT_OK


def _export_command(args: argparse.Namespace) -> int:
    if args.comfy_api is None and args.comfy_workflow is None:
        print("nodestudio export: say which format, e.g. --comfy-workflow OUT.json or "
              "--comfy-api OUT.json", file=sys.stderr)
        return EXIT_INVALID
    try:
        from nodestudio.interop.comfy import export_api_prompt, export_ui_workflow
    except ImportError:
        print("nodestudio export: ComfyUI export is not available in this build",
              file=sys.stderr)
        return EXIT_INVALID
    try:
        session = _session(args)
    except ValueError as error:
        print(f"nodestudio export: {error}", file=sys.stderr)
        return EXIT_INVALID

    def workflow(graph: Any, registry: Any) -> dict[str, Any]:
        return export_ui_workflow(graph, registry, subgraphs=not args.flat_subgraphs)

    writes = [(out, export) for out, export in ((args.comfy_api, export_api_prompt),
                                                (args.comfy_workflow, workflow))
              if out is not None]
    from nodestudio.app.path_rules import export_target_problem

    refusal = export_target_problem([out for out, _ in writes])
    if refusal:
        print(f"nodestudio export: {refusal}", file=sys.stderr)
        return EXIT_INVALID
    try:
        graph = session.load_graph(args.graph)
        documents = [(out, export(graph, session.registry)) for out, export in writes]
    except GraphError as error:
        # A reading error names the file already ("a.json: unrecognised graph format").
        print(f"nodestudio export: {error}", file=sys.stderr)
        return EXIT_INVALID
    from nodestudio.app.path_rules import write_failure_reason
    from nodestudio.graph.files import write_atomic

    for out, document in documents:
        text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
        try:
            # Atomic: an export over an existing file never leaves half of one.
            write_atomic(out, text.encode("utf-8"))
        except OSError as error:
            print(f"nodestudio export: cannot write {out}: {write_failure_reason(error, out)}",
                  file=sys.stderr)
            return EXIT_INVALID
        print(f"wrote {out}")
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
