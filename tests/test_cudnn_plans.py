"""cuDNN plans kept on disk between runs (wfrun.models.cudnn_plans, used by fp8_attention).

The real frontend needs a Hopper GPU (bench/attention_kernels.py times a plan built and
read back there); here a stand-in for the ``cudnn`` module records what is asked of it, so
the cache's logic runs on the CPU: the first process builds and keeps the plan, a later one
reads it back without building, a plan that cannot be read back is built again and
replaced, and a different shape or cuDNN version never finds another's plan."""

from __future__ import annotations

import types

import pytest
import torch

from wfrun.models import cudnn_plans
from wfrun.models import fp8_attention as fa


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("WFRUN_CACHE", str(tmp_path))
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Stand-in H200")
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (9, 0))
    return tmp_path


def test_plans_are_kept_under_the_cache_folder_and_read_back(own_cache):
    key = cudnn_plans.plan_key("fp8-sdpa", 91900, (1, 2, 3))
    assert cudnn_plans.load_plan(key) is None
    cudnn_plans.store_plan(key, b"\x01\x02plan")
    assert (own_cache / "compile" / "cudnn" / key).read_bytes() == b"\x01\x02plan"
    assert cudnn_plans.load_plan(key) == b"\x01\x02plan"
    cudnn_plans.forget_plan(key)
    assert cudnn_plans.load_plan(key) is None


def test_keys_tell_every_part_apart():
    base = ("fp8-sdpa", 1, 91900, "1.16.0", "H200", (9, 0), (1, 34320, 40, 128))
    keys = {cudnn_plans.plan_key(*base)}
    for i in range(len(base)):
        changed = list(base)
        changed[i] = ("other", base[i])
        keys.add(cudnn_plans.plan_key(*changed))
    assert len(keys) == len(base) + 1
    assert cudnn_plans.plan_key(*base) == cudnn_plans.plan_key(*base)


def test_a_file_too_big_to_be_a_plan_is_not_read(own_cache, monkeypatch):
    monkeypatch.setattr(cudnn_plans, "MAX_PLAN_BYTES", 8)
    key = cudnn_plans.plan_key("x")
    cudnn_plans.store_plan(key, b"123456789")
    assert cudnn_plans.load_plan(key) is None


class StandInFrontend:
    """Records builds, serializations and read-backs as cuDNN's Python frontend would see them."""

    def __init__(self, version: int = 91900, broken_read_back: bool = False):
        self.version, self.broken = version, broken_read_back
        self.built = self.read_back = 0
        self.payloads: list[list[int]] = []
        frontend = self

        class Tensor:
            def __init__(self, **kwargs):
                self.uid = None

            def set_uid(self, uid):
                self.uid = uid
                return self

            def set_output(self, flag):
                return self

            set_dim = set_stride = set_data_type = set_output

        class Graph:
            def __init__(self, **kwargs):
                self.executed = None

            def tensor(self, **kwargs):
                return Tensor(**kwargs)

            def sdpa_fp8(self, *args, **kwargs):
                return Tensor(), Tensor(), Tensor(), Tensor()

            def validate(self):
                pass

            build_operation_graph = check_support = validate

            def create_execution_plans(self, modes):
                pass

            def build_plans(self):
                frontend.built += 1

            def serialize(self):
                return [7, 7, 7, frontend.built]

            def deserialize(self, handle, payload):
                frontend.payloads.append(list(payload))
                if frontend.broken:
                    raise RuntimeError("CUDNN_STATUS_BAD_PARAM: cannot deserialize")
                frontend.read_back += 1

            def get_workspace_size(self):
                return 16

            def execute(self, pack, workspace, handle=None):
                self.executed = pack

        self.module = types.SimpleNamespace(
            pygraph=Graph, backend_version=lambda: frontend.version, __version__="1.16.0",
            data_type=types.SimpleNamespace(FP8_E4M3="fp8", FLOAT="fp32"),
            heur_mode=types.SimpleNamespace(A="A", FALLBACK="FALLBACK"))


def make_plan(frontend: StandInFrontend, tokens: int = 64) -> fa._Plan:
    q8 = torch.zeros(1, tokens, 2, 16, dtype=fa.E4M3)
    return fa._Plan(frontend.module, object(), q8, q8, q8, 0.25)


def test_a_later_process_reads_the_plan_back_instead_of_building_it():
    first = StandInFrontend()
    assert make_plan(first).source == "built" and first.built == 1
    later = StandInFrontend()  # a new process: nothing in memory, the file on disk
    plan = make_plan(later)
    assert plan.source == "read back" and later.built == 0 and later.read_back == 1
    assert later.payloads == [[7, 7, 7, 1]]  # what the first process serialized


def test_a_plan_that_cannot_be_read_back_is_built_again_and_replaced(own_cache):
    make_plan(StandInFrontend())
    broken = StandInFrontend(broken_read_back=True)
    plan = make_plan(broken)
    assert plan.source == "built" and broken.built == 1
    assert len(list((own_cache / "compile" / "cudnn").iterdir())) == 1  # replaced, not added beside


def test_another_shape_or_cudnn_version_builds_its_own_plan():
    make_plan(StandInFrontend())
    other_shape = StandInFrontend()
    assert make_plan(other_shape, tokens=128).source == "built"
    newer = StandInFrontend(version=92000)
    assert make_plan(newer).source == "built"


def test_the_plan_runs_with_each_buffer_at_its_uid(monkeypatch):
    plan = make_plan(StandInFrontend())
    plan.graph.executed = None
    q8 = torch.zeros(1, 64, 2, 16, dtype=fa.E4M3)
    out = torch.empty_like(q8)
    one = torch.ones(1, 1, 1, 1)
    plan.cudnn.set_stream = lambda handle, stream: None
    monkeypatch.setattr(torch.cuda, "current_stream", lambda device=None: types.SimpleNamespace(cuda_stream=0))
    plan.run(out, q8, q8, q8, one, one * 2, one * 3, one * 4)
    pack = plan.graph.executed
    assert sorted(pack) == list(range(1, len(fa._TENSORS) + 1))
    named = dict(zip(fa._TENSORS, (pack[uid] for uid in sorted(pack))))
    assert named["o"] is out and named["q"] is q8
    assert named["descale_k"].item() == 2 and named["scale_o"].item() == 4
    assert named["descale_s"].item() == pytest.approx(1 / 448) and named["scale_s"].item() == 448
