"""Motion tracks: reading track text, ATI's track tensor and latent patch, Wan-Move's feature
copy, and the nodes that use them (ComfyUI core, WanVideoWrapper) — each against arithmetic
written out here by hand from the packs' documented behaviour."""

from __future__ import annotations

import json
import math

import pytest
import torch

from node_helpers import node
from wfrun.nodes.executor import ExecContext, NodeInputError
from wfrun.nodes.tracks import parse_track_batches, parse_tracks
from wfrun.sampling.tracks import (AtiTracks, TrackError, ati_frame_rows, ati_patch, ati_track_tensor,
                                   pad_track_points, wanmove_positions, wanmove_replace)

CTX = ExecContext()


def _pts(*xy):
    return [{"x": x, "y": y} for x, y in xy]


# --- track text -----------------------------------------------------------------------------

def test_track_text_one_track_many_tracks_and_a_list_of_texts():
    one = json.dumps(_pts((1, 2), (3, 4)))
    assert parse_tracks(one) == [[(1.0, 2.0), (3.0, 4.0)]]
    many = json.dumps([_pts((1, 2)), _pts((5, 6), (7, 8))])
    assert parse_tracks(many) == [[(1.0, 2.0)], [(5.0, 6.0), (7.0, 8.0)]]
    assert parse_tracks([one, json.dumps(_pts((9, 9)))]) == [[(1.0, 2.0), (3.0, 4.0)], [(9.0, 9.0)]]
    assert parse_tracks("[{'x': 1, 'y': 2}]") == [[(1.0, 2.0)]]  # the packs turn ' into "
    assert parse_tracks("[]") == []


@pytest.mark.parametrize("text, what", [("[{x: 1}]", "not valid JSON"), ('[{"x": "a", "y": 1}]', "numbers"),
                                        ('[{"x": 1, "y": NaN}]', "numbers"), ('{"x": 1}', "JSON list"),
                                        ('[[{"x": 1, "y": 1}], [3]]', "a track")])
def test_bad_track_text_names_the_input(text, what):
    with pytest.raises(NodeInputError) as err:
        parse_tracks(text, "tracks")
    assert err.value.input_name == "tracks" and what in str(err.value)


def test_track_batches_are_comfyuis_nesting():
    one = _pts((1, 2))
    assert parse_track_batches(json.dumps(one)) == [[[(1.0, 2.0)]]]
    assert parse_track_batches(json.dumps([one, one])) == [[[(1.0, 2.0)], [(1.0, 2.0)]]]
    assert parse_track_batches(json.dumps([[one], [one, one]])) == [[[(1.0, 2.0)]], [[(1.0, 2.0)], [(1.0, 2.0)]]]
    assert parse_track_batches("[]") == []


# --- ATI -------------------------------------------------------------------------------------

def test_pad_track_points_cuts_and_pads_invisible():
    long = [(float(i), 2.0 * i) for i in range(130)]
    out = pad_track_points([long, [(5.0, 6.0)]])
    assert out.shape == (2, 121, 3)
    assert out[0, 120].tolist() == [120.0, 240.0, 1.0]
    assert out[1, 0].tolist() == [5.0, 6.0, 1.0] and out[1, 1:].sum() == 0


def test_ati_frame_rows_for_81_frames_are_every_second_point_and_a_half():
    # 120 points at 24 fps to 80 frames at 16 fps: repeat each point twice, keep every 3rd from the 2nd
    rows = ati_frame_rows(80)
    assert rows[:6] == [0, 2, 3, 5, 6, 8] and rows[-1] == 119 and len(rows) == 80
    assert rows == [(1 + 3 * j) // 2 for j in range(80)]
    assert ati_frame_rows(8) == [1 + 15 * j for j in range(8)]  # 120/8: every 15th from the 2nd
    assert ati_frame_rows(120) == list(range(1, 120))  # a = 1: the pack's slice is one short


def test_ati_track_tensor_centres_and_scales_by_half_the_short_edge():
    # a 40x20 frame: the centre is (20, 10); half the short edge is 10
    points = pad_track_points([[(20.0, 10.0)] * 121, [(40.0, 0.0)] * 121])
    t = ati_track_tensor(points, 40, 20, 8)
    assert t.shape == (9, 2, 4)
    assert t[0, 0].tolist() == [-1.0, 0.0, 0.0, 1.0]
    assert t[0, 1, 1:].tolist() == [2.0, -1.0, 1.0]
    # time runs -1..1 over the 121 points: frame j + 1 takes point 1 + (1 + 15j) of them
    assert torch.allclose(t[1:, 0, 0], torch.tensor([-1 + 2 * (2 + 15 * j) / 120 for j in range(8)]))
    short = pad_track_points([[(20.0, 10.0)]])
    assert ati_track_tensor(short, 40, 20, 8)[1:, 0, 3].eq(-1).all()  # padding: invisible


def _ati_reference(tracks, feat, temperature, topk):
    """ATI's patch written with loops: tracks [1 + 4(T-1), N, 4], feat [C, T, H, W]."""
    c, t_len, h, w = feat.shape
    m = min(h, w)
    n = tracks.shape[1]
    # start features: the tracks start at cell centres here, so bilinear sampling is the cell
    starts = []
    for i in range(n):
        x, y = float(tracks[0, i, 1]), float(tracks[0, i, 2])
        col = ((x / (w / m)) + 1) * w / 2 - 0.5
        row = ((y / (h / m)) + 1) * h / 2 - 0.5
        assert abs(col - round(col)) < 1e-6 and abs(row - round(row)) < 1e-6
        starts.append(feat[:, 0, round(row), round(col)])
    out = feat.clone()
    mask = torch.ones(t_len, h, w)
    for t in range(1, t_len):
        group = tracks[1 + 4 * (t - 1): 1 + 4 * t]
        for r in range(h):
            for q in range(w):
                gx = -w / m + q * (2 * w / m) / (w - 1)
                gy = -h / m + r * (2 * h / m) / (h - 1)
                weights = []
                for i in range(n):
                    vis = [float(max(0.0, min(1.0, v))) for v in group[:, i, 3]]
                    seen = sum(vis)
                    mx = sum(float(group[k, i, 1]) * vis[k] for k in range(4)) / (seen + 1e-5)
                    my = sum(float(group[k, i, 2]) * vis[k] for k in range(4)) / (seen + 1e-5)
                    d2 = (mx - gx) ** 2 + (my - gy) ** 2
                    weights.append((math.exp(-d2 * temperature) * min(seen, 1.0), i))
                chosen = sorted(weights, reverse=True)[:topk]
                total = sum(wt for wt, _ in chosen)
                moved = sum(wt * starts[i] for wt, i in chosen)
                out[:, t, r, q] = moved + feat[:, t, r, q] * (1 - min(max(total, 0.0), 1.0))
                mask[t, r, q] = total
    return mask, out


def _tiny_tracks():
    # latent 2 x 3 (H x W): min side 2, grid x in -1.5..1.5, y in -1..1; cell centres for sampling at
    # x = -1, 0, 1 and y = -0.5, 0.5
    g = torch.Generator().manual_seed(0)
    tracks = torch.zeros(9, 2, 4)
    tracks[..., 3] = 1.0
    tracks[0, 0, 1:3] = torch.tensor([-1.0, -0.5])
    tracks[0, 1, 1:3] = torch.tensor([1.0, 0.5])
    tracks[1:, :, 1:3] = torch.rand(8, 2, 2, generator=g) * 2 - 1
    tracks[2, 1, 3] = -1.0  # one point hidden
    tracks[5:9, 0, 3] = -1.0  # the first track hidden for all of latent frame 2
    return tracks


@pytest.mark.parametrize("topk", [2, 1])
def test_ati_patch_matches_the_hand_written_reference(topk):
    tracks = _tiny_tracks()
    feat = torch.randn(3, 3, 2, 3, generator=torch.Generator().manual_seed(1))
    want_mask, want = _ati_reference(tracks, feat, temperature=2.0, topk=topk)
    mask, got = ati_patch(tracks, feat, temperature=2.0, topk=topk)
    assert got.shape == feat.shape and mask.shape == (3, 2, 3)
    assert torch.allclose(got, want, atol=1e-5) and torch.allclose(mask, want_mask, atol=1e-6)
    assert torch.equal(got[:, 0], feat[:, 0])


def test_ati_patch_needs_four_track_frames_per_latent_frame():
    with pytest.raises(TrackError):
        ati_patch(torch.zeros(8, 1, 4), torch.zeros(2, 3, 2, 2), 220.0, 2)


def test_ati_tracks_are_resampled_to_the_videos_latent_frames():
    ati = AtiTracks(pad_track_points([[(float(i), 0.0) for i in range(121)]]), 64, 64)
    assert ati.for_latent(21).shape == (81, 1, 4)
    assert torch.equal(ati.for_latent(21), ati_track_tensor(ati.points, 64, 64, 80))
    assert ati.for_latent(3).shape == (9, 1, 4)


# --- Wan-Move --------------------------------------------------------------------------------

def test_wanmove_positions_take_every_fourth_frame_and_hide_what_is_outside():
    path = torch.zeros(9, 2, 2)
    path[:, 0] = torch.tensor([[8.0 * f + 1, 17.0] for f in range(9)])
    path[:, 1] = torch.tensor([[-1.0, 0.0]] * 9)  # outside
    vis = torch.ones(9, 2, dtype=torch.bool)
    vis[4, 0] = False
    pos = wanmove_positions(path, vis, height=32, width=40)
    assert pos.shape == (2, 3, 2)
    # frame 0: x=1 -> col 0, y=17 -> row 2; frame 4 hidden; frame 8: x=65 >= 40 -> outside
    assert pos[0].tolist() == [[2, 0], [-1, -1], [-1, -1]]
    assert pos[1].eq(-1).all()
    one_column = wanmove_positions(path[:, :1], torch.ones(9, 1, dtype=torch.bool), 32, 80)
    assert one_column[0].tolist() == [[2, 0], [2, 4], [2, 8]]


def test_wanmove_replace_copies_the_start_feature_along_the_track():
    latent = torch.randn(2, 3, 4, 5, generator=torch.Generator().manual_seed(2))
    pos = torch.tensor([[[1, 1], [2, 3], [0, 4]],
                        [[3, 0], [-1, -1], [2, 3]]])
    out = wanmove_replace(latent, pos, 0.25)
    want = latent.clone()
    want[:, 1, 2, 3] = latent[:, 1, 2, 3] + (latent[:, 0, 1, 1] - latent[:, 1, 2, 3]) * 0.25
    want[:, 2, 0, 4] = latent[:, 2, 0, 4] + (latent[:, 0, 1, 1] - latent[:, 2, 0, 4]) * 0.25
    want[:, 2, 2, 3] = latent[:, 2, 2, 3] + (latent[:, 0, 3, 0] - latent[:, 2, 2, 3]) * 0.25
    assert torch.allclose(out, want) and not torch.equal(out, latent)
    # two tracks on one cell: the later one wins; a track hidden at frame 0 reads the last cell
    clash = torch.tensor([[[0, 0], [1, 1]], [[-1, -1], [1, 1]]])
    got = wanmove_replace(latent, clash, 1.0)
    assert torch.equal(got[:, 1, 1, 1], latent[:, 0, 3, 4])


# --- ComfyUI core nodes ------------------------------------------------------------------------

def test_generate_tracks_linear_and_spread_across_the_motion():
    tracks, length = node("GenerateTracks")(CTX, width=100, height=60, start_x=0.1, start_y=0.5, end_x=0.9,
                                            end_y=0.5, num_frames=5, num_tracks=3, track_spread=0.1, bezier=False,
                                            interpolation="linear")
    path = tracks["track_path"]
    assert length == 5 and path.shape == (5, 3, 2) and tracks["track_visibility"].all()
    # horizontal motion 10 -> 90 px; spread 0.1 * (100 + 60) / 2 = 8 px, perpendicular (+y for +x motion)
    xs = [10 + 80 * k / 4 for k in range(5)]
    for k in range(5):
        assert torch.allclose(path[k, :, 0], torch.tensor([xs[k]] * 3))
        assert torch.allclose(path[k, :, 1], torch.tensor([30 - 8.0, 30.0, 30 + 8.0]))


def test_generate_tracks_timing_and_bezier():
    (eased, _) = node("GenerateTracks")(CTX, width=100, height=100, start_x=0.0, start_y=0.0, end_x=1.0, end_y=0.0,
                                        num_frames=3, num_tracks=1, interpolation="ease_in")
    assert torch.allclose(eased["track_path"][:, 0, 0], torch.tensor([0.0, 25.0, 100.0]))
    (curve, _) = node("GenerateTracks")(CTX, width=100, height=100, start_x=0.0, start_y=0.0, end_x=1.0,
                                        end_y=0.0, mid_x=0.5, mid_y=1.0, bezier=True, num_frames=3, num_tracks=1,
                                        interpolation="linear")
    # quadratic Bezier at t = 1/2: (P0 + 2 P1 + P2) / 4
    assert torch.allclose(curve["track_path"][1, 0], torch.tensor([50.0, 50.0]))
    mask = torch.zeros(3, 4, 4)
    mask[1, 2, 2] = 1
    (masked, _) = node("GenerateTracks")(CTX, num_frames=3, num_tracks=2, track_mask=mask, interpolation="linear")
    assert masked["track_visibility"].tolist() == [[False], [True], [False]]


def test_concat_and_tracks_from_coords():
    coords = json.dumps([_pts((1, 2), (3, 4), (5, 6)), _pts((7, 8), (9, 10), (11, 12))])
    tracks, length = node("WanMoveTracksFromCoords")(CTX, track_coords=coords)
    assert length == 3 and tracks["track_path"][:, 1].tolist() == [[7, 8], [9, 10], [11, 12]]
    (both,) = node("WanMoveConcatTrack")(CTX, tracks_1=tracks, tracks_2=tracks)
    assert both["track_path"].shape == (3, 4, 2) and both["track_visibility"].shape == (3, 4)
    assert node("WanMoveConcatTrack")(CTX, tracks_1=tracks)[0] is tracks


@pytest.fixture(scope="module")
def vae(tiny_models):
    from wfrun.models.paths import ModelRoots

    ctx = ExecContext(models=ModelRoots.from_options(tiny_models))
    (v,) = node("VAELoader")(ctx, vae_name="wan_2.1_vae_tiny.safetensors")
    return v


def test_wan_move_track_to_video_patches_the_positive_only(vae):
    positive = [[torch.zeros(1, 4, 8), {}]]
    start = torch.rand(1, 32, 32, 3, generator=torch.Generator().manual_seed(4))
    path = torch.tensor([[[4.0 + 2 * f, 12.0]] for f in range(9)])  # x 4 -> 20 px: cells 0, 1, 2 of row 1
    tracks = {"track_path": path, "track_visibility": torch.ones(9, 1, dtype=torch.bool)}
    pos, neg, latent = node("WanMoveTrackToVideo")(CTX, positive=positive, negative=positive, vae=vae, width=32,
                                                   height=32, length=9, batch_size=1, start_image=start,
                                                   tracks=tracks, strength=1.0)
    moved, plain = pos[0][1]["concat_latent_image"], neg[0][1]["concat_latent_image"]
    assert latent["samples"].shape == (1, 16, 3, 4, 4) and moved.shape == plain.shape == (1, 16, 3, 4, 4)
    assert torch.allclose(moved[:, :, 1, 1, 1], plain[:, :, 0, 1, 0], atol=1e-6)
    assert torch.allclose(moved[:, :, 2, 1, 2], plain[:, :, 0, 1, 0], atol=1e-6)
    changed = (moved != plain).any(dim=1)[0]
    assert changed.sum() == 2  # only the two cells on the track, after frame 0
    mask = pos[0][1]["concat_mask"]
    assert mask[:, :, 0].eq(0).all() and mask[:, :, 1:].eq(1).all()


def test_wan_track_to_video_without_tracks_is_image_to_video(vae):
    positive = [[torch.zeros(1, 4, 8), {}]]
    start = torch.rand(1, 32, 32, 3, generator=torch.Generator().manual_seed(5))
    got = node("WanTrackToVideo")(CTX, positive=positive, negative=positive, vae=vae, tracks="[]", width=32,
                                  height=32, length=9, batch_size=1, start_image=start)
    want = node("WanImageToVideo")(CTX, positive=positive, negative=positive, vae=vae, width=32, height=32, length=9,
                                   batch_size=1, start_image=start)
    assert torch.equal(got[0][0][1]["concat_latent_image"], want[0][0][1]["concat_latent_image"])
    assert torch.equal(got[0][0][1]["concat_mask"], want[0][0][1]["concat_mask"])


def test_wan_track_to_video_stores_the_patched_latent_raw_with_the_inverse_weights(vae):
    from wfrun.packs.comfy_core_models.latent_format import latent_format

    positive = [[torch.zeros(1, 4, 8), {}]]
    start = torch.rand(1, 32, 32, 3, generator=torch.Generator().manual_seed(6))
    track = [{"x": 16 + k * 0.1, "y": 16.0} for k in range(121)]
    pos, neg, latent = node("WanTrackToVideo")(CTX, positive=positive, negative=positive, vae=vae,
                                               tracks=json.dumps(track), width=32, height=32, length=9, batch_size=1,
                                               start_image=start, temperature=220.0, topk=2)
    opts = pos[0][1]
    concat, mask = opts["concat_latent_image"], opts["concat_mask"]
    assert concat.shape == (1, 16, 3, 4, 4) and mask.shape == (1, 4, 3, 4, 4) and neg[0][1]["concat_mask"] is mask
    # the same video encoded as WanImageToVideo encodes it, normalised, patched, stored raw again
    plain = node("WanImageToVideo")(CTX, positive=positive, negative=positive, vae=vae, width=32, height=32,
                                    length=9, batch_size=1, start_image=start)[0][0][1]["concat_latent_image"]
    fmt = latent_format(16)
    weights, feats = ati_patch(ati_track_tensor(pad_track_points(parse_tracks(json.dumps(track))), 32, 32, 8),
                               fmt.process_in(plain)[0], 220.0, 2)
    assert torch.allclose(concat[0], fmt.process_out(feats.unsqueeze(0))[0], atol=1e-5)
    assert torch.allclose(mask[0], 1 - weights.expand(4, -1, -1, -1), atol=1e-6) and mask[:, :, 0].eq(0).all()


def test_wan_track_to_video_needs_4k_plus_1_frames(vae):
    positive = [[torch.zeros(1, 4, 8), {}]]
    with pytest.raises(NodeInputError) as err:
        node("WanTrackToVideo")(CTX, positive=positive, negative=positive, vae=vae, tracks=json.dumps(_pts((1, 1))),
                                width=32, height=32, length=10, batch_size=1, start_image=torch.rand(1, 32, 32, 3))
    assert err.value.input_name == "length"
