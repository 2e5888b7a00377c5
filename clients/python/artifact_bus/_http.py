"""The HTTP transport: the artifact-bus gateway, for trainers with no shared filesystem and no NATS
account. A file is held in a local spool directory (linked or copied), then PUT with an
Idempotency-Key fixed before the first try (a retry publishes once) and a Content-Digest; a set's
close is POSTed with one too."""

import base64
import http.client
import json
import os
import shutil
import ssl
import tempfile
import time
from urllib.parse import quote, urlencode, urlparse

from . import _spool, _staging
from .errors import ArtifactBusError, RetryableError

RETRIED = {429, 500, 502, 503, 504}


class HttpTransport:
    kind = "http"

    def __init__(self, url, token=None, spool_dir=None, ca=None, timeout=120.0, warn_left=True):
        self.url = urlparse(url.rstrip("/"))
        if self.url.scheme not in ("http", "https"):
            raise ArtifactBusError("ARTIFACT_BUS_URL: %r is not an http(s) URL" % url)
        self.token, self.timeout = token, timeout
        self.context = ssl.create_default_context(cafile=ca) if self.url.scheme == "https" else None
        self.spool_dir = _spool.private_dir(
            spool_dir or os.path.join(tempfile.gettempdir(), "artifact-bus-spool-%d" % os.getuid())
        )
        self._owner = _spool.Owner(self.spool_dir)
        if warn_left:
            _spool.warn_left(self.spool_dir)  # not sent automatically: see _spool.warn_left

    # -- HTTP -------------------------------------------------------------------------------------

    def _connection(self):
        host, port = self.url.hostname, self.url.port
        if self.context:
            return http.client.HTTPSConnection(host, port, timeout=self.timeout, context=self.context, blocksize=1 << 20)
        return http.client.HTTPConnection(host, port, timeout=self.timeout, blocksize=1 << 20)

    def _call(self, method, path, body=None, headers=None, stream=False):
        """One request; returns (status, headers, response or bytes). Connection failures and
        429/5xx raise RetryableError; other errors raise ArtifactBusError with the problem detail."""
        headers = dict(headers or {})
        if self.token:
            headers["Authorization"] = "Bearer %s" % self.token
        conn = self._connection()
        try:
            conn.request(method, self.url.path + path, body=body, headers=headers)
            res = conn.getresponse()
        except (OSError, http.client.HTTPException) as err:
            conn.close()
            raise RetryableError("gateway %s unreachable: %s" % (self._where(), err))
        if res.status < 400:
            if stream:
                return res.status, res, conn
            data = res.read()
            conn.close()
            return res.status, res, data
        data = res.read()
        conn.close()
        problem = _problem(data, res.status)
        # 409 with Retry-After: the same request (same Idempotency-Key) is still in progress.
        if res.status in RETRIED or (res.status == 409 and res.getheader("Retry-After")):
            raise RetryableError(problem, retry_after=_retry_after(res.getheader("Retry-After")), status=res.status)
        raise ArtifactBusError(problem, status=res.status)

    def _where(self):
        return "%s://%s:%s" % (self.url.scheme, self.url.hostname, self.url.port or (443 if self.context else 80))

    @staticmethod
    def _run_path(project, run):
        return "/v1/projects/%s/runs/%s" % (quote(project, safe=""), quote(run, safe=""))

    # -- the transport ----------------------------------------------------------------------------

    def held_path(self, item_id):
        return os.path.join(self.spool_dir, item_id)

    def hold(self, item, path, mode):
        """Holds the bytes as `<id>`, and the request next to them as `<id>.json` (for a resend)."""
        item.held = self.held_path(item.id)
        item.how = _staging.place(path, item.held, mode)
        try:
            self.remember(item)
        except BaseException:
            _spool.remove_if_present(item.held)
            raise

    def unsent_hint(self):
        return _spool.hint(self.spool_dir)

    def remember(self, item):
        """(Re)writes the request of a held item: at hold, and when `submit` gives it its set."""
        _spool.write_request(item, self._owner, self.token)

    def send(self, item):
        if item.set is not None and item.set.get("close"):
            return self._close_set(item)
        if item.blob is None:
            sha, size = _staging.digest(item.held)
            item.blob = {"sha256": sha, "size": size}
        headers = {
            "Idempotency-Key": item.id,
            "Content-Digest": "sha-256=:%s:" % base64.b64encode(bytes.fromhex(item.blob["sha256"])).decode(),
            "Content-Type": item.content_type or "application/octet-stream",
            "Content-Length": str(item.blob["size"]),
            "Artifact-Metadata": json.dumps(item.metadata, ensure_ascii=True),
        }
        query = {"level": item.level}
        if item.set is not None:
            query["set"] = item.set["name"]
            if "members" in item.set:
                query["setMembers"] = item.set["members"]
            if "step" in item.set:
                query["setStep"] = item.set["step"]
        if item.rank is not None:
            query["rank"] = item.rank  # the event's producer.rank: a {rank} set pointer per rank
        path = "%s/artifacts/%s?%s" % (self._run_path(item.project, item.run), quote(item.name, safe="/"),
                                       urlencode(query))
        with open(item.held, "rb") as body:
            _, res, data = self._call("PUT", path, body=body, headers=headers)
        answer = json.loads(data)
        item.replayed = res.getheader("Idempotent-Replayed") == "true"
        item.destinations = answer.get("destinations", [])
        item.remote_id = answer["id"]
        # Accepted: the gateway staged its own copy, so the spool's may go.
        self.discard(item)

    def _close_set(self, item):
        """POST .../sets/close: the gateway publishes the close event itself (the name is reserved
        for it). With the Idempotency-Key fixed by close_set (a resend's too), a retry after a lost
        answer gets the first answer again instead of publishing a second close."""
        body = {"set": item.set["name"], "members": item.set["members"], "level": item.level}
        if "step" in item.set:
            body["step"] = item.set["step"]
        headers = {"Content-Type": "application/json", "Idempotency-Key": item.id}
        _, res, data = self._call("POST", "%s/sets/close" % self._run_path(item.project, item.run),
                                  body=json.dumps(body).encode(), headers=headers)
        answer = json.loads(data)
        item.replayed = res.getheader("Idempotent-Replayed") == "true"
        item.destinations = answer.get("destinations", [])
        item.remote_id = answer["id"]
        self.discard(item)

    def name_rules(self, project, run, level, name):
        """[(destination, its name rules or None)] of each destination that would take `name`
        (GET .../name-rules: what the gateway checks a PUT of it against)."""
        query = urlencode({"name": name, "level": level})
        _, _, data = self._call("GET", "%s/name-rules?%s" % (self._run_path(project, run), query))
        return [(d["destination"], d.get("rules")) for d in json.loads(data)["destinations"]]

    def discard(self, item):
        try:
            _spool.discard(item.held)
        except OSError:
            pass

    def wait_run(self, project, run, ids, deadline):
        """Long-polls /wait (at most 30 s a request) until the run's artifacts (or `ids`) are final
        or the deadline passes; returns the gateway's last answer."""
        while True:
            left = deadline - time.time()
            wait_s = max(0, min(30, int(left))) if left != float("inf") else 30
            body = json.dumps({"ids": ids} if ids is not None else {}).encode()
            try:
                _, _, data = self._call("POST", "%s/wait?timeout=%d" % (self._run_path(project, run), wait_s),
                                        body=body, headers={"Content-Type": "application/json"})
            except RetryableError:
                if time.time() >= deadline:
                    raise
                time.sleep(1)
                continue
            answer = json.loads(data)
            if answer.get("done") or time.time() >= deadline:
                return answer

    def wait(self, items, deadline):
        """Long-polls the gateway's /wait per run until every item is final or the deadline."""
        runs = {}
        for item in items:
            runs.setdefault((item.project, item.run), []).append(item.remote_id)
        pending, dead = [], []
        for (project, run), ids in runs.items():
            answer = self.wait_run(project, run, ids, deadline)
            pending += [(p["name"], p["destination"], p["state"]) for p in answer.get("pending", [])]
            dead += [(d["name"], d["destination"], d.get("error", "")) for d in answer.get("dead", [])]
        return pending, dead

    def download(self, project, run, name, destination, overwrite=False, source=None, check=None):
        """Writes the newest landed version of `name` to `destination`. The bytes go to
        `destination + ".part"` first, the ETag they are of to `destination + ".part.etag"`; an
        interrupted download resumes from there the next time (Range, with If-Range: that ETag, so
        a newer version that landed meanwhile comes whole instead of as a slice appended to the
        old one), and the whole is checked against the sha256 the gateway names (ETag) before it is
        renamed into place. `check(response)` may refuse the version served before any byte is written."""
        if os.path.exists(destination) and not overwrite:
            raise FileExistsError("%s exists; pass overwrite=True to replace it" % destination)
        part = destination + ".part"
        for resume in (True, False):
            have = os.path.getsize(part) if resume and os.path.exists(part) else 0
            try:
                sha = self._fetch_into(project, run, name, part, have, source, check)
            except _RangeNotSatisfiable:
                continue  # the partial file is not a prefix of this version: start over
            if sha is None:
                break  # the gateway named no sha256 to check against
            if sha == _staging.digest(part)[0]:
                break
            _spool.remove_if_present(part + ".etag")
            if not have:
                os.unlink(part)
                raise ArtifactBusError("%s/%s/%s: the downloaded bytes do not match the sha256 the gateway named"
                                       % (project, run, name))
        os.replace(part, destination)
        _spool.remove_if_present(part + ".etag")
        return destination

    def _fetch_into(self, project, run, name, part, have, source, check=None):
        """GETs the content into `part` (appending from byte `have` when the gateway honours the
        range); returns the sha256 the gateway names for the whole artifact."""
        query = "?" + urlencode({"destination": source}) if source else ""
        path = "%s/artifacts/%s/content%s" % (self._run_path(project, run), quote(name, safe="/"), query)
        headers = {"Range": "bytes=%d-" % have} if have else {}
        etag = _read_etag(part + ".etag") if have else None
        if etag:
            headers["If-Range"] = etag
        try:
            status, res, conn = self._call("GET", path, headers=headers, stream=True)
        except ArtifactBusError as err:
            if err.status == 404:
                raise FileNotFoundError("%s/%s/%s: %s" % (project, run, name, err))
            if have and err.status == 416:
                raise _RangeNotSatisfiable()
            raise
        etag = res.getheader("ETag") or ""
        try:
            if check:
                check(res)
            # A 200 is the whole current version (If-Range did not match, or no range was asked):
            # start over, and remember which version the bytes are of before writing any.
            if status != 206:
                _spool.remove_if_present(part + ".etag")
                if etag:
                    with open(part + ".etag", "w") as f:
                        f.write(etag)
            with open(part, "ab" if status == 206 else "wb") as out:
                shutil.copyfileobj(res, out, 1 << 20)
        finally:
            conn.close()
        etag = etag.strip('"')
        return etag if len(etag) == 64 else None

    def close(self):
        self._owner.release()


class _RangeNotSatisfiable(Exception):
    pass


def _read_etag(path):
    """The ETag a partial download is of, as the gateway sent it; None when it was not recorded."""
    try:
        with open(path) as f:
            return f.read().strip() or None
    except OSError:
        return None


def _problem(data, status):
    """An RFC 9457 problem as one line: its title, detail and the field at fault."""
    try:
        p = json.loads(data)
        text = "; ".join(str(p[k]) for k in ("title", "detail") if p.get(k))
        if p.get("field"):
            text += " (field %s)" % p["field"]
        return "HTTP %d: %s" % (status, text or p)
    except ValueError:
        return "HTTP %d: %s" % (status, data[:200].decode("utf-8", "replace"))


def _retry_after(value):
    try:
        return float(value) if value else None
    except ValueError:
        return None
