"""``wfrun run … --ray``: jobs on a local Ray cluster of two CPU workers give the frames
sequential runs give; a failing job is tried once more while the others finish; without
Ray, ``--ray`` is a usage error saying what to install."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import ray
from click.testing import CliRunner
from PIL import Image

from wfrun.cli import main
from wfrun.jobs.ray_sweep import gather_file, run_sweep
from wfrun.jobs.run import JobError, RunOptions
from wfrun.jobs.seeds import run_seeds
from wfrun.media.contact_sheet import GAP, THUMB_HEIGHT
from wfrun.media.video import iter_frames
from wfrun.models.tiny import ensure_tiny_models

WORKFLOW = Path(__file__).resolve().parents[1] / "workflows" / "wan_t2v_tiny.json"


@pytest.fixture(scope="module")
def cluster():
    """A small local cluster: two CPUs, no dashboard, a small object store; shut down after."""
    ensure_tiny_models()  # written once here, not by two workers at the same time
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=80 * 2**20, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


def _frames(path: Path) -> list[bytes]:
    return [f.tobytes() for f in iter_frames(path)]


def _video(paths) -> Path:
    return next(Path(p) for p in paths if str(p).endswith(".mp4"))


def test_seed_sweep_on_two_workers_gives_the_sequential_frames(cluster, tmp_path):
    options = RunOptions(smoke=True, device="cpu", output_dir=tmp_path / "ray")
    lines: list[str] = []
    report = run_sweep([str(WORKFLOW)], options, [3, 4], workers=2, say=lines.append)
    assert report.workers == 2 and not report.failed and not report.interrupted
    assert len({o.worker for o in report.outcomes}) == 2  # both workers had a job
    assert all(o.attempts == 1 for o in report.outcomes)
    # every file came back into the output folder, none over another
    names = sorted(p.name for o in report.outcomes for p in o.written)
    assert names == ["wfrun_t2v_tiny_00001.mp4", "wfrun_t2v_tiny_00001.png",
                     "wfrun_t2v_tiny_00002.mp4", "wfrun_t2v_tiny_00002.png"]
    sequential = run_seeds(WORKFLOW, RunOptions(smoke=True, device="cpu", output_dir=tmp_path / "seq"), [3, 4])
    for outcome in report.outcomes:
        alone = _video(sequential.reports[outcome.job.seed].result.written)
        assert _frames(_video(outcome.written)) == _frames(alone), outcome.job.label
    assert _frames(_video(report.outcomes[0].written)) != _frames(_video(report.outcomes[1].written))
    assert Image.open(report.contact_sheet).height == 2 * (THUMB_HEIGHT + GAP)  # a row per seed
    assert any(line.startswith("[2/2]") for line in lines)  # progress per job


def test_a_failing_job_is_tried_twice_and_the_others_finish(cluster, tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    result = CliRunner().invoke(main, ["run", str(WORKFLOW), str(broken), "--ray", "--ray-workers", "2",
                                       "--smoke", "--device", "cpu", "-o", str(tmp_path / "out")])
    assert result.exit_code == 1, result.output
    assert "broken.json FAILED after 2 tries" in result.output
    assert "failed: broken.json" in result.output  # the summary names the job
    assert "trying once more" in result.output
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert "wfrun_t2v_tiny_00001.mp4" in written  # the good job finished


def test_without_ray_the_option_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now fails as when not installed
    result = CliRunner().invoke(main, ["run", str(WORKFLOW), "--ray", "--smoke", "-o", str(tmp_path)])
    assert result.exit_code == 2
    assert "pip install 'wfrun[ray]'" in result.output


def test_gathered_files_never_overwrite_and_stay_in_the_folder(tmp_path):
    first = gather_file(tmp_path, "sub/clip_00001.mp4", b"a")
    second = gather_file(tmp_path, "sub/clip_00001.mp4", b"b")
    plain = [gather_file(tmp_path, "sheet.png", b"c"), gather_file(tmp_path, "sheet.png", b"d")]
    assert (first.name, second.name) == ("clip_00001.mp4", "clip_00002.mp4")
    assert first.read_bytes() == b"a" and second.read_bytes() == b"b"
    assert [p.name for p in plain] == ["sheet.png", "sheet_2.png"]
    for bad in ("../x.mp4", "/etc/x", "a/../../x"):
        with pytest.raises(JobError):
            gather_file(tmp_path, bad, b"x")


def test_scratch_folders_of_dead_workers_are_removed(tmp_path, monkeypatch):
    import os
    import tempfile

    from wfrun.jobs import ray_sweep

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = tmp_path / "wfrun-ray-999999999-x"  # above any pid_max: no such process
    alive = tmp_path / f"wfrun-ray-{os.getppid()}-x"
    other = tmp_path / "wfrun-ray-notes"
    for folder in (dead, alive, other):
        folder.mkdir()
    ray_sweep._remove_stale_scratch()
    assert not dead.exists() and alive.exists() and other.exists()
