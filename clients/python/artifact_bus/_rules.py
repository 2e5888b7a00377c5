"""The name rules a destination records (`rules.<token>`, docs/producers.md section 6), as a Python
producer must check them before it logs: what the TypeScript publisher checks
(shared/src/contract/name-rules.ts and checkpoint-set.ts), the same rules in the same words. Read
from the ledger over NATS, from the gateway over HTTP (GET .../name-rules)."""

import json
import re
import time

from . import _events

# (transport id, project, run, level, name) -> (answered at, reserved): an answer holds a minute.
_POINTER_ANSWERS = {}
_POINTER_TTL = 60.0


def pointer_pattern(template):
    """Every name a destination's setPointer template renders to (shared/src/contract/checkpoint-set.ts):
    `{dir}/` any parent directory or none, `{set}` any name, `{base}` one segment, `{rank}` a number."""
    pieces = {"{dir}/": "(?:.+/)?", "{dir}": ".*", "{set}": ".+", "{base}": "[^/]+", "{rank}": r"\d+"}
    parts = re.split(r"(\{dir\}/?|\{set\}|\{base\}|\{rank\})", template)
    return re.compile("^" + "".join(pieces.get(p, re.escape(p)) for p in parts) + "$")


def is_pointer_name(name, rules):
    """Whether a destination with `rules` (a dict, or None: nothing recorded) writes pointers under `name`."""
    pointer = (rules or {}).get("setPointer")
    return isinstance(pointer, str) and pointer_pattern(pointer).fullmatch(name) is not None


def broken_rule(name, rules, set_=None):
    """The rule of `rules` that `name` (a member of `set_`, if given) breaks, in words, or None."""
    if not rules.get("allowDotSegments", True) and _events.has_dot_segment(name, set_):
        return "it refuses names with a segment starting with '.' (option allowDotSegments)"
    longest = rules.get("maxSegmentBytes")
    if isinstance(longest, int) and any(len(s.encode("utf-8")) > longest for s in name.split("/")):
        return "it refuses names with a segment longer than %d bytes (a file name there)" % longest
    if is_pointer_name(name, rules):
        return ("it writes checkpoint sets' pointers under such names (setPointer %s): they are reserved"
                % json.dumps(rules["setPointer"]))
    return None


def pointer_name(transport, project, run, level, name):
    """Whether a destination that would take `name` (of project/run at `level`) writes checkpoint
    sets' pointers under it, by the rules `transport.name_rules` reads."""
    key = (id(transport), project, run, level, name)
    answered = _POINTER_ANSWERS.get(key)
    if answered and time.time() - answered[0] < _POINTER_TTL:
        return answered[1]
    reserved = any(is_pointer_name(name, rules) for _, rules in transport.name_rules(project, run, level, name))
    _POINTER_ANSWERS[key] = (time.time(), reserved)
    return reserved
