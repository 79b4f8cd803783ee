"""The ``wfrun`` command line. Commands only parse arguments, call the layers, and map
outcomes to exit codes: 0 ok, 1 the workflow has problems, 2 usage or environment, 130
interrupted (Ctrl-C). Write errors and Ctrl-C are handled once, for every command, by
:mod:`wfrun.cli.guard`.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from wfrun import __version__
from wfrun.cli.guard import GuardedGroup, SafePath
from wfrun.diagnostics import Severity, has_errors
from wfrun.formats.document import FormatError, dumps, load, write_atomic
from wfrun.graph import CheckOptions, build
from wfrun.models.paths import ModelPathError, ModelRoots
from wfrun.graph.render import graph_to_api, graph_to_dot, graph_to_json, graph_to_text
from wfrun.jobs.validate import FileResult, validate_file

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2


@click.group(cls=GuardedGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="wfrun")
def main() -> None:
    """Read, migrate, validate and run ComfyUI video workflows without ComfyUI."""


from wfrun.cli.run import run as _run_command  # noqa: E402 - the run command lives in its own module

main.add_command(_run_command)


@main.command()
@click.argument("files", nargs=-1, required=True, type=SafePath(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["text", "json", "github"]), default="text",
              show_default=True, help="text for people, json for tools, github for Actions annotations")
@click.option("--models", "models_dir", type=SafePath(file_okay=False),
              help="ComfyUI models folder: also check that every model file the workflow names exists")
@click.option("--strict", is_flag=True, help="treat warnings as problems (exit 1)")
def validate(files: tuple[str, ...], fmt: str, models_dir: str | None, strict: bool) -> None:
    """Check workflow FILES: JSON, schema, links, types, values, Wan frame/size rules."""
    if models_dir is not None and not Path(models_dir).is_dir():
        raise click.UsageError(f"--models {models_dir}: no such folder")
    missing = [f for f in files if not Path(f).is_file()]
    if missing:
        raise click.UsageError(f"no such file: {', '.join(missing)}")
    try:
        options = CheckOptions(models=ModelRoots.from_options(models_dir) if models_dir else None)
    except ModelPathError as err:  # a broken extra_model_paths.yaml
        raise click.UsageError(str(err)) from None
    try:
        results = [validate_file(path, options) for path in files]
    except OSError as err:  # unreadable, or ffmpeg missing for a video: this machine, not the workflow
        raise click.UsageError(f"cannot read {err.filename or 'a file'}: {err.strerror or err}") from None
    _print_results(results, fmt)
    failed = any(has_errors(r.diagnostics, strict) for r in results)
    sys.exit(EXIT_PROBLEMS if failed else EXIT_OK)


def _print_results(results: list[FileResult], fmt: str) -> None:
    if fmt == "json":
        click.echo(json.dumps({"files": [
            {"file": r.path, "ok": not has_errors(r.diagnostics),
             "errors": r.count(Severity.ERROR), "warnings": r.count(Severity.WARNING),
             "diagnostics": [d.to_json() for d in r.diagnostics]} for r in results]}, indent=1))
        return
    for result in results:
        for diag in result.diagnostics:
            click.echo(diag.github() if fmt == "github" else diag.text())
        errors, warnings = result.count(Severity.ERROR), result.count(Severity.WARNING)
        if fmt == "text":
            status = "ok" if not errors and not warnings else f"{errors} error(s), {warnings} warning(s)"
            click.echo(f"{result.path}: {status}")
    if fmt == "text" and len(results) > 1:
        bad = sum(1 for r in results if has_errors(r.diagnostics))
        click.echo(f"{len(results)} file(s) checked, {bad} with errors")


def _load_or_exit(path: str):
    try:
        return load(path)
    except FormatError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(EXIT_PROBLEMS)
    except OSError as err:
        raise click.UsageError(f"cannot read {path}: {err.strerror}") from None


@main.command()
@click.argument("file", type=SafePath(exists=True, dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["text", "dot", "json"]), default="text",
              show_default=True)
def graph(file: str, fmt: str) -> None:
    """Print the resolved DAG of FILE in execution order (exit 1 if links loop or are broken)."""
    built = build(_load_or_exit(file))
    render = {"text": graph_to_text, "dot": graph_to_dot, "json": graph_to_json}[fmt]
    click.echo(render(built), nl=False)
    for problem in built.problems:
        click.echo(problem.text(), err=True)
    sys.exit(EXIT_PROBLEMS if has_errors(built.problems) else EXIT_OK)


@main.command()
@click.argument("file", type=SafePath(exists=True, dir_okay=False))
@click.option("--to", "target", type=click.Choice(["api"]), required=True,
              help="api: the prompt the ComfyUI frontend would queue")
@click.option("-o", "--output", type=SafePath(dir_okay=False), help="write here instead of stdout")
def convert(file: str, target: str, output: str | None) -> None:
    """Convert FILE to another format."""
    built = build(_load_or_exit(file))
    text = dumps(graph_to_api(built))
    if output:
        if os.path.lexists(output):
            raise click.UsageError(f"{output} exists; wfrun never overwrites a file it did not make")
        write_atomic(output, text, replace=False)
    else:
        click.echo(text, nl=False)
    for problem in built.problems:
        click.echo(problem.text(), err=True)


@main.command()
@click.argument("file", type=SafePath(exists=True, dir_okay=False))
@click.option("-o", "--output", type=SafePath(dir_okay=False), help="write the migrated file here")
@click.option("--in-place", is_flag=True,
              help="rewrite FILE atomically, keeping its mode; a symlink's target is rewritten and the link "
                   "kept; the original is kept as FILE.bak (FILE.bak.1, .2, … when that exists); for a "
                   "PNG/WebP/video FILE, write its workflow as JSON beside it instead (clip.json, or "
                   "clip.1.json... if taken): a media file is never changed")
@click.option("--no-backup", is_flag=True, help="with --in-place: do not keep FILE.bak")
@click.option("--check", is_flag=True, help="write nothing; exit 1 when a migration is needed")
@click.option("--diff", is_flag=True, help="print a unified diff of the changes")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="the report: text for people, json for tools")
def migrate(file: str, output: str | None, in_place: bool, no_backup: bool, check: bool, diff: bool,
            fmt: str) -> None:
    """Repair FILE's nodes after node-pack updates (prints the result unless -o/--in-place).

    FILE is a workflow JSON file, or an image or video with the workflow embedded (PNG, WebP,
    JPEG, GIF, MP4, MOV, WebM, MKV); the result is always JSON.
    """
    from wfrun.cli.migrate import run_migrate

    _load_or_exit(file)
    sys.exit(run_migrate(file, output, in_place, check, diff, fmt, backup=not no_backup))


@main.command()
@click.argument("files", nargs=-1, required=True, type=SafePath(exists=True))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="text for people, json for tools")
def coverage(files: tuple[str, ...], fmt: str) -> None:
    """Which node types keep workflow FILES from running, and in how many of them.

    Each file is read, migrated in memory, built and planned as `wfrun run --smoke` would;
    a node type counts where the plan needs it and wfrun has no executor for it. A folder
    stands for the .json files in it. Nothing is loaded; exit 0 whatever the counts.
    """
    from wfrun.jobs.coverage import coverage as measure

    paths: list[Path] = []
    for name in files:
        path = Path(name)
        paths += sorted(path.glob("*.json")) if path.is_dir() else [path]
    if not paths:
        raise click.UsageError("no workflow files found")
    report = measure(paths)
    if fmt == "json":
        click.echo(json.dumps(report.to_json(), indent=1))
    else:
        click.echo(report.text(), nl=False)


@main.group()
def specs() -> None:
    """Node specs: regenerate a pack's input signatures from its git history."""


@specs.command("extract")
@click.argument("git_dir", type=SafePath(exists=True, file_okay=False))
@click.option("--pack", required=True, help="pack name, e.g. ComfyUI-WanVideoWrapper")
@click.option("--cnr-id", help="registry id saved in workflows as properties.cnr_id")
@click.option("--repo", help="owner/name, recorded as the source")
@click.option("--head-only", is_flag=True, help="only the newest commit, no history")
@click.option("--since", help="first commit to walk (YYYY-MM-DD or commit)")
@click.option("--until", help="last commit to walk (YYYY-MM-DD or commit)")
@click.option("--rev", default="HEAD", show_default=True, help="newest commit to read")
@click.option("--all-commits", is_flag=True,
              help="walk side branches too, so every properties.ver a file may carry is known")
@click.option("--note", help="free text kept in the output's source (e.g. which fork was read)")
@click.option("-o", "--output", type=SafePath(dir_okay=False), required=True)
def specs_extract(git_dir: str, pack: str, cnr_id: str | None, repo: str | None, head_only: bool,
                  since: str | None, until: str | None, rev: str, all_commits: bool, note: str | None,
                  output: str) -> None:
    """Extract every node's input signatures over GIT_DIR's history into OUTPUT.

    The committed WanVideoWrapper specs were made with:
    wfrun specs extract REPO --pack ComfyUI-WanVideoWrapper --cnr-id ComfyUI-WanVideoWrapper
    --repo ykk648/ComfyUI-WanVideoWrapper --all-commits -o schemas/nodes/ComfyUI-WanVideoWrapper.json
    """
    from wfrun.specs.extract import ExtractArgumentError, GitError, extract_pack, write_pack

    try:
        specs_ = extract_pack(git_dir, pack, cnr_id=cnr_id, repo=repo, head_only=head_only, since=since,
                              until=until, rev=rev, all_commits=all_commits, note=note)
    except ExtractArgumentError as err:
        raise click.UsageError(str(err)) from None
    except GitError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(EXIT_USAGE)
    try:
        write_pack(specs_, output)
    except OSError as err:
        raise click.UsageError(f"-o {output}: cannot be written ({err.strerror})") from None
    total = sum(len(n.signatures) for n in specs_.nodes.values())
    click.echo(f"{output}: {len(specs_.nodes)} nodes, {total} signatures")


if __name__ == "__main__":
    main()
