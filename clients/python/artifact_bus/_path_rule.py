"""The path part of a destination's name rules (`pathTemplate`, `prefix` or `root`, `maxPathBytes`),
as the TypeScript publisher checks it (shared/src/contract/name-path-rule.ts): the path the
destination would write an artifact at, rendered as its adapter renders it (remote-path.ts), is
refused past the limit in the adapter's words (path-limits.ts). A record without it (an older
topology's) checks nothing."""

import hashlib
import json
import re

from . import _events

MAX_FILE_NAME_BYTES = 255


def _bytes(s):
    return len(s.encode("utf-8"))


def _n(v):
    return "{:,}".format(v)


def _quote(s):
    """A long value quoted by its start, as path-limits.ts quotes it."""
    return json.dumps(s[:40] + "\u2026" if len(s) > 40 else s, ensure_ascii=False)


def _parts(total, name, template, label, base):
    """`name 1,024 + prefix "team-a/" 7 + 9 from template "..."`: what `total` bytes are made of."""
    pieces = ["name %s" % _n(_bytes(name))]
    if base:
        pieces.append("%s %s %s" % (label, _quote(base), _n(_bytes(base))))
    rest = total - _bytes(name) - _bytes(base)
    pieces.append("%s from template %s" % (_n(rest), json.dumps(template, ensure_ascii=False)))
    return " + ".join(pieces)


def _render(template, item):
    """The template rendered for `item`, as renderRemotePath renders it below its prefix."""
    values = {"project": item.project, "run": item.run, "name": item.name, "level": item.level,
              "rank": str(item.rank or 0), "key": _events.name_key(item.name)}
    return re.sub(r"\{([a-z]+)\}", lambda m: values.get(m.group(1), m.group(0)), template)


def _temp_path(final, event_id):
    """The temp file beside `final` while it uploads (shared/src/destination/temp-names.ts)."""
    directory, base = final.rsplit("/", 1)
    if _bytes(base) + len(event_id) + 11 > MAX_FILE_NAME_BYTES:
        base = hashlib.sha256(base.encode("utf-8")).hexdigest()[:32]
    return "%s/.%s.%s.partial" % (directory, base, event_id)


def broken_path_rule(item, rules):
    """Why the destination of `rules` cannot write `item` (its path past the limit), or None."""
    template, limit = rules.get("pathTemplate"), rules.get("maxPathBytes")
    prefix, root = rules.get("prefix"), rules.get("root")
    if not isinstance(template, str) or not isinstance(limit, int):
        return None
    relative = _render(template, item)
    if isinstance(prefix, str):
        total = _bytes(prefix + relative)
        if total <= limit:
            return None
        return "object key is %s bytes (%s); S3 allows at most %s bytes" % (
            _n(total), _parts(total, item.name, template, "prefix", prefix), _n(limit))
    if not isinstance(root, str):
        return None
    own = set(item.name.split("/"))
    for segment in relative.split("/"):
        if _bytes(segment) > MAX_FILE_NAME_BYTES:
            made = "" if segment in own else " (made by template %s)" % json.dumps(template, ensure_ascii=False)
            return "segment %s is %s bytes%s; file names there are at most %s bytes" % (
                _quote(segment), _n(_bytes(segment)), made, _n(MAX_FILE_NAME_BYTES))
    final = root.rstrip("/") + "/" + relative
    total = _bytes(final)
    longest = max(total, _bytes(_temp_path(final, item.id)))
    if longest <= limit:
        return None
    with_temp = ", %s with the temporary name written beside it" % _n(longest) if longest > total else ""
    return "path is %s bytes (%s)%s; paths are at most %s bytes" % (
        _n(total), _parts(total, item.name, template, "root", root), with_temp, _n(limit))
