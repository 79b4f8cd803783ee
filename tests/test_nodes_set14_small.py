"""Set 14's small nodes against their packs' rules worked by hand: DJZ-Nodes'
ProjectFilePathNode, Derfuu's text nodes, RyanOnTheInside's AudioVolumeNormalization and
vrgamedevgirl's VRGDG_CreateSilentAudio."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from node_helpers import node, refused_before_loading
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.specs.registry import default_registry

CTX = ExecContext()


# ---------------------------------------------------------------- ProjectFilePathNode

def _path(**inputs):
    return node("ProjectFilePathNode")(CTX, **inputs)[0]


def test_project_path_joins_the_parts_as_the_djz_workflows_save_them():
    # MushroomFleet's S2V workflow: widgets ['WAN-S2V', 'test', 'video', 'wan', 'auto']
    assert _path(root="WAN-S2V", project_name="test", subfolder="video", filename="wan") == "WAN-S2V/test/video/wan"
    assert _path() == "output/MyProject/images/image"  # the spec's defaults


def test_project_path_sanitises_each_part_by_the_packs_rules():
    # folder parts: <>:"|?* dropped, spaces to _, ./\ stripped at the ends; file: also / and \, no extension
    got = _path(root="./my out/", project_name='a<b>:c"d|e?f*', subfolder="\\sub dir.", filename="shot/01:final.mp4")
    assert got == "my_out/abcdef/sub_dir/shot01final"
    assert _path(root="", project_name="p", subfolder="", filename="x.png") == "p/x"  # empty parts skipped
    assert _path(root="", project_name="", subfolder="", filename="") == "."  # os.path.normpath of ''


def test_project_path_never_climbs_out():
    got = _path(root="../../etc", project_name="..", subfolder="a/../../b", filename="../passwd")
    assert ".." not in got.split("/")
    assert got == "etc/a/b/passwd"  # '..' removed from each part, then normpath folds 'a///b'


def test_project_path_separators():
    assert _path(root="r", project_name="p", subfolder="s", filename="f", separator="forward_slash") == "r/p/s/f"
    # a backslash join is one plain name on POSIX, as os.path.normpath leaves it there
    assert _path(root="r", project_name="p", subfolder="s", filename="f", separator="backslash") == "r\\p\\s\\f"
    with pytest.raises(NodeInputError):
        _path(root=5)


def test_project_path_spec_follows_the_pack_history():
    spec = default_registry().get("ProjectFilePathNode")
    assert [s.date for s in spec.signatures] == ["2024-09-13", "2024-09-14"]
    assert spec.widget_defaults()["filename"] == "image"


# ---------------------------------------------------------------- Derfuu text nodes

def test_text_boxes_give_their_text():
    assert node("DF_Text_Box")(CTX, Text="a\nb")[0] == "a\nb"
    assert node("DF_Text")(CTX, Text="x")[0] == "x"


def test_string_concatenate_keeps_the_delimiter_between_even_empty_sides():
    # MushroomFleet's a14b workflow: ['4bstr4ct style', '', ', '] with Append linked
    assert node("DF_String_Concatenate")(CTX, Prepend="4bstr4ct style", Append="woman", Delimiter=", ")[0] \
        == "4bstr4ct style, woman"
    assert node("DF_String_Concatenate")(CTX, Prepend="a", Append="")[0] == "a, "  # default delimiter ', '
    with pytest.raises(NodeInputError, match="Append"):
        node("DF_String_Concatenate")(CTX, Prepend="a", Append=3)


# ---------------------------------------------------------------- AudioVolumeNormalization

def test_volume_normalisation_brings_the_rms_to_the_target_db():
    g = np.random.default_rng(0)
    wave = (g.standard_normal((1, 2, 4000)) * 0.05).astype(np.float32)
    (out,) = node("AudioVolumeNormalization")(CTX, audio={"waveform": torch.from_numpy(wave), "sample_rate": 16000},
                                              target_level=-23.0)
    rms = math.sqrt(float(np.mean(wave.astype(np.float64) ** 2)))
    gain = 10 ** ((-23.0 - 20 * math.log10(rms + 1e-6)) / 20)
    np.testing.assert_allclose(out["waveform"].numpy(), wave * gain, rtol=1e-5)
    new_rms = math.sqrt(float(np.mean(out["waveform"].double().numpy() ** 2)))
    assert abs(20 * math.log10(new_rms) - (-23.0)) < 1e-3
    assert out["sample_rate"] == 16000


def test_volume_normalisation_of_silence_and_the_default():
    silent = {"waveform": torch.zeros(1, 1, 100), "sample_rate": 8000}
    (out,) = node("AudioVolumeNormalization")(CTX, audio=silent)  # default -10 dB: a huge gain on zeros is zeros
    assert torch.equal(out["waveform"], silent["waveform"])
    with pytest.raises(NodeInputError, match="audio"):
        node("AudioVolumeNormalization")(CTX, audio=torch.zeros(3))


# ---------------------------------------------------------------- VRGDG_CreateSilentAudio

def test_silent_audio_is_five_stereo_seconds_at_44100():
    (audio,) = node("VRGDG_CreateSilentAudio")(CTX)
    assert audio["sample_rate"] == 44100
    assert audio["waveform"].shape == (1, 2, 220500) and audio["waveform"].dtype == torch.float32
    assert not audio["waveform"].any()


# ---------------------------------------------------------------- refusals set 14 asked for

def test_openrouter_and_stand_in_face_nodes_are_refused_with_their_reason(tmp_path):
    out = refused_before_loading(tmp_path, {
        "1": {"class_type": "OpenRouterNode", "inputs": {"user_message_box": "describe"}},
        "2": {"class_type": "FaceProcessorLoader", "inputs": {}},
        "3": {"class_type": "ApplyFaceProcessor", "inputs": {"face_processor": ["2", 0], "image": ["5", 0]}},
        "5": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": 0}},
        "6": {"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": ["1", 0]}},
    })
    assert "OpenRouter API over the network" in out and "OpenRouterNode call(s) a network API" in out
    assert out.count("Stand-In preprocessor") == 2 and "YOLOv8" in out


def test_a_project_path_feeds_a_save_prefix(tmp_path):
    """MushroomFleet's wiring: ProjectFilePathNode's string into a save node's filename_prefix."""
    import json

    from click.testing import CliRunner

    from wfrun.cli import main

    path = tmp_path / "wf.json"
    path.write_text(json.dumps({
        "1": {"class_type": "ProjectFilePathNode", "inputs": {"root": "WAN", "project_name": "my shot",
                                                              "subfolder": "video", "filename": "wan.mp4"}},
        "2": {"class_type": "EmptyImage", "inputs": {"width": 16, "height": 16, "batch_size": 1, "color": 0}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": ["1", 0]}},
    }))
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["run", str(path), "-o", str(out)], env={"WFRUN_CACHE": str(tmp_path / "c")})
    assert result.exit_code == 0, result.output
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png")) == ["WAN/my_shot/video/wan_00001_.png"]


# ---------------------------------------------------------------- WanInputFrameNumber

def test_wan_frame_number_passes_lengths_of_4n_plus_1():
    assert node("WanInputFrameNumber")(CTX)[0] == 81  # the spec's default
    assert node("WanInputFrameNumber")(CTX, frame_number=97)[0] == 97  # VRGDV_HumoWF's value
    assert node("WanInputFrameNumber")(CTX, frame_number=1)[0] == 1
    with pytest.raises(NodeInputError, match=r"frame_number 80: \(frames - 1\) must be divisible by 4") as err:
        node("WanInputFrameNumber")(CTX, frame_number=80)
    assert err.value.hint == "use 77 or 81"
