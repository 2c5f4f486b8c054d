"""One handler for the signals that stop a command: SIGINT (Ctrl-C), SIGTERM (``kill``, ``timeout``, job
schedulers) and SIGHUP (a closed terminal).

Each is turned into :class:`Interrupted` (a ``KeyboardInterrupt``) in the main thread, so the same
clean-up runs whatever stopped the command: :func:`fusioninn.atomic.atomic_path` removes its temporary
file and the command's :func:`fusioninn.atomic.output_group` removes the outputs it had created and puts
back files it had replaced. A second signal while that clean-up runs is ignored (the clean-up takes
milliseconds); SIGKILL cannot be caught, and leaves at most ``.tmp-*`` files that the next write of the
same target removes.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

__all__ = ["Interrupted", "HANDLED_SIGNALS", "stop_signals_raise"]

HANDLED_SIGNALS = tuple(s for s in (getattr(signal, n, None) for n in ("SIGINT", "SIGTERM", "SIGHUP")) if s)


class Interrupted(KeyboardInterrupt):
    """The command was stopped by a signal; ``signum`` says which."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(signal.Signals(signum).name)

    @property
    def exit_code(self) -> int:
        return 128 + self.signum  # what a shell reports for a process ended by this signal


@contextlib.contextmanager
def stop_signals_raise() -> Iterator[None]:
    """Within the block, SIGINT, SIGTERM and SIGHUP raise :class:`Interrupted` (once); the previous
    handlers are restored afterwards. Outside the main thread (where Python cannot set handlers)
    nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    fired = []

    def handler(signum, _frame):
        if fired:  # already stopping: let the clean-up finish
            return
        fired.append(signum)
        raise Interrupted(signum)

    previous = {}
    for sig in HANDLED_SIGNALS:
        try:
            current = signal.getsignal(sig)
            if current is signal.SIG_IGN and sig == getattr(signal, "SIGHUP", None):
                continue  # started under nohup: keep ignoring hang-ups
            previous[sig] = current
            signal.signal(sig, handler)
        except (OSError, ValueError):
            continue
    try:
        yield
    finally:
        for sig, old in previous.items():
            with contextlib.suppress(OSError, ValueError, TypeError):
                signal.signal(sig, old)
