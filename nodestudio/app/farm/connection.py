"""Joining a Ray cluster quietly, and saying plainly why a farm cannot be reached.

Ray writes its own log lines and Python warnings to the terminal as it connects ("Connecting
to existing Ray cluster…", "Token authentication is enabled…", the Ray Client's kwargs and the
server's log stream); a NodeStudio user sees NodeStudio's lines only, and a failure as one
FarmError that says what to do. Ray's usage statistics stay off unless the user turned them on:
NodeStudio makes no network call of its own accord.

Ray ≥ 2.52 protects a cluster with a token (``~/.ray/auth_token``). Ray sends it to a cluster
it finds by itself ("auto") but never to an address given explicitly unless
``RAY_AUTH_MODE=token`` is set, so that a mistyped address cannot collect the token;
NodeStudio keeps that rule and names it when an explicit address does not answer.
"""

from __future__ import annotations

import logging
import os
import warnings
from typing import Any

#: Where Ray keeps the cluster token it sends when token authentication is on.
RAY_TOKEN_FILE = "~/.ray/auth_token"
#: The logger through which the Ray Client relays the server's log records: it does not
#: propagate, has no handler (Python's last-resort handler prints its warnings bare) and the
#: client sets its level to INFO as it connects.
_RELAYED_LOGGER = "ray.util.client.logsclient"
#: What Ray's client proxy answers when the per-client server it started died at once: it
#: forks that server while its own gRPC threads run, and the child sometimes loses its epoll
#: descriptor ("epoll_wait error: Bad file descriptor" in its log). A second connection gets
#: a fresh server, so NodeStudio tries once more before it reports the failure.
_PROXY_SERVER_DIED = "Starting Ray client server failed"


class FarmError(Exception):
    """The farm cannot be reached or used; the message says what to do."""


def connect(address: str = "auto", *, send_token: bool = False, **init_kwargs: Any) -> bool:
    """Join the Ray cluster at ``address`` ("auto": the one `nodestudio farm start` started,
    "local": a private one in this process, "ray://HOST:PORT": through the Ray Client, or a
    head's HOST:PORT); True when this call started Ray. ``send_token`` (the farm_send_token
    setting) sends this machine's Ray token to an explicit address too."""
    # Before Ray is imported: it reads its authentication mode once, at import. A value the
    # user set (either way) is kept.
    if send_token:
        os.environ.setdefault("RAY_AUTH_MODE", "token")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        import ray
    except ImportError:
        raise FarmError('the farm needs Ray: pip install "nodestudio[farm]"') from None
    if ray.is_initialized():
        return False
    quiet_ray_logging()
    target = None if address == "local" else address
    init_kwargs.setdefault("logging_level", logging.ERROR)
    try:
        _init_quietly(ray, target, init_kwargs)
    except (ConnectionError, RuntimeError, ValueError) as error:
        if _PROXY_SERVER_DIED not in str(error):
            raise FarmError(unreachable_message(address, error)) from None
        # A failed Ray Client connection has disconnected itself: ray.init can run again.
        try:
            _init_quietly(ray, target, init_kwargs)
        except (ConnectionError, RuntimeError, ValueError) as again:
            if _PROXY_SERVER_DIED not in str(again):
                raise FarmError(unreachable_message(address, again)) from None
            raise FarmError(
                f"the farm at {address!r} answered, but the server it starts for each "
                f"connection died at start twice ({_reason(again)}): run again; the farm's "
                "head keeps that server's log in /tmp/ray/session_latest/logs") from None
    return True


def _init_quietly(ray: Any, target: str | None, init_kwargs: dict[str, Any]) -> None:
    with warnings.catch_warnings():
        # The Ray Client's "connection timed out" UserWarning repeats the error it raises.
        warnings.simplefilter("ignore")
        ray.init(address=target, include_dashboard=False, log_to_driver=False, **init_kwargs)


def quiet_ray_logging() -> None:
    """Ray's records below ERROR stay out of the terminal, and the farm server's relayed
    records all do (what matters there comes back as an error)."""
    logging.getLogger("ray").setLevel(logging.ERROR)
    relayed = logging.getLogger(_RELAYED_LOGGER)
    if not any(isinstance(h, logging.NullHandler) for h in relayed.handlers):
        relayed.addHandler(logging.NullHandler())


def unreachable_message(address: str, error: BaseException) -> str:
    """What to do when ``ray.init`` refused ``address``: start a farm or fix the address, and,
    for an explicit address, send the cluster's token."""
    detail = _reason(error)
    message = (f"no Ray cluster answers at {address!r}: start one with `nodestudio farm start` "
               f"or check the farm address ({detail})")
    if address not in ("auto", "local") and not token_auth_requested():
        message += (". A farm that `nodestudio farm start` started asks for its token: copy "
                    f"{RAY_TOKEN_FILE} from the farm's head to this machine and set "
                    '"farm_send_token": true in settings.json (or RAY_AUTH_MODE=token)')
    return message


def _reason(error: BaseException) -> str:
    """Ray's reason in one line: its first line, and where that only introduces what follows
    ("Initialization failure from server:" and the server's traceback), the last line too."""
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    if not lines:
        return type(error).__name__
    if lines[0].endswith(":") and len(lines) > 1:
        return f"{lines[0]} {lines[-1]}"
    return lines[0]


def token_auth_requested() -> bool:
    """Whether this process sends Ray's token to an explicitly given address."""
    return os.environ.get("RAY_AUTH_MODE", "").strip().lower() == "token"
