"""wfrun's processes keep peft out (wfrun/lean_imports.py): diffusers imports peft at
import time whenever it is installed, which cost 8.4 s of the process start on the H200
image, and wfrun never uses it.

A fake peft distribution on the path stands in for an installed one: its import raises, so a
process that imports it fails loudly. The control run shows diffusers does import it when
nothing keeps it out, so the test can fail."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

PROBE = textwrap.dedent("""
    import sys
    if sys.argv[1] == "keep-out":
        from wfrun.lean_imports import keep_unused_packages_out
        keep_unused_packages_out()
    import diffusers.hooks
    from diffusers.utils import is_peft_available
    from transformers.utils import import_utils
    print("peft seen:", is_peft_available(), import_utils.is_peft_available())
""")


def _fake_peft(root: Path) -> None:
    (root / "peft").mkdir()
    (root / "peft" / "__init__.py").write_text("raise RuntimeError('peft was imported')\n")
    info = root / "peft-0.17.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: peft\nVersion: 0.17.0\n")
    (info / "top_level.txt").write_text("peft\n")
    (info / "RECORD").write_text("peft/__init__.py,,\n")


def _probe(tmp_path: Path, mode: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), str(Path(__file__).resolve().parents[1]),
                                         env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, env=env,
                          timeout=300)


def test_diffusers_never_imports_peft_in_the_cli_process(tmp_path):
    _fake_peft(tmp_path)
    control = _probe(tmp_path, "plain")
    assert control.returncode != 0 and "peft was imported" in control.stderr, control.stdout + control.stderr

    kept_out = _probe(tmp_path, "keep-out")
    assert kept_out.returncode == 0, kept_out.stderr
    assert "peft seen: False False" in kept_out.stdout


def test_a_package_already_imported_is_left_alone(monkeypatch):
    import types

    from wfrun.lean_imports import keep_unused_packages_out

    present = types.ModuleType("peft")
    monkeypatch.setitem(sys.modules, "peft", present)
    keep_unused_packages_out()
    assert sys.modules["peft"] is present


LEAVE = textwrap.dedent("""
    import sys
    from wfrun.__main__ import leave
    sys.stdout.write("unflushed output")  # a pipe: block-buffered, lost unless flushed
    leave(eval(sys.argv[1]))
""")


def _leave(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", LEAVE, code], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[1])


def test_leaving_keeps_the_output_and_the_exit_status():
    for code, status in (("None", 0), ("0", 0), ("2", 2), ("130", 130)):
        done = _leave(code)
        assert (done.returncode, done.stdout) == (status, "unflushed output"), (code, done)
    message = _leave("'no such file'")
    assert message.returncode == 1 and "no such file" in message.stderr


def test_the_command_process_exits_with_the_commands_status(tmp_path):
    missing = subprocess.run([sys.executable, "-m", "wfrun", "run", str(tmp_path / "missing.json")],
                             capture_output=True, text=True, timeout=300,
                             cwd=Path(__file__).resolve().parents[1])
    assert missing.returncode == 2 and "no such file" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_the_installed_package_map_is_scanned_once_and_each_caller_gets_its_own_copy(monkeypatch, tmp_path):
    """diffusers and transformers each ask importlib.metadata which distribution holds which
    import name when imported; the process answers from one scan."""
    import importlib.metadata

    monkeypatch.setenv("WFRUN_CACHE", str(tmp_path))  # no map kept on disk by an earlier process

    from wfrun.lean_imports import share_package_map

    scans: list[int] = []

    def scan():
        scans.append(1)
        return {"PIL": ["pillow"], "torch": ["torch"]}

    monkeypatch.setattr(importlib.metadata, "packages_distributions", scan)
    share_package_map()
    first = importlib.metadata.packages_distributions()
    first["PIL"].append("changed")
    first["extra"] = ["x"]
    share_package_map()  # a second call keeps the shared one
    assert importlib.metadata.packages_distributions() == {"PIL": ["pillow"], "torch": ["torch"]}
    assert len(scans) == 1


UNUSED_PROBE = textwrap.dedent("""
    import sys
    if sys.argv[1] == "keep-out":
        from wfrun.lean_imports import keep_unused_packages_out
        keep_unused_packages_out()
    from wfrun.models.meta_init import import_model_libraries
    import_model_libraries()
    import importlib.util
    import transformers.audio_utils
    print("found:", importlib.util.find_spec("sklearn") is not None, importlib.util.find_spec("torchaudio") is not None)
    print("imported:", sorted(n for n in ("sklearn", "torchaudio") if sys.modules.get(n) is not None))
""")


def _fake_package(root: Path, name: str) -> None:
    (root / name).mkdir()
    (root / name / "__init__.py").write_text(f"raise RuntimeError('{name} was imported')\n")
    info = root / f"{name}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\\nName: {name}\\nVersion: 1.0\n")
    (info / "top_level.txt").write_text(f"{name}\n")
    (info / "RECORD").write_text(f"{name}/__init__.py,,\n")


def test_transformers_never_imports_sklearn_or_torchaudio_in_the_cli_process(tmp_path):
    """transformers imports torchaudio (its audio utilities) and, in some versions,
    scikit-learn at import time when they are installed (up to 5.24: 5.25 stopped importing
    torchaudio there); wfrun uses neither. Fakes that fail on import stand in for installed
    ones: without the keep-out both are found, and imported where the installed transformers
    still does so (so the test can fail), with it neither is found nor imported."""
    for name in ("sklearn", "torchaudio"):
        _fake_package(tmp_path, name)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), str(Path(__file__).resolve().parents[1]),
                                         env.get("PYTHONPATH", "")])

    def probe(mode: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", UNUSED_PROBE, mode], capture_output=True, text=True,
                              env=env, timeout=300)

    control = probe("plain")
    imported_by_transformers = control.returncode != 0 and "torchaudio was imported" in control.stderr
    assert imported_by_transformers or "found: True True" in control.stdout, control.stdout + control.stderr
    kept_out = probe("keep-out")
    assert kept_out.returncode == 0, kept_out.stderr
    assert "found: False False" in kept_out.stdout and "imported: []" in kept_out.stdout


def test_the_package_map_is_kept_on_disk_until_the_environment_changes(tmp_path, monkeypatch):
    """One scan of the installed distributions cost 1.4 s of each process start on the H200
    image; the map is kept under wfrun's cache folder and scanned again only when the
    distributions on sys.path changed (one installed, upgraded or removed) or the file is
    damaged; not when a file is written beside them, nor for another script's folder first on
    sys.path (each entry point's own, which made every other process scan again)."""
    import time

    from wfrun import lean_imports

    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.setenv("WFRUN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(sys, "path", [str(site)])
    calls = []

    def scan():
        calls.append(1)
        return {"numpy": ["numpy"], "PIL": ["pillow"]}

    assert lean_imports.saved_scan(scan) == {"numpy": ["numpy"], "PIL": ["pillow"]} and len(calls) == 1
    assert lean_imports.saved_scan(scan) == {"numpy": ["numpy"], "PIL": ["pillow"]} and len(calls) == 1  # from disk

    time.sleep(0.01)
    (site / "newpkg-1.0.dist-info").mkdir()  # an install
    assert lean_imports.saved_scan(scan) and len(calls) == 2
    assert lean_imports.saved_scan(scan) and len(calls) == 2

    time.sleep(0.01)
    (site / "newpkg-1.0.dist-info" / "RECORD").write_text("newpkg/__init__.py,,\n")  # reinstalled in place
    assert lean_imports.saved_scan(scan) and len(calls) == 3

    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (site / "written.txt").write_text("output")  # a file beside the distributions
    monkeypatch.setattr(sys, "path", [str(scripts), str(site)])  # another entry point's folder first
    (scripts / "out.json").write_text("{}")
    assert lean_imports.saved_scan(scan) and len(calls) == 3

    (site / "newpkg-1.0.dist-info").rename(site / "newpkg-1.1.dist-info")  # an upgrade
    assert lean_imports.saved_scan(scan) and len(calls) == 4

    (tmp_path / "cache" / lean_imports.SCAN_FILE).write_text("{not json")
    assert lean_imports.saved_scan(scan) == {"numpy": ["numpy"], "PIL": ["pillow"]} and len(calls) == 5


DEFERRED_PROBE = textwrap.dedent("""
    import inspect, sys, threading
    if sys.argv[1] == "defer":
        from wfrun.lean_imports import keep_unused_packages_out
        keep_unused_packages_out()
    import diffusers.schedulers.scheduling_dpmsolver_multistep  # imports scipy.stats when scipy is there
    inspect.getmodule(inspect)  # walks sys.modules, asking each module for __file__, as torch does
    print("ran before use:", "scipy.stats._distn_infrastructure" in sys.modules)
    from wfrun.models.meta_init import import_model_libraries
    import_model_libraries()
    print("zoo imported:", "diffusers.models.transformers.transformer_flux" in sys.modules,
          "diffusers.models.autoencoders.autoencoder_kl_ltx" in sys.modules)
    print("scipy.integrate ran:", "scipy.integrate._quadpack_py" in sys.modules)
    import diffusers
    from diffusers.models.transformers.transformer_wan import WanTransformer3DModel
    from diffusers.models.autoencoders.autoencoder_kl_wan import AutoencoderKLWan
    print("wan classes:", diffusers.WanTransformer3DModel is WanTransformer3DModel,
          diffusers.AutoencoderKLWan is AutoencoderKLWan)
    from diffusers.models.transformers import FluxTransformer2DModel  # the package itself asked: its body runs
    from diffusers.models import AutoencoderKLLTXVideo
    print("asked later:", FluxTransformer2DModel.__name__, AutoencoderKLLTXVideo.__name__,
          sys.modules["diffusers.models.transformers"].WanTransformer3DModel is WanTransformer3DModel)
    from scipy import integrate  # as diffusers' LMS scheduler imports it
    print("integrates:", round(integrate.quad(lambda x: 3 * x * x, 0.0, 2.0)[0], 9))
    import scipy.stats
    answers = []
    threads = [threading.Thread(target=lambda: answers.append(float(scipy.stats.beta.ppf(0.25, 2, 3))))
               for _ in range(4)]
    for t in threads: t.start()
    for t in threads: t.join()
    from scipy.stats import norm
    print("answers:", answers, float(norm.cdf(0.0)), sys.modules["scipy.stats"] is scipy.stats)
""")


def test_deferred_modules_and_package_bodies_run_only_when_used_and_then_as_usual():
    """diffusers' schedulers import scipy.stats at import time (0.7 s of the model classes'
    import on the H200 image); the CLI process defers it until used (``defer_until_used``).
    Used then from four threads at once, it gives scipy's own answers. Likewise
    scipy.integrate, and the bodies of diffusers' transformers and autoencoders packages,
    which import every model diffusers has (``DeferredPackageBodies``): wfrun's processes
    import only the Wan modules, and a name asked of the package later still runs its body and
    gets diffusers' own class. Without the deferrals (the control, as a program using wfrun
    as a library) each is imported at once, so the test can fail."""
    from scipy.stats import beta

    expected = float(beta.ppf(0.25, 2, 3))

    def probe(mode: str) -> str:
        done = subprocess.run([sys.executable, "-c", DEFERRED_PROBE, mode], capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    deferred, control = probe("defer"), probe("control")
    assert "ran before use: False" in deferred and "ran before use: True" in control
    assert "zoo imported: False False" in deferred and "zoo imported: True True" in control
    assert "scipy.integrate ran: False" in deferred and "scipy.integrate ran: True" in control
    for out in (deferred, control):
        assert f"answers: {[expected] * 4} 0.5 True" in out
        assert "integrates: 8.0" in out  # the integral of 3x^2 over [0, 2]
        assert "wan classes: True True" in out
        assert "asked later: FluxTransformer2DModel AutoencoderKLLTXVideo True" in out
