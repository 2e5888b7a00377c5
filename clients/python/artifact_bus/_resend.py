"""`python3 -m artifact_bus resend`: PUTs every item a previous process left in the HTTP spool,
each with its request (`<id>.json`) and its original Idempotency-Key, oldest first (a set's close
after its members). An item the gateway had accepted already gets the first answer again
(`Idempotent-Replayed`), not a second version; its copy is removed like a sent one. What cannot be
sent stays, and is reported with why: a refusal (403, 400, 422), the gateway unreachable until the
deadline, a held copy with no request (an older client's: reported, never deleted). Items of a
client still running (its lock held) are its own: left alone."""

import os
import random
import time
import types

from . import _spool
from .errors import ArtifactBusError, RetryableError

SENT, ACCEPTED_BEFORE, FAILED, UNREADABLE, RUNNING = "sent", "accepted before", "failed", "unreadable", "running"


def item_of(request, held):
    """The request as the transport's send takes it."""
    return types.SimpleNamespace(
        id=request["id"], project=request["project"], run=request["run"], name=request["name"],
        level=request.get("level") or "fit", metadata=request.get("metadata") or {},
        content_type=request.get("contentType"), rank=request.get("rank"), set=request.get("set"),
        held=held, how=None, blob=None, destinations=[], error=None, remote_id=None, replayed=False)


def resend(transport, timeout=60.0, retry_max=5.0):
    """Sends what the spool holds; returns [(outcome, id, name or None, detail)] in order."""
    spool_dir = transport.spool_dir
    deadline = time.time() + timeout
    report = []
    for item_id, request, why in _spool.entries(spool_dir):
        if request is not None and _spool.owner_alive(spool_dir, request.get("owner")):
            report.append((RUNNING, item_id, request["name"], "held by a client still running"))
            continue
        if why == "request with no held copy":
            _spool.discard(transport.held_path(item_id))  # nothing to send: its copy went when it was sent
            continue
        if request is None:
            report.append((UNREADABLE, item_id, None, why + "; kept, not sent"))
            continue
        item = item_of(request, transport.held_path(item_id))
        claim = _spool.claim_request(item.held)
        if claim is None:
            if os.path.exists(item.held):
                report.append((RUNNING, item_id, item.name, "being sent by another resend"))
            continue
        try:
            report.append(_resend_one(transport, item, request, deadline, retry_max))
        finally:
            os.close(claim)
    _spool.remove_stale_locks(spool_dir)
    return report


def _resend_one(transport, item, request, deadline, retry_max):
    note = ""
    tag = request.get("tokenTag")
    if tag and tag != _spool.token_tag(transport.token):
        note = " (with another token than its first try: had that been accepted, this is a second version)"
    try:
        _send(transport, item, deadline, retry_max)
    except (ArtifactBusError, OSError) as err:
        return FAILED, item.id, item.name, "%s; kept" % err
    outcome = ACCEPTED_BEFORE if item.replayed else SENT
    return outcome, item.id, item.name, "as %s%s" % (item.remote_id, note)


def _send(transport, item, deadline, retry_max):
    for attempt in range(1 << 30):
        try:
            return transport.send(item)
        except RetryableError as err:
            delay = max(min(retry_max, 0.5 * 2 ** attempt) * (1 - 0.25 * random.random()), err.retry_after or 0)
            if time.time() + delay > deadline:
                raise
            time.sleep(delay)


def summary(report):
    """The report as lines, and whether anything is left (failed, unreadable, or a running client's)."""
    lines = ["%s: %s%s %s" % (outcome, name or item_id, " [%s]" % item_id if name else "", detail)
             for outcome, item_id, name, detail in report]
    return lines, [r for r in report if r[0] not in (SENT, ACCEPTED_BEFORE)]
