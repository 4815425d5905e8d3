"""The ``nas`` command: parses arguments, calls the library, prints; one module per command group.

Every user error (:class:`~nas.errors.NasError`, bad arguments) becomes one line on stderr and exit
status 2, without a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from nas.cli import catalog, runs, tables, training
from nas.cli.common import OneLineParser
from nas.errors import NasError

Handler = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="nas", description="Hardware-aware neural architecture search for small CNNs.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    for group in (catalog, training, runs, tables):
        group.register(sub)
    return parser


INTERRUPTED = "nas: interrupted (finished work is kept; a search resumes with --resume)\n"
INTERRUPT_DEADLINE_S = 4.0
"""The longest an interrupted command takes to end, whatever it was doing: its cleanup (workers stopped, an empty
new run removed) runs in that time, and then the process exits. Every finished piece of work is already on disk
(journals fsynced per line, tables and studies written atomically), so the deadline loses nothing."""


class _Interrupts:
    """Ctrl-C and SIGTERM: the first raises ``KeyboardInterrupt`` in the main thread (the normal cleanup runs) and
    starts a deadline after which the process exits with 130; a second one raises again, and the deadline stands.

    Why a deadline from the first signal: an interrupt can land while worker processes start or stop, or while
    Ray, SQLAlchemy or ONNX Runtime hold a lock, and the interpreter's shutdown would then wait on them for ever
    (about 30 s was seen during rung-0 trainings)."""

    def __init__(self) -> None:
        self.timer: object | None = None
        self.reported = False

    def report(self) -> None:
        if not self.reported:
            self.reported = True
            sys.stderr.write(INTERRUPTED)
            sys.stderr.flush()

    def _expire(self) -> None:
        import os

        self.report()
        os._exit(130)

    def start_deadline(self) -> None:
        import threading

        if self.timer is None:
            timer = threading.Timer(INTERRUPT_DEADLINE_S, self._expire)
            timer.daemon = True
            timer.start()
            self.timer = timer

    def handler(self, signum: int, frame: object) -> None:
        """The first interrupt: the normal cleanup, within the deadline. A second one: the user insists, so the process
        ends at once (raised again, it could land in the first one's handler and escape as a traceback)."""
        if self.timer is not None:
            self._expire()
        self.start_deadline()
        raise KeyboardInterrupt


_INTERRUPTS = _Interrupts()


def _terminate_like_interrupt() -> None:
    """SIGTERM ends the command like Ctrl-C: through the same cleanup (workers stopped, journals intact), one line,
    within :data:`INTERRUPT_DEADLINE_S`. SIGINT keeps being ignored where the shell ignores it (``nohup ... &``)."""
    import signal

    try:
        signal.signal(signal.SIGTERM, _INTERRUPTS.handler)
        if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
            signal.signal(signal.SIGINT, _INTERRUPTS.handler)
    except ValueError:  # not the main thread (called as a library from a thread): leave the handler alone
        return
    _raise_swallowed_interrupts_again()


def _raise_swallowed_interrupts_again() -> None:
    """An interrupt that lands in a finaliser is raised again in the main thread instead of being lost.

    Why: Ctrl-C and SIGTERM raise ``KeyboardInterrupt`` wherever the main thread happens to be. When that is a
    ``__del__`` or a weakref callback run by the garbage collector (SQLAlchemy registers such callbacks for every
    study), Python prints "Exception ignored in ..." and goes on: the search kept running for minutes after a
    SIGTERM on a loaded machine. Such exceptions go to ``sys.unraisablehook``; this one re-sends the interrupt
    to the main thread and hands every other unraisable exception to the previous hook. The re-send comes from
    another thread a moment later: sent from the hook itself, it would be raised inside the hook and lost again.
    Should it land in another finaliser, the hook sends it once more. It is sent as SIGTERM, whose handler is ours:
    a command started in the background (``nohup nas search ... &``) ignores SIGINT, and a simulated SIGINT would
    then do nothing."""
    import _thread
    import signal
    import threading

    previous = sys.unraisablehook

    def hook(unraisable: sys.UnraisableHookArgs) -> None:
        if isinstance(unraisable.exc_value, KeyboardInterrupt):
            resend = threading.Timer(0.05, _thread.interrupt_main, (signal.SIGTERM,))
            resend.daemon = True  # never holds up the interpreter's exit
            resend.start()
        else:
            previous(unraisable)

    sys.unraisablehook = hook


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    parser.words = list(argv) if argv is not None else None  # type: ignore[attr-defined]
    args = parser.parse_args(argv)
    console = logging.StreamHandler()
    console.setLevel(logging.INFO if args.verbose else logging.WARNING)
    console.setFormatter(logging.Formatter("%(message)s"))
    logging.getLogger().addHandler(console)
    if argv is None:  # the program, not a call from Python: SIGTERM is ours to handle
        _terminate_like_interrupt()
    handler: Handler = args.handler
    try:
        return handler(args)
    except NasError as exc:
        sys.stderr.write(f"nas: error: {exc}\n")
        return 2
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        if argv is None:  # run as the program: nothing else lives in this process, so it ends by the deadline
            _INTERRUPTS.report()
            _INTERRUPTS.start_deadline()
        else:
            sys.stderr.write(INTERRUPTED)
        return 130
    except OSError as exc:  # disk full, a read-only folder: the system's word, in one line
        where = f"{exc.filename}: " if exc.filename else ""
        sys.stderr.write(f"nas: error: {where}{exc.strerror or exc}; free space or pick a writable folder, "
                         "then run again (finished work is kept)\n")
        return 2



if __name__ == "__main__":
    raise SystemExit(main())
