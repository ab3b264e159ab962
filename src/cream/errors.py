"""The one exception type users see: a one-line message that names the problem and the fix."""


class CreamError(Exception):
    """A user-facing error. The CLI prints its message on one line, without a traceback."""


class RunInterrupted(CreamError):
    """Raised after a checkpoint was written in response to SIGINT/SIGTERM: a stop on request, not a failure."""
