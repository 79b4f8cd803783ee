"""The collector kept off what imports made (``wfrun.long_lived``): in wfrun's own process
each site freezes once, an import block runs with collections held off, and a program that
imports wfrun as a library keeps its collector untouched."""

from __future__ import annotations

import gc

import pytest

from wfrun import long_lived


@pytest.fixture
def fresh(monkeypatch):
    monkeypatch.setattr(long_lived, "_DONE", set())
    monkeypatch.setattr(long_lived, "_OWNED", False)
    monkeypatch.setattr(long_lived, "_HELD", False)
    yield
    gc.unfreeze()
    gc.enable()


def test_a_library_user_keeps_its_collector(fresh):
    before = gc.get_freeze_count()
    long_lived.freeze_once("job start")
    with long_lived.imports_then_freeze("model libraries"):
        assert gc.isenabled()
    assert gc.get_freeze_count() <= before  # frozen objects that die leave the count; nothing joined


def test_in_wfruns_process_each_site_freezes_once(fresh):
    long_lived.own_process()
    kept = [object() for _ in range(1000)]  # objects that exist now end up frozen
    long_lived.freeze_once("job start")
    frozen = gc.get_freeze_count()
    assert frozen >= len(kept)
    made_later = [[i] for i in range(1000)]
    long_lived.freeze_once("job start")  # a further seed: its models would exist by now
    # only a freeze adds to the count (frozen objects that die, e.g. a finished thread's,
    # take it down): a second freeze would have added the 1,000 lists made since
    assert gc.get_freeze_count() <= frozen and made_later


def test_an_import_block_runs_without_collections_and_is_frozen_after(fresh):
    long_lived.own_process()
    with long_lived.imports_then_freeze("model libraries"):
        assert not gc.isenabled()
        made = [{"n": i} for i in range(1000)]
    assert gc.isenabled() and gc.get_freeze_count() >= len(made)
    frozen = gc.get_freeze_count()
    with long_lived.imports_then_freeze("model libraries"):  # the second time: nothing held, nothing frozen
        assert gc.isenabled()
        more = [{"n": i} for i in range(1000)]
    assert gc.get_freeze_count() <= frozen and more  # nothing joined (see above)
    gc.disable()
    with long_lived.imports_then_freeze("other"):
        pass
    assert not gc.isenabled()  # a collector the caller had off stays off


def test_collections_held_while_the_run_starts_come_back_at_the_first_job(fresh):
    long_lived.own_process()
    long_lived.hold_until_job_start()
    assert not gc.isenabled()
    long_lived.freeze_once("job start")
    assert gc.isenabled() and gc.get_freeze_count() > 0
    long_lived.hold_until_job_start()
    long_lived.release()  # a run that starts no job here (--dry-run, --ray, --gpus)
    assert gc.isenabled()
    long_lived.release()
    assert gc.isenabled()


def test_a_collector_someone_else_turned_off_stays_off(fresh):
    gc.disable()
    long_lived.hold_until_job_start()
    long_lived.freeze_once("job start")
    long_lived.release()
    assert not gc.isenabled()


def test_wfrun_run_holds_collections_until_its_job_starts(tmp_path):
    """The command line: ``wfrun run`` starts with collections off and has them back, and the
    start frozen, by the time its job runs; other commands leave the collector alone."""
    import subprocess
    import sys
    from pathlib import Path

    probe = tmp_path / "probe.py"
    probe.write_text(
        "import gc, sys\n"
        "import wfrun.jobs.run as jobs\n"
        "seen = []\n"
        "jobs.run_plan_before = jobs.run_plan\n"
        "def spy(*args, **kwargs):\n"
        "    seen.append((gc.isenabled(), gc.get_freeze_count() > 0))\n"
        "    raise SystemExit(f'seen {seen}')\n"
        "jobs.run_plan = spy\n"
        "prepare = jobs.prepare\n"
        "def prepare_spy(*args, **kwargs):\n"
        "    seen.append(('prepare', gc.isenabled()))\n"
        "    return prepare(*args, **kwargs)\n"
        "jobs.prepare = prepare_spy\n"
        "from wfrun.__main__ import main\n"
        "sys.argv = ['wfrun'] + sys.argv[1:]\n"
        "main()\n", encoding="utf-8")
    workflow = Path(__file__).resolve().parents[1] / "workflows" / "wan_t2v_tiny.json"
    done = subprocess.run([sys.executable, str(probe), "run", str(workflow), "--tiny-models", "--device", "cpu",
                           "-o", str(tmp_path / "out")], capture_output=True, text=True, timeout=600)
    assert "seen [('prepare', False), (True, True)]" in done.stderr, done.stderr[-2000:]
