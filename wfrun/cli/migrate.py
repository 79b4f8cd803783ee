"""What ``wfrun migrate`` prints and writes; the click command in ``wfrun.cli`` only parses.

Where the migrated JSON goes to stdout, the report goes to stderr, so
``wfrun migrate old.json > new.json`` gives a clean file.
"""

from __future__ import annotations

import difflib
import json
import os
from pathlib import Path

import click

from wfrun.formats.document import write_atomic
from wfrun.formats.source import container_of, json_beside, read_workflow
from wfrun.migrate.apply import migrate_file, rewrite_in_place

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2


def run_migrate(file: str, output: str | None, in_place: bool, check: bool, diff: bool,
                fmt: str, backup: bool) -> int:
    """Migrate one file as the options say; return the exit code.

    Writing errors (a full disk, a folder that is a file) propagate as ``OSError`` naming
    the file: the CLI's guard turns them into ``error: …`` and exit 2.
    """
    if output and in_place:
        raise click.UsageError("give either -o/--output or --in-place, not both")
    if output and os.path.lexists(output) and Path(output).resolve() != Path(file).resolve():
        raise click.UsageError(f"{output} exists; wfrun never overwrites a file it did not make "
                               "(use --in-place to migrate a file where it is)")
    if output and Path(output).resolve() == Path(file).resolve():
        output, in_place = None, True
    media = container_of(file) is not None
    if media and in_place and not check:  # the workflow goes beside the image or video, never into it
        try:
            output, in_place = str(json_beside(file)), False
        except FileExistsError as err:
            raise click.UsageError(str(err)) from None
        click.echo(f"{file} is a media file, which wfrun never rewrites: writing its workflow to {output}", err=True)
    writes = not check and (output is not None or in_place)
    before = read_workflow(file).text if diff else ""
    result, text = migrate_file(file)
    kept = None
    if writes and in_place and result.changed:
        kept = rewrite_in_place(file, text, backup=backup)
    elif writes and output is not None:
        write_atomic(output, text, replace=False)
    to_stdout = not writes and not check and not diff
    report = (json.dumps(result.to_json(file), indent=1, ensure_ascii=False) + "\n"
              if fmt == "json" else result.text(file))
    if diff:
        click.echo("".join(difflib.unified_diff(before.splitlines(True), text.splitlines(True),
                                                fromfile=file, tofile=output or file)), nl=False)
    if to_stdout:
        click.echo(text, nl=False)
    click.echo(report, nl=False, err=to_stdout or diff)
    if kept is not None:
        click.echo(f"kept the original as {kept}", err=True)
    if check and result.changed:
        return EXIT_PROBLEMS
    return EXIT_OK
