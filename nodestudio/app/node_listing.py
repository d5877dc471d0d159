"""`nodestudio nodes`: the node types there are, found by a word, and one type in full.

What a person scripting graphs needs without the window: the id to write in a graph or a
``--set``, each input's type, default, range or choices, and where a choice list comes from.
Read from each type's ``to_json()``, the same description plugin authors' tools get.
"""

from __future__ import annotations

import difflib
import json
import re
import textwrap
from collections.abc import Iterable
from typing import Any

#: Long choice lists (samplers, schedulers) are cut after this many, with a count.
_SHOWN_CHOICES = 8
_WIDTH = 96


def matching(node_types: Iterable[Any], query: str) -> list[Any]:
    """The types whose id, name, category, pack or description holds every word of
    ``query`` (any case); every type for an empty query."""
    words = query.lower().split()
    found = []
    for node_type in node_types:
        data = node_type.to_json()
        haystack = " ".join(str(data.get(key) or "") for key in
                            ("id", "display_name", "category", "pack", "description")).lower()
        haystack += " " + " ".join(data.get("legacy_ids") or []).lower()
        if all(word in haystack for word in words):
            found.append(node_type)
    return found


def exact(node_types: Iterable[Any], query: str) -> Any | None:
    """The type whose id, former id or display name is ``query`` (any case), if one is."""
    wanted = query.strip().lower()
    for node_type in node_types:
        data = node_type.to_json()
        names = [data["id"], data.get("display_name") or "", *(data.get("legacy_ids") or [])]
        if wanted in (name.lower() for name in names):
            return node_type
    return None


def comfy_counterparts(node_types: Iterable[Any], query: str) -> tuple[str, list[Any]] | None:
    """ComfyUI's node class named ``query`` (any case: "ksampler") and the NodeStudio types a
    workflow's node of that class becomes when imported; None when ``query`` names none."""
    wanted = query.strip().lower()
    try:
        from nodestudio.interop.comfy.mapping import all_rules
    except ImportError:  # a build without the ComfyUI layer
        return None
    for rule in all_rules():
        if rule.comfy and rule.comfy.lower() == wanted:
            by_id = {node_type.id: node_type for node_type in node_types}
            return rule.comfy, [by_id[type_id] for type_id in rule.needs if type_id in by_id]
    return None


def closest_word(node_types: Iterable[Any], query: str) -> str | None:
    """The word of a type's id or name a search word that found nothing is likely a slip
    of ("samplr" -> "sampler"), for a one-word search; None otherwise."""
    if len(query.split()) != 1:
        return None
    words = {word for node_type in node_types
             for word in re.split(r"[\s._\-]+", f"{node_type.id} {node_type.display_name}".lower())
             if len(word) > 2}
    close = difflib.get_close_matches(query.strip().lower(), sorted(words), n=1)
    return close[0] if close else None


def describe(node_type: Any) -> list[str]:
    """One type in full: what it does, its inputs with their values' rules, its outputs."""
    data = node_type.to_json()
    lines = [f"{data['display_name']} ({data['id']}, version {data['version']}): "
             f"{data['category']}, from {data.get('pack') or 'an unknown pack'}"]
    if data.get("description"):
        lines += textwrap.wrap(data["description"], _WIDTH, initial_indent="  ",
                               subsequent_indent="  ")
    lines.append("inputs:" if data["inputs"] else "inputs: none")
    width = max((len(i["name"]) for i in data["inputs"]), default=0)
    for spec in data["inputs"]:
        lines += textwrap.wrap(f"{spec['name']:{width}}  {_input_text(spec)}", _WIDTH,
                               initial_indent="  ", subsequent_indent=" " * (width + 4))
    outputs = data.get("outputs") or []
    if outputs:
        lines.append("outputs:")
    else:
        lines.append("outputs: none (it saves or shows)" if data.get("output_node")
                     else "outputs: none")
    width = max((len(o["name"]) for o in outputs), default=0)
    for output in outputs:
        text = f"  {output['name']:{width}}  {output['type']}"
        if output.get("description"):
            text += f": {output['description']}"
        lines.append(text)
    return lines


def _input_text(spec: dict[str, Any]) -> str:
    text = spec["type"]
    if "default" in spec:
        text += f" = {json.dumps(spec['default'])}"  # as --set and graph files write it
    if "min" in spec or "max" in spec:
        text += f", {spec.get('min', '…')} to {spec.get('max', '…')}"
    if spec.get("choices"):
        shown = ", ".join(str(choice) for choice in spec["choices"][:_SHOWN_CHOICES])
        more = len(spec["choices"]) - _SHOWN_CHOICES
        text += f", one of {shown}" + (f" and {more} more" if more > 0 else "")
    elif spec.get("choices_source"):
        text += f", a name from {_source_text(spec['choices_source'])}"
    notes = [note for key, note in (("optional", "optional"), ("advanced", "advanced"))
             if spec.get(key)]
    if notes:
        text += f" ({', '.join(notes)})"
    if spec.get("description"):
        text += f": {spec['description']}"
    return text


def _source_text(source: str) -> str:
    """``models:loras`` → "models/loras"; ``files:input_audio`` → "the input folder (audio)"."""
    kind, _, name = source.partition(":")
    if kind == "models" and name:
        return f"models/{name}"
    if kind == "files" and name.startswith("input"):
        what = name.removeprefix("input").strip("_")
        return "the input folder" + (f" ({what})" if what else "")
    return source
