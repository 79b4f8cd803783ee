"""A RunPod worker-comfyui request's ``input.images`` (base64 files the worker uploads into
ComfyUI's input folder before queueing ``input.workflow``): read by the loaders that name
them, from the run's temp folder, never written over the user's input folder."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
from PIL import Image

from wfrun.formats.attachments import MAX_ATTACHMENTS, worker_images
from wfrun.formats.document import FormatError, load_text
from wfrun.jobs.run import JobError, RunOptions, prepare, run_file

PROMPT = {
    "1": {"class_type": "LoadImage", "inputs": {"image": "start.png"}},
    "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "req"}},
}


def png(color: tuple[int, int, int], size=(24, 16)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def request(images: list, prompt: dict = PROMPT) -> dict:
    return {"input": {"workflow": prompt, "images": images}, "webhook": "https://example.invalid/x"}


def test_the_requests_picture_is_what_the_loader_reads_and_the_input_folder_is_untouched(tmp_path):
    inputs = tmp_path / "input"
    inputs.mkdir()
    (inputs / "start.png").write_bytes(png((0, 0, 255)))  # the user's own file of that name
    path = tmp_path / "request.json"
    encoded = "data:image/png;base64," + base64.b64encode(png((200, 30, 10))).decode()
    path.write_text(json.dumps(request([{"name": "start.png", "image": encoded}])), encoding="utf-8")
    report = run_file(path, RunOptions(output_dir=tmp_path / "out", device="cpu"))
    [saved] = [p for p in report.result.written if p.suffix == ".png"]
    pixels = np.asarray(Image.open(saved).convert("RGB"))
    assert pixels.shape == (16, 24, 3) and (pixels == (200, 30, 10)).all()  # the request's, as on the worker
    assert (np.asarray(Image.open(inputs / "start.png")) == (0, 0, 255)).all()  # the user's file unchanged
    assert any("the request's file" in line for line in report.prepared.request_files)


def test_a_dry_run_writes_nothing_and_a_loader_the_request_does_not_serve_is_still_missing(tmp_path):
    path = tmp_path / "request.json"
    prompt = {**PROMPT, "3": {"class_type": "LoadImage", "inputs": {"image": "other.png"}},
              "4": {"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": "b"}}}
    path.write_text(json.dumps(request([{"name": "start.png", "image": base64.b64encode(png((1, 2, 3))).decode()}],
                                       prompt)), encoding="utf-8")
    with pytest.raises(JobError) as info:
        prepare(path, RunOptions(output_dir=tmp_path / "out", device="cpu", dry_run=True))
    missing = [d for d in info.value.diagnostics if d.code == "missing-input-file"]
    assert [(d.node_id, d.found) for d in missing] == [("3", "other.png")]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("entry, words", [
    ({"name": "../x.png", "image": "AAAA"}, "no .."),
    ({"name": "/etc/x.png", "image": "AAAA"}, "no absolute"),
    ({"name": "a\\\\b.png", "image": "AAAA"}, "a file name"),
    ({"name": "a.png", "image": "https://example.com/a.png"}, "downloads nothing"),
    ({"name": "a.png", "image": "not base64!"}, "base64"),
    ({"name": "a.png"}, "an object with"),
    ("a.png", "an object with"),
])
def test_unsafe_or_malformed_request_images_are_refused_by_entry(entry, words):
    with pytest.raises(FormatError) as info:
        load_text(json.dumps(request([entry])))
    assert words in str(info.value) and info.value.problems[0].path.startswith("input.images[0]")


def test_request_images_are_limited_in_count_and_decoded_strictly():
    with pytest.raises(FormatError, match=f"at most {MAX_ATTACHMENTS} images"):
        worker_images([{"name": f"{i}.png", "image": "AAAA"} for i in range(MAX_ATTACHMENTS + 1)], "r.json")
    data = png((9, 9, 9))
    text = base64.b64encode(data).decode()
    wrapped = "\n".join(text[i:i + 76] for i in range(0, len(text), 76))  # MIME line breaks are whitespace
    [a, b] = worker_images([{"name": "sub/a.png", "image": wrapped}, {"name": "b.png", "image": text}], "r.json")
    assert (a.name, a.data, b.data) == ("sub/a.png", data, data)
