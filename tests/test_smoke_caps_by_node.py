"""--smoke's caps for inputs found in the third public set: a camera trajectory's pose count
(ADE_CameraPose*'s ``frame_length``: one pose per video frame, so capped like the video's
frames) and the S2V framepack window (a multiple of 4 frames, so 8 where the MultiTalk loop's
window is 9)."""

from __future__ import annotations

from wfrun.jobs.smoke import capped_ints


def test_a_camera_trajectory_is_capped_like_the_video_it_steers():
    assert capped_ints({"frame_length": (81, 1)}) == {"frame_length": 9}
    assert capped_ints({"frame_length": (5, 1)}) == {"frame_length": 5}
    assert capped_ints({"frame_length": (81, 1), "num_frames": (81, 1)}) == {"frame_length": 9, "num_frames": 9}


def test_the_s2v_framepack_window_stays_a_multiple_of_four():
    assert capped_ints({"frame_window_size": (80, 1)}, class_type="WanVideoAddS2VEmbeds") == {"frame_window_size": 8}
    assert capped_ints({"frame_window_size": (4, 1)}, class_type="WanVideoAddS2VEmbeds") == {"frame_window_size": 4}
    # the MultiTalk long-video loop keeps its 9-frame window
    assert capped_ints({"frame_window_size": (81, 1)}, class_type="WanVideoImageToVideoMultiTalk") == \
        {"frame_window_size": 9}


def test_time_to_move_holds_the_reference_for_the_first_capped_step():
    # the wrapper's TTM example: a window of steps 1..3 in a first sampler of 8 steps split at 4
    assert capped_ints({"start_step": (1, 0), "end_step": (3, 0)}, class_type="WanVideoAddTTMLatents") == \
        {"start_step": 0, "end_step": 1}
    assert capped_ints({"start_step": (0, 0), "end_step": (0, 0)}, class_type="WanVideoAddTTMLatents") == \
        {"start_step": 0, "end_step": 0}


def test_inset_crops_made_for_full_size_images_fit_a_smoke_image():
    # 104 px insets on each side cross on the 64 px images of a smoke run; 8 px ones leave 48
    sides = {"left": (104, 0), "right": (104, 0), "top": (16, 0), "bottom": (0, 0)}
    assert capped_ints(sides, class_type="Image Inset Crop (rgthree)") == {"left": 8, "right": 8, "top": 8,
                                                                          "bottom": 0}
    assert capped_ints({"left": (104, 0)}) == {}  # only that node's insets
