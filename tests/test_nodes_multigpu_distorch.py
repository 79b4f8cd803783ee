"""ComfyUI-MultiGPU's ``UnetLoaderGGUFDisTorchMultiGPU``: the pack calls ComfyUI-GGUF's
``UnetLoaderGGUF`` unchanged and only records where layers go, so the model it gives must
sample exactly as ``UnetLoaderGGUF``'s on the same file, whatever the placement widgets say;
placement values the pack cannot read are input errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.node_helpers import node
from wfrun.models.paths import ModelRoots
from wfrun.models.tiny_gguf import write_wan_gguf
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.specs.registry import default_registry

UNET = "wan2.1-t2v-14b-Q4_0.gguf"


@pytest.fixture(scope="module")
def ctx(tmp_path_factory) -> ExecContext:
    root = tmp_path_factory.mktemp("models")
    write_wan_gguf(root / "diffusion_models" / UNET, "t2v", "Q4_0", seed=11)
    return ExecContext(models=ModelRoots((root,)))


def forward(model) -> torch.Tensor:
    torch.manual_seed(0)
    t = model.transformer
    x = torch.randn(1, t.config.in_channels, 2, 4, 4)
    text = torch.randn(1, 3, t.config.text_dim)
    with torch.no_grad():
        return t(hidden_states=x, timestep=torch.tensor([500.0]), encoder_hidden_states=text, return_dict=False)[0]


def test_the_distorch_loader_gives_the_gguf_loaders_model(ctx):
    (plain,) = node("UnetLoaderGGUF")(ctx, unet_name=UNET)
    (placed,) = node("UnetLoaderGGUFDisTorchMultiGPU")(ctx, unet_name=UNET, device="cuda:0", virtual_vram_gb=8.0,
                                                        use_other_vram=True,
                                                        expert_mode_allocations="cuda:0,0.5;cpu,0.5")
    assert placed.task == plain.task and placed.shift == plain.shift
    assert torch.equal(forward(placed), forward(plain))


@pytest.mark.parametrize("inputs, name", [({"device": "gpu"}, "device"), ({"virtual_vram_gb": 30.0}, "virtual_vram_gb"),
                                          ({"expert_mode_allocations": "cuda:0=half"}, "expert_mode_allocations")])
def test_placement_the_pack_cannot_read_is_an_input_error(ctx, inputs, name):
    with pytest.raises(NodeInputError) as err:
        node("UnetLoaderGGUFDisTorchMultiGPU")(ctx, unet_name=UNET, **inputs)
    assert err.value.input_name == name


def test_the_spec_reads_the_saved_widgets_in_the_packs_order():
    spec = default_registry().get("UnetLoaderGGUFDisTorchMultiGPU")
    names = [i.name for i in spec.latest.inputs]
    assert names == ["unet_name", "device", "virtual_vram_gb", "use_other_vram", "expert_mode_allocations"]
    assert spec.latest.input("virtual_vram_gb").default == 4.0
