"""``python -m wfrun`` and the installed ``wfrun`` command: the process around the CLI.

The commands' own guard (:mod:`wfrun.cli.guard`) turns errors and Ctrl-C into messages and
exit codes. This wrapper covers the two moments outside any command: Ctrl-C while the CLI
is still being imported (torch takes a few seconds), and Ctrl-C after the command has
finished and printed its result, while the interpreter shuts down. Both would otherwise end
in a traceback; the first exits 130, the second keeps the command's exit code.

It also keeps peft out of the process before anything is imported
(:mod:`wfrun.lean_imports`), and leaves at once when the command is done instead of tearing
the interpreter down (:func:`leave`).
"""

from __future__ import annotations

import logging
import os
import signal
import sys


def main() -> None:
    code: int | str | None = 0
    try:
        try:
            from wfrun.lean_imports import keep_unused_packages_out
            from wfrun.long_lived import hold_until_job_start, own_process

            keep_unused_packages_out()
            own_process()  # wfrun's own process: the collector skips what imports made (long_lived)
            if sys.argv[1:2] == ["run"]:
                hold_until_job_start()
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
    leave(code)


def leave(code: int | str | None) -> None:
    """End the process with the command's exit status once its output is out.

    By then every file the command wrote is closed (outputs are written atomically and
    waited for) and every child process is waited for. What a normal interpreter exit adds
    is teardown: unloading thousands of torch/diffusers/transformers modules, destroying the
    CUDA context, joining idle loader threads. That took 2.7 s of a tiny CPU run here and
    6 s of a GPU job on the H200 (bench/RESULTS.md, session 13) while the user waits for
    the prompt. So the streams and logging handlers are flushed and the process exits at
    once with the status ``sys.exit`` would have given (None 0, a message 1).
    """
    if isinstance(code, str):
        print(code, file=sys.stderr)
        status = 1
    else:
        status = 0 if code is None else int(code)
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: nothing more can reach it
            pass
    os._exit(status)


def _ignore_interrupts() -> None:
    """The work is done (or given up): a Ctrl-C from now on must not interrupt shutdown."""
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread
        pass


if __name__ == "__main__":
    main()
