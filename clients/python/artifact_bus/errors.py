"""What the client raises."""


class ArtifactBusError(Exception):
    """Something the caller must know about; `retryable` says whether trying again may help.
    `status` is the gateway's HTTP status, when it answered."""

    retryable = False

    def __init__(self, message, status=None):
        super().__init__(message)
        self.status = status


class RetryableError(ArtifactBusError):
    """A failure that may pass (connection, 5xx, 429, 503): retried with backoff."""

    retryable = True

    def __init__(self, message, retry_after=None, status=None):
        super().__init__(message, status)
        self.retry_after = retry_after


class FlushError(ArtifactBusError):
    """`flush`/`close` could not confirm every artifact: what is still pending, dead or unsent, by name."""

    def __init__(self, pending=(), dead=(), unsent=(), timed_out=False, hint=None):
        self.pending, self.dead, self.unsent, self.timed_out = list(pending), list(dead), list(unsent), timed_out
        parts = []
        if self.unsent:
            parts.append("not sent: " + ", ".join("%s (%s)" % u for u in self.unsent[:10]))
        if self.dead:
            parts.append("dead: " + ", ".join("%s at %s (%s)" % d for d in self.dead[:10]))
        if self.pending:
            parts.append("still pending: " + ", ".join("%s at %s (%s)" % p for p in self.pending[:10]))
        if self.unsent and hint:
            parts.append(hint)  # where what was not sent is held, and the command that sends it
        super().__init__(("timed out; " if timed_out else "") + "; ".join(parts))
