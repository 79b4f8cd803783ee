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
    report = run_sweep([str(WORKFLOW)], options, [3, 4, 5], workers=2, say=lines.append)
    assert report.workers == 2 and not report.failed and not report.interrupted
    assert len({o.worker for o in report.outcomes}) == 2  # both workers had a job
    assert all(o.attempts == 1 for o in report.outcomes)
    # the third job ran on a worker that had run one: its models stayed loaded
    later = [o for o in report.outcomes if "WanVideoModelLoader" in o.cached]
    assert len(later) == 1 and "WanVideoSampler" not in later[0].cached
    # every file came back into the output folder, none over another
    names = sorted(p.name for o in report.outcomes for p in o.written)
    assert names == [f"wfrun_t2v_tiny_0000{n}.{ext}" for n in (1, 2, 3) for ext in ("mp4", "png")]
    sequential = run_seeds(WORKFLOW, RunOptions(smoke=True, device="cpu", output_dir=tmp_path / "seq"), [3, 4, 5])
    for outcome in report.outcomes:
        alone = _video(sequential.reports[outcome.job.seed].result.written)
        assert _frames(_video(outcome.written)) == _frames(alone), outcome.job.label
    assert _frames(_video(report.outcomes[0].written)) != _frames(_video(report.outcomes[1].written))
    assert Image.open(report.contact_sheet).height == 3 * (THUMB_HEIGHT + GAP)  # a row per seed
    assert any(line.startswith("[3/3]") for line in lines)  # progress per job


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


def test_ray_options_are_parsed_and_misuse_refused(tmp_path, monkeypatch):
    from wfrun.jobs import ray_sweep

    seen = {}

    def fake(files, options, seeds, **kw):
        seen.update(files=files, seeds=seeds, **kw)
        return ray_sweep.SweepReport([])

    monkeypatch.setattr(ray_sweep, "run_sweep", fake)
    other = tmp_path / "b.json"
    other.write_text("{}", encoding="utf-8")
    runner = CliRunner()
    # a file right after --ray is a workflow, not an address
    result = runner.invoke(main, ["run", "--ray", str(WORKFLOW), str(other), "--seeds", "1-3", "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert seen["files"] == [str(WORKFLOW), str(other)] and seen["seeds"] == [1, 2, 3]
    assert seen["address"] is None and seen["workers"] is None
    result = runner.invoke(main, ["run", str(WORKFLOW), "--ray", "10.0.0.5:6379", "--ray-workers", "3",
                                  "-o", str(tmp_path)])
    assert result.exit_code == 0 and seen["address"] == "10.0.0.5:6379" and seen["workers"] == 3
    for args in ([str(WORKFLOW), str(other), "--gpus", "2"], [str(WORKFLOW), "--ray-workers", "2"],
                 [str(WORKFLOW), "--gpus", "2", "--seeds", "1-2"], [str(WORKFLOW), "--ray", "--gpus", "2"]):
        result = runner.invoke(main, ["run", *args, "-o", str(tmp_path)])
        assert result.exit_code == 2, (args, result.output)


def test_an_address_where_nothing_answers_is_a_usage_error_at_once():
    import socket

    from wfrun.jobs import ray_sweep

    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(JobError, match="nothing answers") as err:
        ray_sweep._check_reachable(f"127.0.0.1:{port}")
    assert err.value.exit_code == 2
