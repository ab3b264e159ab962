"""Stop gracefully on SIGINT/SIGTERM: finish the step, checkpoint, exit with a message on how to resume."""

from __future__ import annotations

import signal


class StopRequest:
    """A context manager that turns the first SIGINT/SIGTERM into a flag; a second SIGINT stops at once."""

    def __init__(self):
        self.requested = None
        self._previous = {}

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread: leave signals alone
                pass
        return self

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum, frame):
        if self.requested is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = signal.Signals(signum).name
