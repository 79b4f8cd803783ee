"""No data loss and no traceback on hostile file systems: full disks, SIGKILL, Ctrl-C,
symlinks, existing backups, names the file system refuses, stdout to a full device.

A full disk is simulated by ``hostile_io`` (writes under a folder fail with ENOSPC once a
byte budget is spent, where a real disk fails: often only at flush or close). Tests run as
root, so a read-only folder is built as a file standing where the folder should be.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import hostile_io
from conftest import CORPUS, ROOT
from wfrun.cli import main

OLD = CORPUS / "wanvideowrapper" / "2025-03-28_6334dfa_wanvideo_Fun_control_example_01.json"
DEMO = ROOT / "workflows" / "wan_t2v_tiny.json"
TESTS = Path(__file__).resolve().parent


def cli(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args])


def listing(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def old_copy(tmp_path: Path, name: str = "old.json") -> Path:
    path = tmp_path / name
    shutil.copy(OLD, path)
    return path


def migrated_text() -> str:
    result = cli("migrate", OLD)
    assert result.exit_code == 0
    return result.stdout


# ------------------------------------------------------------------ migrate --in-place

def test_in_place_keeps_a_backup_it_did_not_write(tmp_path):
    path = old_copy(tmp_path)
    mine = tmp_path / "old.json.bak"
    mine.write_text("my own notes, not a backup wfrun made\n")
    result = cli("migrate", path, "--in-place")
    assert result.exit_code == 0, result.output
    assert mine.read_text() == "my own notes, not a backup wfrun made\n"
    assert (tmp_path / "old.json.bak.1").read_bytes() == OLD.read_bytes()
    assert path.read_text(encoding="utf-8") == migrated_text()
    assert "old.json.bak.1" in result.stderr
    # the next backup takes the next free name again
    shutil.copy(OLD, path)
    assert cli("migrate", path, "--in-place").exit_code == 0
    assert (tmp_path / "old.json.bak.2").read_bytes() == OLD.read_bytes()
    assert mine.read_text() == "my own notes, not a backup wfrun made\n"


def test_in_place_keeps_the_file_mode(tmp_path):
    path = old_copy(tmp_path)
    os.chmod(path, 0o640)
    assert cli("migrate", path, "--in-place").exit_code == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert stat.S_IMODE((tmp_path / "old.json.bak").stat().st_mode) == 0o640


def test_a_new_output_file_gets_the_usual_mode(tmp_path):
    out = tmp_path / "new.json"
    assert cli("migrate", OLD, "-o", out).exit_code == 0
    umask = os.umask(0o22)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask


def test_in_place_through_a_symlink_migrates_the_target_and_keeps_the_link(tmp_path):
    (tmp_path / "versions").mkdir()
    target = old_copy(tmp_path / "versions", "v3.json")
    link = tmp_path / "current.json"
    link.symlink_to(Path("versions") / "v3.json")
    result = cli("migrate", link, "--in-place")
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and os.readlink(link) == os.path.join("versions", "v3.json")
    assert target.read_text(encoding="utf-8") == migrated_text()
    assert (tmp_path / "current.json.bak").read_bytes() == OLD.read_bytes()
    assert not (tmp_path / "current.json.bak").is_symlink()


def test_in_place_on_a_full_disk_leaves_everything_as_it_was(tmp_path, monkeypatch):
    path = old_copy(tmp_path)
    before = listing(tmp_path)
    disk = hostile_io.Disk(tmp_path, budget=4096)
    hostile_io.install(disk, monkeypatch.setattr)
    result = cli("migrate", path, "--in-place")
    monkeypatch.undo()
    assert disk.refused, "the simulated disk never filled up"
    assert result.exit_code == 2, result.output
    assert "No space left on device" in result.stderr and str(tmp_path) in result.stderr
    assert "Traceback" not in result.output
    assert listing(tmp_path) == before  # the original untouched, no .bak, no temporaries
    assert sorted(os.listdir(tmp_path)) == ["old.json"]


def test_in_place_in_a_read_only_folder_is_a_clear_error(tmp_path, monkeypatch):
    path = old_copy(tmp_path)
    disk = hostile_io.Disk(tmp_path, budget=10**9, action="readonly")
    hostile_io.install(disk, monkeypatch.setattr)
    result = cli("migrate", path, "--in-place")
    monkeypatch.undo()
    assert disk.refused
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"error: {path}: Read-only file system")
    assert "Traceback" not in result.output
    assert sorted(os.listdir(tmp_path)) == ["old.json"] and path.read_bytes() == OLD.read_bytes()


def test_no_final_name_ever_holds_a_partial_file(tmp_path, monkeypatch):
    """At every write wfrun makes, the names the user sees hold complete files only."""
    path = old_copy(tmp_path)
    original = OLD.read_bytes()

    def check() -> None:
        for entry in tmp_path.iterdir():
            if entry.name.startswith("old.json"):  # the file and its backups, not hidden temporaries
                assert entry.read_bytes() == original, f"{entry.name} is incomplete during the write"

    disk = hostile_io.Disk(tmp_path, budget=10**9, watch=check)
    hostile_io.install(disk, monkeypatch.setattr)
    result = cli("migrate", path, "--in-place")
    monkeypatch.undo()
    assert result.exit_code == 0, (result.exception, result.output)
    assert disk.calls >= 2, "no writes were seen"
    assert sorted(os.listdir(tmp_path)) == ["old.json", "old.json.bak"]


def test_sigkill_mid_write_leaves_no_partial_backup_or_file(tmp_path):
    """A real SIGKILL, sent by the process to itself once 1000 bytes of its writes went out."""
    path = old_copy(tmp_path)
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]); import hostile_io; from pathlib import Path\n"
        "hostile_io.install(hostile_io.Disk(Path(sys.argv[2]), 1000, action='kill'), setattr)\n"
        "from wfrun.cli import main\n"
        "main(['migrate', sys.argv[3], '--in-place'])\n")
    done = subprocess.run([sys.executable, "-c", script, str(TESTS), str(tmp_path), str(path)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert path.read_bytes() == OLD.read_bytes()
    for entry in tmp_path.iterdir():
        if not entry.name.startswith("."):  # only hidden temporaries may be left by a SIGKILL
            assert entry.read_bytes() == OLD.read_bytes(), f"{entry.name} holds a partial file"


# ------------------------------------------------------------------ tiny models folder

def _fake_writer(calls: list):
    from wfrun.models import tiny

    def write(root):
        calls.append(Path(root))
        root = Path(root)
        (root / "vae").mkdir(parents=True, exist_ok=True)
        (root / "vae" / "w.safetensors").write_bytes(b"x")
        (root / "manifest.json").write_text(json.dumps({"version": tiny.TINY_VERSION}))
        return root

    return write


def test_tiny_models_never_delete_files_they_did_not_make(tmp_path, monkeypatch):
    from wfrun.models import tiny

    monkeypatch.setenv("WFRUN_CACHE", str(tmp_path))
    folder = tmp_path / "tiny-models"
    folder.mkdir()
    (folder / "manifest.json").write_text('{"version": "my own"}')
    (folder / "notes.txt").write_text("mine")
    calls: list = []
    monkeypatch.setattr(tiny, "write_tiny_models", _fake_writer(calls))
    root = tiny.ensure_tiny_models()
    assert (folder / "notes.txt").read_text() == "mine"
    assert (folder / "manifest.json").read_text() == '{"version": "my own"}'
    assert json.loads((root / "manifest.json").read_text())["version"] == tiny.TINY_VERSION
    assert (root / "vae" / "w.safetensors").is_file() and len(calls) == 1
    assert tiny.ensure_tiny_models() == root and len(calls) == 1  # reused, not rewritten
    assert sorted(p.name for p in folder.iterdir()) == sorted(["manifest.json", "notes.txt", root.name])


def test_tiny_models_refuse_a_foreign_folder_and_clean_up_after_a_failure(tmp_path, monkeypatch):
    from wfrun.models import tiny

    base = tmp_path / "tiny"
    calls: list = []
    monkeypatch.setattr(tiny, "write_tiny_models", _fake_writer(calls))
    root = tiny.ensure_tiny_models(base)
    shutil.rmtree(root)
    root.mkdir()
    (root / "mine.safetensors").write_bytes(b"user data")
    with pytest.raises(OSError) as info:
        tiny.ensure_tiny_models(base)
    assert str(root) in str(info.value)
    assert (root / "mine.safetensors").read_bytes() == b"user data"
    assert sorted(p.name for p in base.iterdir()) == [root.name]  # the staging folder is gone

    def interrupted(staging):
        (Path(staging) / "half.safetensors").write_bytes(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(tiny, "write_tiny_models", interrupted)
    shutil.rmtree(root)
    with pytest.raises(KeyboardInterrupt):
        tiny.ensure_tiny_models(base)
    assert list(base.iterdir()) == []


# ------------------------------------------------------------------ outputs of a run

def image_prompt(tmp_path: Path, frames: int = 3, video: bool = False, prefix: str = "pic") -> Path:
    """An API prompt that needs no model: a plain image batch, saved as PNGs or as an mp4."""
    save = ({"class_type": "VHS_VideoCombine",
             "inputs": {"images": ["1", 0], "frame_rate": 8, "loop_count": 0, "filename_prefix": prefix,
                        "format": "video/h264-mp4", "pingpong": False, "save_output": True}}
            if video else {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": prefix}})
    data = {"1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 48, "batch_size": frames,
                                                          "color": 0x3366CC}},
            "2": save}
    path = tmp_path / "prompt.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_a_run_on_a_full_disk_leaves_no_partial_outputs(tmp_path, monkeypatch):
    out = tmp_path / "out"
    prompt = image_prompt(tmp_path, frames=3)
    assert cli("run", prompt, "-o", out).exit_code == 0
    earlier = listing(out)
    disk = hostile_io.Disk(out, budget=len(earlier["pic_00001_.png"]) + 200)  # the next PNG fits only in part
    hostile_io.install(disk, monkeypatch.setattr)
    result = cli("run", prompt, "-o", out)
    monkeypatch.undo()
    assert disk.refused
    assert result.exit_code == 2, result.output
    assert "No space left on device" in result.stderr and str(out) in result.stderr
    assert "Traceback" not in result.output and "done" not in result.stdout
    files = listing(out)
    assert {k: v for k, v in files.items() if k in earlier} == earlier  # earlier outputs untouched
    new = {k: v for k, v in files.items() if k not in earlier}
    assert list(new) == ["pic_00004_.png"]  # one complete image, then the disk was full
    assert new["pic_00004_.png"] == earlier["pic_00001_.png"]
    assert not any(name.startswith(".") for name in os.listdir(out))


def test_ctrl_c_while_the_video_is_written(tmp_path, monkeypatch):
    """SIGINT arrives after three frames went to ffmpeg: exit 130, no 'done', and no video,
    neither truncated under its name nor as a temporary; the first-frame PNG is complete."""
    from wfrun.packs.vhs import video_nodes

    real = video_nodes.frames_to_bytes

    def then_ctrl_c(frames, bits=8):
        for i, data in enumerate(real(frames, bits)):
            if i == 3:
                os.kill(os.getpid(), signal.SIGINT)
            yield data

    monkeypatch.setattr(video_nodes, "frames_to_bytes", then_ctrl_c)
    out = tmp_path / "out"
    result = cli("run", image_prompt(tmp_path, frames=9, video=True, prefix="vid"), "-o", out)
    assert result.exit_code == 130, result.output
    assert "done" not in result.stdout and "Traceback" not in result.output
    assert sorted(os.listdir(out)) == ["vid_00001.png"]
    assert result.output.count("wrote") == 1 and "interrupted" in result.stderr


def test_ctrl_c_from_a_terminal_while_the_video_is_written(tmp_path):
    """As a terminal does it: SIGINT to the whole process group (wfrun and its ffmpeg), after
    three frames. ffmpeg must not finish a truncated file under the video's name."""
    out = tmp_path / "out"
    script = (
        "import os, signal, sys\n"
        "from wfrun.packs.vhs import video_nodes\n"
        "real = video_nodes.frames_to_bytes\n"
        "def then_ctrl_c(frames, bits=8):\n"
        "    for i, data in enumerate(real(frames, bits)):\n"
        "        if i == 3:\n"
        "            os.killpg(0, signal.SIGINT)\n"
        "        yield data\n"
        "video_nodes.frames_to_bytes = then_ctrl_c\n"
        "sys.argv = ['wfrun', 'run', sys.argv[1], '-o', sys.argv[2]]\n"
        "from wfrun.__main__ import main\n"
        "main()\n")
    prompt = image_prompt(tmp_path, frames=9, video=True, prefix="vid")
    done = subprocess.run([sys.executable, "-c", script, str(prompt), str(out)], capture_output=True, text=True,
                          timeout=300, start_new_session=True)  # its own group: the signal reaches nothing else
    assert done.returncode == 130, done.stdout + done.stderr
    assert "done" not in done.stdout and "Traceback" not in done.stderr
    assert sorted(os.listdir(out)) == ["vid_00001.png"]


def test_video_writing_shows_progress_and_one_wrote_line_per_file(tmp_path):
    out = tmp_path / "out"
    result = cli("run", image_prompt(tmp_path, frames=9, video=True, prefix="vid"), "-o", out)
    assert result.exit_code == 0, result.output
    assert "writing vid_00001.mp4" in result.stderr and "9/9" in result.stderr
    assert sorted(os.listdir(out)) == ["vid_00001.mp4", "vid_00001.png"]
    wrote = [line for line in result.output.splitlines() if "wrote" in line]
    assert len(wrote) == 2 and sum("vid_00001.mp4" in w for w in wrote) == 1


def test_encode_interrupted_between_frames_leaves_nothing(tmp_path):
    from wfrun.media.video import encode

    def frames():
        for i in range(6):
            if i == 3:
                raise KeyboardInterrupt
            yield bytes([40 * i]) * (32 * 16 * 3)

    with pytest.raises(KeyboardInterrupt):
        encode(frames(), tmp_path / "v.mp4", width=32, height=16, frame_rate=8,
               output_args=["-n", "-c:v", "libx264", "-pix_fmt", "yuv420p"])
    assert os.listdir(tmp_path) == []


def test_encode_failure_on_a_full_disk_leaves_no_partial_video(tmp_path, monkeypatch):
    """ffmpeg writes part of the file, then the disk is full (a stand-in ffmpeg does that)."""
    from wfrun.media import video

    fake = tmp_path / "ffmpeg"
    fake.write_text('#!/bin/sh\nfor last; do :; done\nprintf partial > "$last"\ncat > /dev/null\n'
                    'echo "$last: No space left on device" >&2\nexit 1\n')
    fake.chmod(0o755)
    monkeypatch.setattr(video, "ffmpeg_exe", lambda: str(fake))
    (tmp_path / "out").mkdir()
    with pytest.raises(OSError) as info:
        video.encode([b"\0" * (32 * 16 * 3)] * 2, tmp_path / "out" / "v.mp4", width=32, height=16,
                     frame_rate=8, output_args=["-n", "-c:v", "libx264"])
    assert info.value.errno == 28 and info.value.filename == str(tmp_path / "out" / "v.mp4")
    assert os.listdir(tmp_path / "out") == []


def test_unwritable_output_folder_is_found_before_the_run(tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("a file where the output folder should be")
    for out in (blocker, blocker / "renders"):
        result = cli("run", image_prompt(tmp_path), "-o", out)
        assert result.exit_code == 2, result.output
        assert str(blocker) in result.stderr
        assert "plan:" not in result.output and "node 2" not in result.output
        assert "Traceback" not in result.output
    assert blocker.read_text() == "a file where the output folder should be"


def test_read_only_output_folder_is_found_before_the_run(tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    prompt = image_prompt(tmp_path)
    hostile_io.install(hostile_io.Disk(out, budget=10**9, action="readonly"), monkeypatch.setattr)
    for args in (["-o", out], ["-o", out / "sub" / "folder"], ["-o", out, "--dry-run"]):
        result = cli("run", prompt, *args)
        assert result.exit_code == 2, result.output
        assert f"cannot write outputs to {args[1]}: Read-only file system" in result.stderr
        assert "plan:" not in result.output and "Traceback" not in result.output
    monkeypatch.undo()
    assert os.listdir(out) == []


def test_bad_save_names_in_a_workflow_name_the_node(tmp_path):
    for prefix in ("pic\0x", "p" * 300):
        result = cli("run", image_prompt(tmp_path, prefix=prefix), "-o", tmp_path / "out")
        assert result.exit_code == 1, result.output
        assert "node 2" in result.stderr and "filename_prefix" in result.stderr
        assert "Traceback" not in result.output
    assert not any((tmp_path / "out").iterdir())


# ------------------------------------------------------------------ the CLI boundary

@pytest.mark.parametrize("name", ["bad\0name.json", "n" * 300 + ".json"])
def test_impossible_names_are_usage_errors_for_every_command(tmp_path, name):
    target = str(tmp_path / name)
    for args in (["migrate", OLD, "-o", target], ["convert", DEMO, "--to", "api", "-o", target],
                 ["run", image_prompt(tmp_path), "-o", target], ["validate", target]):
        result = cli(*args)
        assert result.exit_code == 2, (args, result.output)
        assert "Traceback" not in result.output and "error" in result.output.lower()
    assert sorted(os.listdir(tmp_path)) == ["prompt.json"]


def test_output_file_under_a_file_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    for args in (["migrate", OLD, "-o", blocker / "new.json"],
                 ["convert", DEMO, "--to", "api", "-o", blocker / "prompt.json"]):
        result = cli(*args)
        assert result.exit_code == 2, (args, result.output)
        assert result.stderr.startswith("error: ") and str(blocker) in result.stderr
        assert "Traceback" not in result.output


def test_ctrl_c_before_the_run_exits_130(monkeypatch, tmp_path):
    from wfrun.jobs import run as job

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(job, "prepare", interrupted)
    result = cli("run", image_prompt(tmp_path), "-o", tmp_path / "out")
    assert result.exit_code == 130 and "interrupted" in result.stderr
    assert "done" not in result.output and "Aborted" not in result.output


def test_stdout_to_a_full_device_in_process(tmp_path, monkeypatch):
    """Every command that prints to stdout: an error naming standard output, exit 2."""
    import io

    for args in (["validate", DEMO], ["graph", DEMO], ["migrate", OLD], ["convert", DEMO, "--to", "api"]):
        err = io.StringIO()
        full = open("/dev/full", "w")
        monkeypatch.setattr(sys, "stdout", full)
        monkeypatch.setattr(sys, "stderr", err)
        with pytest.raises(SystemExit) as info:
            main.main([str(a) for a in args], prog_name="wfrun")
        monkeypatch.undo()
        try:
            full.close()
        except OSError:
            pass  # what the command left unflushed
        assert info.value.code == 2, (args, err.getvalue())
        assert "error: cannot write to standard output" in err.getvalue()
        assert "No space left on device" in err.getvalue() and "Traceback" not in err.getvalue()


def test_output_left_in_the_stdout_buffer_is_checked_before_exit(monkeypatch):
    """A command that writes without flushing: the failure shows when the guard flushes."""
    import io

    from wfrun.cli.guard import GuardedGroup

    group = GuardedGroup()

    @group.command()
    def quiet() -> None:
        sys.stdout.write("buffered, never flushed by the command\n")

    err = io.StringIO()
    full = open("/dev/full", "w")
    monkeypatch.setattr(sys, "stdout", full)
    monkeypatch.setattr(sys, "stderr", err)
    with pytest.raises(SystemExit) as info:
        group.main(["quiet"], prog_name="wfrun")
    monkeypatch.undo()
    full.close()  # nothing left to fail: the guard pointed it at /dev/null
    assert info.value.code == 2
    assert err.getvalue().startswith("error: cannot write to standard output (/dev/full): No space left on device")


def test_stdout_to_dev_full_and_a_closed_pipe_from_a_shell(tmp_path):
    """The real process: no 'Exception ignored' at exit, exit 2, the device named."""
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "wfrun", "validate", str(DEMO)], stdout=full,
                              stderr=subprocess.PIPE, text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    assert "error: cannot write to standard output (/dev/full)" in done.stderr
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr
    read, write = os.pipe()
    os.close(read)  # nobody will read: every write fails with EPIPE
    try:
        done = subprocess.run([sys.executable, "-m", "wfrun", "graph", str(DEMO)], stdout=write,
                              stderr=subprocess.PIPE, text=True, timeout=300)
    finally:
        os.close(write)
    assert done.returncode == 2, done.stderr
    assert "error: cannot write to standard output" in done.stderr and "Broken pipe" in done.stderr
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr


def test_ctrl_c_after_done_prints_no_traceback(tmp_path):
    """SIGINT while the interpreter shuts down after the command finished (an atexit hook
    sends it): the command's own exit code, no traceback."""
    script = ("import atexit, os, signal, sys\n"
              "atexit.register(lambda: os.kill(os.getpid(), signal.SIGINT))\n"
              "sys.argv = ['wfrun', 'validate', sys.argv[1]]\n"
              "import runpy; runpy.run_module('wfrun', run_name='__main__')\n")
    done = subprocess.run([sys.executable, "-c", script, str(DEMO)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith(": ok")
    assert "Traceback" not in done.stderr and "KeyboardInterrupt" not in done.stderr
