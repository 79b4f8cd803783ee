"""Compiled kernels are kept under wfrun's cache folder, so a second run skips compiling
(on an H200 the 14B end-frame job's first step went from 21.9 s to 9.1 s, bench/RESULTS.md);
a cache folder the user chose is left alone."""

from __future__ import annotations

import os

from wfrun.models.compile import _inductor_default, use_compile_cache


def test_torchs_own_default_is_replaced_by_wfruns_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("WFRUN_CACHE", str(tmp_path))
    default = _inductor_default()
    assert default is not None and default.startswith(os.path.abspath(os.sep))
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", default)  # what inductor writes there at import
    monkeypatch.delenv("TRITON_CACHE_DIR", raising=False)
    root = use_compile_cache()
    assert root == tmp_path / "compile"
    assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == str(tmp_path / "compile" / "inductor")
    assert os.environ["TRITON_CACHE_DIR"] == str(tmp_path / "compile" / "triton")
    from torch._inductor.runtime.cache_dir_utils import cache_dir

    assert cache_dir() == str(tmp_path / "compile" / "inductor")  # where inductor now writes


def test_a_cache_folder_the_user_set_is_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("WFRUN_CACHE", str(tmp_path / "wf"))
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "mine"))
    monkeypatch.setenv("TRITON_CACHE_DIR", str(tmp_path / "my-triton"))
    use_compile_cache()
    assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == str(tmp_path / "mine")
    assert os.environ["TRITON_CACHE_DIR"] == str(tmp_path / "my-triton")


def test_reduction_configs_stay_as_compiled_unless_the_user_chose(tmp_path, monkeypatch):
    import torch._inductor.config as inductor_config

    monkeypatch.setenv("WFRUN_CACHE", str(tmp_path))
    monkeypatch.setattr(inductor_config, "dynamic_scale_rblock", True)
    monkeypatch.delenv("TORCHINDUCTOR_DYNAMIC_SCALE_RBLOCK", raising=False)
    use_compile_cache()
    assert inductor_config.dynamic_scale_rblock is False
    monkeypatch.setattr(inductor_config, "dynamic_scale_rblock", True)
    monkeypatch.setenv("TORCHINDUCTOR_DYNAMIC_SCALE_RBLOCK", "1")  # the user's choice
    use_compile_cache()
    assert inductor_config.dynamic_scale_rblock is True


def test_the_compilers_cache_keys_are_hashed_on_a_thread_of_their_own(monkeypatch, tmp_path):
    """``prepare_compiler`` leaves Inductor's and Triton's source hashes to a thread of its own,
    which calls the (cached) key functions of the modules already imported, once each."""
    import sys
    import threading

    import torch._inductor.codecache as codecache
    import torch._inductor.runtime.triton_compat as triton_compat

    from wfrun.models import compile as compile_module

    monkeypatch.setenv("WFRUN_CACHE", str(tmp_path))
    for name in ("TORCHINDUCTOR_CACHE_DIR", "TRITON_CACHE_DIR", "TORCHINDUCTOR_DYNAMIC_SCALE_RBLOCK"):
        monkeypatch.setenv(name, os.environ.get(name, "x"))  # restored after: prepare_compiler sets them
        monkeypatch.delenv(name)
    calls: list[tuple[str, str]] = []
    done = threading.Event()
    monkeypatch.setattr(codecache, "torch_key", lambda: calls.append(("torch_key", threading.current_thread().name)))

    def triton_key():
        calls.append(("triton_key", threading.current_thread().name))
        done.set()

    monkeypatch.setattr(triton_compat, "triton_key", triton_key)
    compile_module.prepare_compiler()
    assert done.wait(timeout=30)
    assert calls == [("torch_key", "wfrun-compiler-keys"), ("triton_key", "wfrun-compiler-keys")]
    calls.clear()
    monkeypatch.delitem(sys.modules, "torch._inductor.runtime.triton_compat")  # not imported: not imported here
    compile_module._hash_compiler_sources()
    assert calls == [("torch_key", threading.current_thread().name)]
