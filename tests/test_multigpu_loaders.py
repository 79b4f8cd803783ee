"""ComfyUI-MultiGPU's UNETLoaderMultiGPU and VAELoaderMultiGPU: the pack's override calls
ComfyUI's own UNETLoader / VAELoader function with the other inputs unchanged and only
switches the device the result is placed on. So the model and VAE must hold exactly the
weights the core loaders give for the same file (and options), read here from the file
itself as well; a device outside the pack's list is refused by name."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.node_helpers import node
from wfrun.models.paths import ModelRoots
from wfrun.nodes.executor import ExecContext, NodeInputError

UNET = "wan2.1_t2v_1.3B_tiny_bf16.safetensors"
VAE = "wan_2.1_vae_tiny.safetensors"


@pytest.fixture(scope="module")
def ctx(tiny_models) -> ExecContext:
    return ExecContext(models=ModelRoots((Path(tiny_models),)))


def weights(module: torch.nn.Module) -> list[torch.Tensor]:
    return [t.detach().float() for t in module.state_dict().values()]


@pytest.mark.parametrize("device", ["cuda:1", "cpu", "cuda:0"])
def test_unet_loader_multigpu_is_the_core_loader_whatever_the_device(ctx, tiny_models, device):
    (ours,) = node("UNETLoaderMultiGPU")(ctx, unet_name=UNET, weight_dtype="default", device=device)
    (core,) = node("UNETLoader")(ctx, unet_name=UNET, weight_dtype="default")
    assert (ours.task, ours.latent_channels, type(ours.transformer)) == (core.task, core.latent_channels,
                                                                          type(core.transformer))
    for a, b in zip(weights(ours.transformer), weights(core.transformer), strict=True):
        assert torch.equal(a, b)
    on_disk = load_file(str(Path(tiny_models) / "diffusion_models" / UNET))
    mine = sorted(float(t.float().abs().sum()) for t in ours.transformer.state_dict().values())
    assert sorted(float(t.float().abs().sum()) for t in on_disk.values()) == pytest.approx(mine, rel=1e-6)


def test_vae_loader_multigpu_is_the_core_loader(ctx):
    (ours,) = node("VAELoaderMultiGPU")(ctx, vae_name=VAE, device="cuda:1")
    (core,) = node("VAELoader")(ctx, vae_name=VAE)
    for a, b in zip(weights(ours.vae), weights(core.vae), strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("device", ["gpu1", "cuda", "", 1])
def test_a_device_outside_the_pack_list_is_refused_by_name(ctx, device):
    with pytest.raises(NodeInputError) as err:
        node("UNETLoaderMultiGPU")(ctx, unet_name=UNET, weight_dtype="default", device=device)
    assert err.value.input_name == "device"
