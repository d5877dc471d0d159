"""`nodestudio farm start` and `nodestudio run GRAPH --farm ADDRESS --sweep …`.

Kept out of nodestudio/cli.py so the plain `run` path never imports any of this; Ray itself is
imported only when a farm is started or used.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from nodestudio.app.backends import open_backend
from nodestudio.app.farm.connection import RAY_TOKEN_FILE
from nodestudio.app.farm.sweep import Sweep, expand, parse_sweep
from nodestudio.graph.problems import GraphError, Problem

EXIT_OK, EXIT_NODE_FAILED, EXIT_INVALID, EXIT_INTERRUPTED = 0, 1, 2, 130
#: Where `farm start` has Ray listen for the Ray Client (ray://HOST:PORT): Ray's own default.
DEFAULT_CLIENT_PORT = 10001


def parse_sweeps(texts: list[str]) -> list[Sweep]:
    """Every ``--sweep``; GraphError listing every bad one."""
    sweeps, problems = [], []
    for text in texts:
        try:
            sweeps.append(parse_sweep(text))
        except ValueError as error:
            problems.append(Problem(str(error), kind="usage"))
    if problems:
        raise GraphError("invalid --sweep", problems)
    return sweeps


def run_jobs(session: Any, graph: Any, sweeps: list[str], address: str | None,
             outputs: tuple[str, ...] | None, as_json: bool) -> int:
    """Run ``graph`` once per sweep combination on the chosen backend; print files and errors."""
    from nodestudio.app.farm.connection import FarmError

    try:
        runs = expand(graph, session.registry, parse_sweeps(sweeps))
    except GraphError as error:
        _say(as_json, "invalid_graph", error.summary, [str(p) for p in error.problems])
        return EXIT_INVALID
    try:
        backend = open_backend(session, address)
    except (FarmError, ImportError) as error:
        message = (str(error) if isinstance(error, FarmError) else
                   'the farm needs Ray: pip install "nodestudio[farm]"')
        _say(as_json, "invalid_options", message, [])
        return EXIT_INVALID
    if not as_json:
        _tell_waits(backend)
    try:
        handles = [backend.submit(copy, outputs=outputs, metadata={"values": values})
                   for copy, values in runs]
        failed = 0
        for handle, result in zip(handles, backend.wait_all(handles), strict=True):
            failed += _report(handle, result, as_json)
    except KeyboardInterrupt:
        for handle in handles:
            backend.cancel(handle)
        return EXIT_INTERRUPTED
    finally:
        backend.shutdown()
    return EXIT_NODE_FAILED if failed else EXIT_OK


def _tell_waits(backend: Any) -> None:
    """Say once, on stderr, why nothing happens yet when the farm's new workers are still
    starting (they import torch and diffusers first), so a quiet terminal is explained."""
    told: list[str] = []

    def listen(event: Any) -> None:
        message = event.data.get("message") if event.kind == "waiting" else None
        if message and not told:
            told.append(message)
            print(f"farm: {message}", file=sys.stderr, flush=True)

    backend.subscribe(listen)


def _report(handle: Any, result: Any, as_json: bool) -> int:
    values = result.metadata.get("values", {}) if result else {}
    if as_json:
        print(json.dumps({"event": "job", "job": handle.id, "status": handle.status,
                          "values": values, "worker": result.metadata.get("worker")
                          if result else None, "error": result.error if result else None,
                          "files": [str(p) for p in result.files] if result else []}),
              flush=True)
    elif result is not None and result.ok:
        for path in result.files:
            print(f"wrote {path}" + (f"  ({_values(values)})" if values else ""), flush=True)
    else:
        error = result.error if result is not None else "no result"
        print(f"error: job {handle.id} ({_values(values)}): {error}", file=sys.stderr)
    return 0 if result is not None and result.ok else 1


def _values(values: dict[str, Any]) -> str:
    return ", ".join(f"{key}={value}" for key, value in values.items())


def _say(as_json: bool, event: str, message: str, details: list[str]) -> None:
    if as_json:
        print(json.dumps({"event": event, "message": message, "problems": details}))
    else:
        print(f"nodestudio run: {message}", file=sys.stderr)
        for detail in details:
            print(f"  - {detail}", file=sys.stderr)


def farm_start(port: int, num_cpus: int | None, num_gpus: int | None,
               client_port: int = DEFAULT_CLIENT_PORT) -> int:
    """Start a local Ray head (`ray start --head`) and print how to use and join it.

    The farm runs whatever graph it is sent, so it asks for Ray's token (made here when this
    machine has none) unless the user set RAY_AUTH_MODE=disabled; Ray's usage statistics
    stay off unless the user turned them on."""
    ray_command = shutil.which("ray") or str(Path(sys.executable).with_name("ray"))
    if not Path(ray_command).exists():
        print('nodestudio farm start: Ray is not installed: pip install "nodestudio[farm]"',
              file=sys.stderr)
        return EXIT_INVALID
    env = dict(os.environ)
    env.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    token_auth = env.get("RAY_AUTH_MODE", "").strip().lower() != "disabled"
    if token_auth:
        env["RAY_AUTH_MODE"] = "token"
        # Prints the token: kept off the terminal, which may be shared or recorded.
        made = subprocess.run([ray_command, "get-auth-token", "--generate"],
                              capture_output=True, text=True, env=env)
        if made.returncode != 0:
            print("nodestudio farm start: Ray could not make its token "
                  f"({_last_line(made.stderr)})", file=sys.stderr)
            return EXIT_INVALID
    command = [ray_command, "start", "--head", f"--port={port}",
               f"--ray-client-server-port={client_port}", "--include-dashboard=false"]
    if env["RAY_USAGE_STATS_ENABLED"] == "0":
        command.append("--disable-usage-stats")
    if num_cpus is not None:
        command.append(f"--num-cpus={num_cpus}")
    if num_gpus is not None:
        command.append(f"--num-gpus={num_gpus}")
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        print(f"nodestudio farm start: Ray could not start a head node on port {port} "
              f"({_last_line(done.stderr)}); is one already running? (`ray stop` ends it)",
              file=sys.stderr)
        return EXIT_INVALID
    print("\n".join(_farm_started_lines(port, client_port, token_auth,
                                         _node_ip(done.stdout + done.stderr))))
    return EXIT_OK


def _node_ip(ray_output: str) -> str:
    """The address Ray chose for this head ("Local node IP: 192.168.1.20" in its output), so
    the printed commands can be pasted as they are; a placeholder when Ray did not say."""
    found = re.search(r"Local node IP: ([0-9A-Fa-f:.]+)", ray_output)
    return found.group(1) if found else "<this machine's IP>"


def _farm_started_lines(port: int, client_port: int, token_auth: bool,
                        ip: str = "<this machine's IP>") -> list[str]:
    joining = "RAY_AUTH_MODE=token ray start" if token_auth else "ray start"
    lines = ["farm started: run graphs on it with  nodestudio run GRAPH --farm auto"]
    if token_auth:
        lines.append(f"it asks for this machine's Ray token: copy {RAY_TOKEN_FILE} to every "
                     "machine that joins it or sends it jobs")
    lines.append(f"other machines join with  {joining} --address={ip}:{port}")
    sending = ("NodeStudio elsewhere sends jobs with  "
               f"--farm ray://{ip}:{client_port}")
    if token_auth:
        sending += ' and "farm_send_token": true in its settings.json'
    lines += [sending, "stop it with  ray stop"]
    return lines


def _last_line(text: str) -> str:
    """Ray's reason from its stderr: the last "…Error: reason" line (Ray prints a traceback,
    then hints), else the last line."""
    lines = text.strip().splitlines() or ["no output"]
    reasons = [line.split(": ", 1)[1] for line in lines
               if re.match(r"^[A-Za-z_.]*(Error|Exception): ", line)]
    return reasons[-1] if reasons else lines[-1]
