"""``python -m wfrun`` and the installed ``wfrun`` command: the process around the CLI.

The commands' own guard (:mod:`wfrun.cli.guard`) turns errors and Ctrl-C into messages and
exit codes. This wrapper covers the two moments outside any command: Ctrl-C while the CLI
is still being imported (torch takes a few seconds), and Ctrl-C after the command has
finished and printed its result, while the interpreter shuts down. Both would otherwise end
in a traceback; the first exits 130, the second keeps the command's exit code.
"""

from __future__ import annotations

import signal
import sys


def main() -> None:
    code: int | str | None = 0
    try:
        try:
            from wfrun.cli import main as command

            command()  # click's standalone mode: always ends in SystemExit
        except SystemExit as end:
            code = end.code
        except KeyboardInterrupt:  # still importing: the commands' guard is not there yet
            print("\ninterrupted", file=sys.stderr)
            code = 130
    except KeyboardInterrupt:  # a second Ctrl-C while the first was being reported
        code = 130
    finally:
        _ignore_interrupts()
    sys.exit(code)


def _ignore_interrupts() -> None:
    """The work is done (or given up): a Ctrl-C from now on must not interrupt shutdown."""
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread
        pass


if __name__ == "__main__":
    main()
