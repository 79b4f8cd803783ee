"""What ``wfrun migrate`` prints and writes; the click command in ``wfrun.cli`` only parses.

Where the migrated JSON goes to stdout, the report goes to stderr, so
``wfrun migrate old.json > new.json`` gives a clean file.
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path

import click

from wfrun.formats.source import container_of, json_beside, read_workflow
from wfrun.migrate.apply import migrate_file

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2


def run_migrate(file: str, output: str | None, in_place: bool, check: bool, diff: bool,
                fmt: str, backup: bool) -> int:
    """Migrate one file as the options say; return the exit code."""
    if output and in_place:
        raise click.UsageError("give either -o/--output or --in-place, not both")
    if output and Path(output).exists() and Path(output).resolve() != Path(file).resolve():
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
    result, text = migrate_file(file, output=output if writes else None, in_place=in_place and writes,
                                backup=backup)
    to_stdout = not writes and not check and not diff
    report = (json.dumps(result.to_json(file), indent=1, ensure_ascii=False) + "\n"
              if fmt == "json" else result.text(file))
    if diff:
        original = Path(f"{file}.bak" if in_place and writes and backup and result.changed else file)
        if media:
            before = read_workflow(file).text
        else:
            before = original.read_text(encoding="utf-8") if original.exists() else ""
        click.echo("".join(difflib.unified_diff(before.splitlines(True), text.splitlines(True),
                                                fromfile=file, tofile=output or file)), nl=False)
    if to_stdout:
        click.echo(text, nl=False)
    click.echo(report, nl=False, err=to_stdout or diff)
    if check and result.changed:
        return EXIT_PROBLEMS
    return EXIT_OK
