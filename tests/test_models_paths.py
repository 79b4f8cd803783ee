"""Resolving a workflow's model name to a file: --models, WFRUN_MODELS, extra_model_paths.yaml."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from wfrun.models.paths import ModelPathError, ModelRoots, find_model, read_extra_model_paths, safe_relative

I2V = "Wan2_1-I2V-14B-480P_fp8_e4m3fn.safetensors"


@pytest.fixture(autouse=True)
def no_env(monkeypatch):
    monkeypatch.delenv("WFRUN_MODELS", raising=False)


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def test_windows_separators_in_a_sub_folder(tmp_path):
    models = tmp_path / "models"
    wanted = touch(models / "diffusion_models" / "WanVideo" / I2V)
    roots = ModelRoots.from_options(models)
    assert find_model(roots, "diffusion_models", f"WanVideo\\{I2V}") == wanted
    assert find_model(roots, "diffusion_models", f"WanVideo/{I2V}") == wanted


@pytest.mark.parametrize("folder,alias", [("diffusion_models", "unet"), ("unet", "diffusion_models"),
                                          ("text_encoders", "clip"), ("clip", "text_encoders")])
def test_legacy_and_new_folder_names(tmp_path, folder, alias):
    """ComfyUI reads unet/ as diffusion_models/ and clip/ as text_encoders/ (and back)."""
    wanted = touch(tmp_path / alias / "model.safetensors")
    assert find_model(ModelRoots.from_options(tmp_path), folder, "model.safetensors") == wanted


@pytest.mark.parametrize("folder", ["vae", "clip_vision", "loras", "checkpoints", "upscale_models"])
def test_other_folders(tmp_path, folder):
    wanted = touch(tmp_path / folder / "sub" / "file.safetensors")
    assert find_model(ModelRoots.from_options(tmp_path), folder, "sub\\file.safetensors") == wanted


def test_the_comfyui_folder_may_be_given_instead_of_its_models_folder(tmp_path):
    wanted = touch(tmp_path / "ComfyUI" / "models" / "vae" / "wan_2.1_vae.safetensors")
    roots = ModelRoots.from_options(tmp_path / "ComfyUI")
    assert roots.roots == (tmp_path / "ComfyUI" / "models",)
    assert find_model(roots, "vae", "wan_2.1_vae.safetensors") == wanted


def test_name_saved_on_windows_with_other_case(tmp_path):
    wanted = touch(tmp_path / "vae" / "WanVideo" / "Wan2_1_VAE_bf16.safetensors")
    roots = ModelRoots.from_options(tmp_path)
    assert find_model(roots, "vae", "wanvideo\\wan2_1_vae_BF16.safetensors") == wanted
    touch(tmp_path / "vae" / "WanVideo" / "WAN2_1_VAE_BF16.safetensors")  # now two match: none is guessed
    with pytest.raises(ModelPathError):
        find_model(roots, "vae", "wanvideo\\wan2_1_vae_Bf16.safetensors")


def test_wfrun_models_variable_lists_folders_and_yaml_files(tmp_path, monkeypatch):
    first, second = tmp_path / "a", tmp_path / "b"
    touch(second / "vae" / "only_in_b.safetensors")
    both_a = touch(first / "vae" / "both.safetensors")
    touch(second / "vae" / "both.safetensors")
    extra = touch(tmp_path / "elsewhere" / "my_vaes" / "from_yaml.safetensors")
    yaml_file = tmp_path / "extra.yaml"
    yaml_file.write_text("mine:\n  base_path: elsewhere\n  vae: my_vaes\n")
    monkeypatch.setenv("WFRUN_MODELS", os.pathsep.join([str(first), str(second), str(yaml_file)]))
    roots = ModelRoots.from_options()
    assert find_model(roots, "vae", "both.safetensors") == both_a  # order kept
    assert find_model(roots, "vae", "only_in_b.safetensors") == second / "vae" / "only_in_b.safetensors"
    assert find_model(roots, "vae", "from_yaml.safetensors") == extra


def test_models_option_comes_before_the_variable(tmp_path, monkeypatch):
    option = touch(tmp_path / "opt" / "vae" / "v.safetensors")
    touch(tmp_path / "env" / "vae" / "v.safetensors")
    monkeypatch.setenv("WFRUN_MODELS", str(tmp_path / "env"))
    assert find_model(ModelRoots.from_options(tmp_path / "opt"), "vae", "v.safetensors") == option


# --- extra_model_paths.yaml, in ComfyUI's own format --------------------------------------

COMFY_EXAMPLE = """\
#Rename this to extra_model_paths.yaml and ComfyUI will load it

#config for a1111 ui
#all you have to do is change the base_path to where yours is installed
a111:
    base_path: {a1111}

    checkpoints: models/Stable-diffusion
    configs: models/Stable-diffusion
    vae: models/VAE
    loras: |
         models/Lora
         models/LyCORIS
    upscale_models: |
                  models/ESRGAN
                  models/RealESRGAN
                  models/SwinIR
    embeddings: embeddings
    hypernetworks: models/hypernetworks
    controlnet: models/ControlNet

#config for comfyui
#your base path should be either an existing comfy install or a central folder where you store all of your models, loras, etc.

comfyui:
     base_path: {comfy}
     # You can use is_default to mark that these folders should be listed first, and used as the default dirs for eg downloads
     is_default: true
     checkpoints: models/checkpoints/
     clip: models/clip/
     clip_vision: models/clip_vision/
     configs: models/configs/
     controlnet: models/controlnet/
     diffusion_models: |
                  models/diffusion_models
                  models/unet
     embeddings: models/embeddings/
     loras: models/loras/
     upscale_models: models/upscale_models/
     vae: models/vae/

#other_ui:
#    base_path: path/to/ui
#    checkpoints: models/checkpoints
#    gligen: models/gligen
#    custom_nodes: path/custom_nodes
"""


def write_example(tmp_path: Path) -> Path:
    path = tmp_path / "config" / "extra_model_paths.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(COMFY_EXAMPLE.format(a1111="../sd-webui", comfy=str(tmp_path / "comfy")))
    return path


def test_reads_comfyuis_example_file(tmp_path):
    entries = read_extra_model_paths(write_example(tmp_path))
    webui = (tmp_path / "sd-webui").resolve()  # relative base_path: relative to the YAML's folder
    comfy = tmp_path / "comfy"
    assert ("vae", webui / "models" / "VAE", False) in entries
    assert ("loras", webui / "models" / "Lora", False) in entries
    assert ("loras", webui / "models" / "LyCORIS", False) in entries
    assert ("text_encoders", comfy / "models" / "clip", True) in entries  # legacy key mapped
    assert ("diffusion_models", comfy / "models" / "diffusion_models", True) in entries
    assert ("diffusion_models", comfy / "models" / "unet", True) in entries
    assert ("upscale_models", webui / "models" / "SwinIR", False) in entries
    assert len(entries) == 10 + 12


def test_default_sections_come_first_others_after_the_models_folder(tmp_path):
    yaml_file = write_example(tmp_path)
    models = tmp_path / "models"
    roots = ModelRoots.from_options(models, yaml_file)
    folders = roots.folders("vae")
    assert folders[0] == tmp_path / "comfy" / "models" / "vae"           # is_default: true
    assert folders[1] == models / "vae"                                   # --models
    assert folders[2] == (tmp_path / "sd-webui" / "models" / "VAE").resolve()  # the rest
    name = "Wan2_1_VAE_bf16.safetensors"
    in_webui = touch(folders[2] / name)
    assert find_model(roots, "vae", name) == in_webui
    in_models = touch(models / "vae" / name)
    assert find_model(roots, "vae", name) == in_models
    in_default = touch(folders[0] / name)
    assert find_model(roots, "vae", name) == in_default


def test_unet_entries_serve_diffusion_models_and_back(tmp_path):
    yaml_file = tmp_path / "e.yaml"
    yaml_file.write_text(textwrap.dedent("""\
        s:
          base_path: /srv/models
          unet: old_unets
          text_encoders: encoders
        """))
    roots = ModelRoots.from_options(extra_paths_yaml=yaml_file)
    assert Path("/srv/models/old_unets") in roots.folders("diffusion_models")
    assert Path("/srv/models/old_unets") in roots.folders("unet")
    assert Path("/srv/models/encoders") in roots.folders("clip")


def test_several_yaml_files_home_and_variables_expanded(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MODELS_DISK", str(tmp_path / "disk"))
    one, two = tmp_path / "one.yaml", tmp_path / "two.yaml"
    one.write_text("x:\n  base_path: ~/ai\n  vae: vaes\n")
    two.write_text("y:\n  base_path: $MODELS_DISK/wan\n  vae: |\n    v1\n    v2\n")
    roots = ModelRoots.from_options(extra_paths_yaml=[one, two])
    assert roots.folders("vae") == [tmp_path / "home" / "ai" / "vaes", tmp_path / "disk" / "wan" / "v1",
                                    tmp_path / "disk" / "wan" / "v2"]


def test_yaml_without_base_path_and_odd_sections(tmp_path):
    yaml_file = tmp_path / "e.yaml"
    absolute = tmp_path / "abs_loras"
    yaml_file.write_text(textwrap.dedent(f"""\
        empty:
        nobase:
          vae: rel_vaes
          loras: {absolute}
          clip_vision: [list_a, list_b]
        vae: top_level_vaes
        """))
    entries = read_extra_model_paths(yaml_file)
    here = tmp_path.resolve()
    assert ("vae", here / "rel_vaes", False) in entries
    assert ("loras", absolute, False) in entries
    assert ("clip_vision", here / "list_a", False) in entries and ("clip_vision", here / "list_b", False) in entries
    assert ("vae", here / "top_level_vaes", False) in entries


def test_yaml_beside_the_models_folder_is_read(tmp_path):
    """Like ComfyUI, which reads the extra_model_paths.yaml in its own folder."""
    comfy = tmp_path / "ComfyUI"
    (comfy / "models" / "vae").mkdir(parents=True)
    wanted = touch(tmp_path / "big-disk" / "wan" / "vae" / "Wan2_1_VAE_bf16.safetensors")
    (comfy / "extra_model_paths.yaml").write_text(f"disk:\n  base_path: {tmp_path / 'big-disk'}\n  vae: wan/vae\n")
    for given in (comfy / "models", comfy):
        roots = ModelRoots.from_options(given)
        assert find_model(roots, "vae", "Wan2_1_VAE_bf16.safetensors") == wanted


@pytest.mark.parametrize("text,needle", [
    ("a: [unclosed", "not valid YAML at line 1"),
    ("- just\n- a list\n", "expected named sections"),
])
def test_bad_yaml_is_one_clear_line(tmp_path, text, needle):
    yaml_file = tmp_path / "extra_model_paths.yaml"
    yaml_file.write_text(text)
    with pytest.raises(ModelPathError) as err:
        ModelRoots.from_options(extra_paths_yaml=yaml_file)
    assert needle in str(err.value) and str(yaml_file) in str(err.value) and "\n" not in str(err.value)


def test_missing_yaml_is_named(tmp_path):
    with pytest.raises(ModelPathError, match="nope.yaml: cannot be read"):
        ModelRoots.from_options(extra_paths_yaml=tmp_path / "nope.yaml")


# --- errors -----------------------------------------------------------------------------------


def test_not_found_lists_the_folders_and_the_closest_names(tmp_path):
    models = tmp_path / "models"
    touch(models / "diffusion_models" / "WanVideo" / "Wan2_1-I2V-14B-720P_fp8_e4m3fn.safetensors")
    touch(models / "unet" / "Wan2_1-I2V-14B-480P_fp8_e5m2.safetensors")
    touch(models / "diffusion_models" / "flux1-dev.safetensors")
    yaml_file = tmp_path / "e.yaml"
    yaml_file.write_text(f"s:\n  base_path: {tmp_path / 'other'}\n  diffusion_models: wan\n")
    roots = ModelRoots.from_options(models, yaml_file)
    with pytest.raises(ModelPathError) as err:
        find_model(roots, "diffusion_models", f"WanVideo\\{I2V}")
    message = str(err.value)
    assert "\n" not in message
    for folder in (models / "diffusion_models", models / "unet", tmp_path / "other" / "wan"):
        assert str(folder) in message
    close = message.split("closest names there:")[1]
    assert "WanVideo/Wan2_1-I2V-14B-720P_fp8_e4m3fn.safetensors" in close
    assert "Wan2_1-I2V-14B-480P_fp8_e5m2.safetensors" in close
    assert "flux1-dev" not in close


def test_no_models_folder_says_how_to_give_one():
    with pytest.raises(ModelPathError) as err:
        find_model(ModelRoots.from_options(), "vae", "x.safetensors")
    assert "--models" in str(err.value) and "WFRUN_MODELS" in str(err.value)
    assert "extra_model_paths.yaml" in str(err.value)


@pytest.mark.parametrize("name", ["../secret.safetensors", "..\\..\\etc\\passwd", "/etc/passwd",
                                  "C:\\Windows\\x.safetensors", "a/../../b.safetensors", "", "a\0b"])
def test_names_that_escape_the_folder_are_refused(tmp_path, name):
    touch(tmp_path / "secret.safetensors")
    roots = ModelRoots.from_options(tmp_path / "models")
    with pytest.raises(ModelPathError, match="not a plain relative file name"):
        find_model(roots, "vae", name)
    with pytest.raises(ModelPathError):
        safe_relative(name)


def test_a_folder_is_not_a_model_file(tmp_path):
    (tmp_path / "vae" / "folder.safetensors").mkdir(parents=True)
    with pytest.raises(ModelPathError, match="not found"):
        find_model(ModelRoots.from_options(tmp_path), "vae", "folder.safetensors")
