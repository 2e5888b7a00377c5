"""The direct transport: the bytes staged in the shared staging directory, the event published on
NATS, the outcome read from the ledger: what the TypeScript publisher does (docs/producers.md)."""

import json
import os
import time
import uuid

from . import _events, _path_rule, _rules, _staging
from ._nats import NatsClient, NatsError, NatsTimeout, NoResponders
from .errors import ArtifactBusError, RetryableError

FINAL = ("uploaded", "superseded", "dead")
# A flush's pauses between reads of what it still waits for (seconds): short while artifacts land.
WAIT_POLL_MIN = 0.05
WAIT_POLL_MAX = 0.5
# The ledger formats this client reads (shared/src/nats/ledger-format.ts: LEDGER_FORMATS_READ).
LEDGER_FORMATS_READ = (1, 2)


class DirectTransport:
    """Needs ARTIFACT_BUS_NATS_URL and the staging directory the uploaders read."""

    kind = "nats"

    def __init__(self, nats_url, staging_dir, user=None, password=None, token=None, tls_ca=None, connect_timeout=5.0,
                 inbox_prefix=None):
        self.staging_dir = os.path.abspath(staging_dir)
        self.nats = NatsClient(nats_url, user=user, password=password, token=token, tls_ca=tls_ca,
                               connect_timeout=connect_timeout, inbox_prefix=inbox_prefix)
        # (checked at, listed in full at (or started), names and topology stamp then, [(token, filter)])
        self._destinations = (0.0, time.time(), None, [])

    # The training thread: only what is cheap (a link, a clone, a rename) or unavoidable (a copy).
    def hold(self, item, path, mode):
        run_dir = os.path.join(self.staging_dir, item.project, item.run)
        os.makedirs(run_dir, exist_ok=True)
        item.held = os.path.join(run_dir, ".tmp-%s-%s" % (item.id, uuid.uuid4().hex[:12]))
        item.how = _staging.place(path, item.held, mode)

    def send(self, item):
        """Finishes staging (once), then publishes; safe to call again after a retryable failure."""
        if item.blob is None:
            os.chmod(item.held, 0o444)
            sha, size = _staging.digest(item.held)
            final = os.path.join(os.path.dirname(item.held), item.id)
            os.rename(item.held, final)
            item.held = final
            item.blob = {"store": "fs", "ref": "%s/%s/%s" % (item.project, item.run, item.id), "size": size, "sha256": sha}
        subject = _events.event_subject(item.project, item.run, item.level, item.name)
        destinations = self.destinations_of(subject)
        refused = self.refusal(subject, item)
        if refused:
            # Rules may have changed since log_file checked: never publish what would die there.
            self.discard(item)
            raise ArtifactBusError(refused)
        if not destinations:
            self.discard(item)
            raise ArtifactBusError("no destination takes %s/%s at level %s" % (item.project, item.run, item.level))
        event = _events.build_event(item.id, item.project, item.run, item.name, item.level, item.blob,
                                    item.metadata, item.content_type, item.rank, item.set)
        try:
            _, data = self.nats.request(subject, json.dumps(event).encode("utf-8"), {"Nats-Msg-Id": item.id}, timeout=5.0)
        except NoResponders:
            raise RetryableError("no stream takes %s yet" % subject)
        except NatsTimeout as err:
            # Maybe stored after all: the same id again is deduplicated, and the blob stays.
            raise RetryableError("publish of %s unconfirmed: %s" % (item.name, err))
        except NatsError as err:
            if "permission" in str(err).lower():
                self.discard(item)
                raise ArtifactBusError("publish of %s refused: %s" % (item.name, err))
            raise RetryableError(str(err))
        ack = json.loads(data)
        if "error" in ack:
            raise RetryableError("publish of %s: %s" % (item.name, ack["error"].get("description")))
        item.destinations = destinations
        item.remote_id = item.id

    def discard(self, item):
        try:
            os.unlink(item.held)
        except OSError:
            pass

    def check_name(self, item):
        """Raises InvalidArtifact when a destination that would take `item` refuses its name
        (the rules `artifact-bus topology` records as `rules.<token>`, docs/producers.md section
        6). NATS being away skips this early check; send() checks again before publishing."""
        subject = _events.event_subject(item.project, item.run, item.level, item.name)
        try:
            refused = self.refusal(subject, item)
        except (NatsError, OSError, RetryableError):
            return
        if refused:
            raise _events.InvalidArtifact("name", refused)

    def refusal(self, subject, item):
        """Why a destination taking `subject` refuses `item`'s name (a member of `item.set`, if
        given; naming the destination and the rule, or the path it would take there past its
        limit), or None."""
        self.destinations_of(subject)
        for token, flt, rules in self._destinations[3]:
            if not _matches(flt, subject) or rules is None:
                continue
            broken = _rules.broken_rule(item.name, rules, item.set) or _path_rule.broken_path_rule(item, rules)
            if broken:
                return "%s is refused by %s: %s" % (json.dumps(item.name), token.replace("_", ":", 1), broken)
        return None

    def name_rules(self, project, run, level, name):
        """[(destination, its recorded name rules or None)] of each destination that would take `name`."""
        subject = _events.event_subject(project, run, level, name)
        self.destinations_of(subject)
        return [(token.replace("_", ":", 1), rules)
                for token, flt, rules in self._destinations[3] if _matches(flt, subject)]

    def destinations_of(self, subject):
        """Tokens of the destinations whose filter takes `subject` (docs/producers.md, section 6).

        Checked every 5 s by the consumers' names and the topology stamp's revision (cheap); on a
        change, read from the filters `artifact-bus topology` recorded; listed in full
        (CONSUMER.LIST, whose cost grows with the stream) when a record is missing, and hourly.
        """
        at, listed_at, check, listed = self._destinations
        now = time.time()
        if now - at > 5:
            names, stamp = self._topology_check()
            if (names, stamp) != check or now - listed_at > 3600:
                recorded = self._recorded_filters(names) if now - listed_at <= 3600 else None
                if recorded is None:
                    answer = self.nats.request_json("$JS.API.CONSUMER.LIST.ARTIFACTS", {})
                    recorded = [(c["name"][5:], c["config"].get("filter_subject", ""))
                                for c in answer.get("consumers", []) if c["name"].startswith("dest_")]
                    listed_at = now
                listed = [(token, flt, self._recorded_rules(token)) for token, flt in recorded]
            self._destinations = (now, listed_at, (names, stamp), listed)
        return [token for token, flt, _ in listed if _matches(flt, subject)]

    def _recorded_rules(self, token):
        """The name rules the topology recorded for a destination (a dict), or None (no check)."""
        value = self._ledger_value("rules." + token)
        try:
            rules = json.loads(value[0]) if value else None
        except ValueError:
            return None
        return rules if isinstance(rules, dict) else None

    def _ledger_value(self, key):
        """A ledger entry (bytes, revision), or None while it is absent or deleted.

        Read by direct get, whose request subject names the key: a trainer's NATS permissions
        allow its own project's entries only (docs/security.md).
        """
        headers, data = self.nats.request("$JS.API.DIRECT.GET.KV_artifact_ledger.$KV.artifact_ledger." + key, b"")
        status = headers.get(":status")
        if status == "404":
            return None
        if status is not None:
            raise NatsError("reading ledger key %s: %s %s" % (key, status, headers.get(":description", "")))
        if headers.get("KV-Operation") in ("DEL", "PURGE"):
            return None
        return data, int(headers["Nats-Sequence"])

    def _topology_check(self):
        """The consumers' names and the revision of the ledger's topology stamp."""
        names = self.nats.request_json("$JS.API.CONSUMER.NAMES.ARTIFACTS", {}).get("consumers") or []
        stamp = self._ledger_value("topology")
        return tuple(sorted(names)), (stamp[1] if stamp else None)

    def _recorded_filters(self, names):
        """[(token, filter)] from the filters the topology recorded, or None if one is missing."""
        out = []
        for name in names:
            if not name.startswith("dest_"):
                continue
            value = self._ledger_value("filter." + name[5:])
            if value is None:
                return None
            out.append((name[5:], value[0].decode("utf-8")))
        return out

    def outcome(self, item, tokens=None):
        """{destination: ledger entry or None} for a sent item, at `tokens` (default: all its destinations)."""
        out = {}
        for token in item.destinations if tokens is None else tokens:
            key = "ev.%s.%s.%s.%s" % (token, item.project, item.run, item.id)
            value = self._ledger_value(key)
            entry = json.loads(value[0]) if value else None
            # Entries carry the ledger format they were written in (none: format 1); one this
            # client does not know might mean something else, so it is refused, not misread.
            if entry is not None and entry.get("format", 1) not in LEDGER_FORMATS_READ:
                raise NatsError(
                    "ledger entry %s is in ledger format %s; this client reads formats %s: upgrade it"
                    % (key, entry.get("format"), ", ".join(map(str, LEDGER_FORMATS_READ)))
                )
            out[token.replace("_", ":", 1)] = entry
        return out

    def wait(self, items, deadline):
        """Polls the ledger until every item is final everywhere or the deadline; returns (pending, dead).

        An (item, destination) found final is not read again, and the pause between rounds grows
        from WAIT_POLL_MIN to WAIT_POLL_MAX seconds while nothing new is final: a flush of many
        artifacts used to read every one of them again each half second until the last landed.
        """
        done = {}  # (event id, token) -> None once landed or superseded, (name, destination, why) once dead
        pause = WAIT_POLL_MIN
        while True:
            pending = []
            before = len(done)
            for item in items:
                tokens = [t for t in item.destinations if (item.id, t) not in done]
                for destination, entry in self.outcome(item, tokens).items() if tokens else ():
                    state = entry["state"] if entry else "unknown"
                    token = destination.replace(":", "_", 1)
                    # Dead is final once its letter is out (dlqSeq): then it can be replayed.
                    if state == "dead" and entry.get("dlqSeq") is not None:
                        done[(item.id, token)] = (item.name, destination, entry.get("error", ""))
                    elif state == "dead":
                        pending.append((item.name, destination, "dead, its letter not out yet"))
                    elif state not in FINAL:
                        pending.append((item.name, destination, state))
                    else:
                        done[(item.id, token)] = None
            if not pending or time.time() >= deadline:
                dead = [done[(i.id, t)] for i in items for t in i.destinations if done.get((i.id, t))]
                return pending, dead
            # Short pauses while artifacts land, longer while none does.
            pause = WAIT_POLL_MIN if len(done) > before else min(WAIT_POLL_MAX, pause * 2)
            time.sleep(min(pause, max(0.0, deadline - time.time())))

    def download(self, *args, **kwargs):
        raise NotImplementedError("download needs the HTTP gateway (ARTIFACT_BUS_URL): NATS carries no bytes back")

    def close(self):
        self.nats.close()


def _matches(flt, subject):
    f, s = flt.split("."), subject.split(".")
    for i, token in enumerate(f):
        if token == ">":
            return len(s) > i
        if i >= len(s) or token not in ("*", s[i]):
            return False
    return len(f) == len(s)
