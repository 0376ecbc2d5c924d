"""A TIFF with two sizes in one header (first 20000 x 20000, last 10 x 10) against a real `ocrkit serve`:
refused by content before any decoder runs, and the decoder's own cap holds if a header is misread."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.gateway.imagegen import make_png, make_tiff_two_sizes
from tests.loadtest.servers import ROOT, post, running_server, small_checkpoint

MiB = 1024 * 1024


@pytest.mark.slow
def test_two_size_tiff_is_refused_by_a_real_server(tmp_path) -> None:
    tiff = make_tiff_two_sizes((20_000, 20_000), (10, 10))
    with running_server(["--predictor", "tests.loadtest.fakes:echo"], tmp_path=tmp_path) as served:
        for content_type in ("image/tiff", "image/png", "application/octet-stream"):
            status, _, body = post(served.url, "/predict", tiff, content_type)
            assert status == 415, body  # before: 200 "tiff 10x10" (the guard read the last tags)
            assert json.loads(body)["error"]["code"] == "unsupported_image_format"
        assert post(served.url, "/predict", make_png(40, 10), "image/png")[0] == 200


@pytest.mark.slow
@pytest.mark.model
def test_the_real_bomb_leaves_worker_memory_bounded(tmp_path) -> None:
    """The 389 KB file that once cost +2.27 GB of worker memory, against the torch model."""
    bomb = make_tiff_two_sizes((20_000, 20_000), (10, 10), bomb=True)
    weights = small_checkpoint(tmp_path / "small.pt")
    with running_server(["--weights", str(weights), "--max-len", "4"], tmp_path=tmp_path) as served:
        assert post(served.url, "/predict", make_png(40, 10), "image/png")[0] == 200
        before = served.rss_bytes()
        for _ in range(3):
            status, _, body = post(served.url, "/predict", bomb, "image/tiff")
            assert 400 <= status < 500 and json.loads(body)["error"]["code"]
        assert served.rss_bytes() < before + 100 * MiB


@pytest.mark.model
def test_the_decoder_itself_refuses_more_pixels_than_the_limits() -> None:
    """Second line: OpenCV, capped in the worker from the gateway's limits, fails the decode itself."""
    script = (
        "from ocrkit.gateway.limits import Limits\n"
        "from ocrkit.server.decoder import cap_decoder\n"
        "cap_decoder(Limits(max_pixels=1000))\n"
        "from ocrkit.core_model.preprocess import decode_image\n"
        "from ocrkit.prediction import ImageDecodeError\n"
        "from tests.gateway.imagegen import make_png\n"
        "print(decode_image(make_png(30, 30)).shape)\n"
        "try:\n"
        "    decode_image(make_png(40, 30))\n"
        "except ImageDecodeError as exc:\n"
        "    print('refused', exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "(30, 30, 3)" and lines[1].startswith("refused"), done.stdout
