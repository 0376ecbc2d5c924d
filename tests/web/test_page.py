"""The web page at GET /, in a real headless browser (Chromium via Playwright): a person picks an image
(or gives its address) and reads the text, the confidence and the time; mistakes read as sentences."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

from tests.gateway.imagegen import make_gif, make_png
from tests.loadtest.servers import running_server, small_checkpoint

pytestmark = pytest.mark.slow


def open_page(page, served) -> list[str]:
    """Load the page; returns the list that collects every URL the page requests."""
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(f"{served.url}/")
    page.wait_for_selector("body[data-state='ready']")
    return requested


def test_picking_an_image_shows_the_text_confidence_and_time(page, echo_endpoint, tmp_path) -> None:
    image = tmp_path / "line.png"
    image.write_bytes(make_png(40, 10))
    requested = open_page(page, echo_endpoint)
    assert page.title().startswith("ocrkit")
    page.set_input_files("#file", str(image))
    page.wait_for_selector("#answer", state="visible")
    assert page.text_content("#text") == "png 40x10"
    assert page.text_content("#confidence") == "87.5 %"
    assert re.fullmatch(r"\d+ ms \(server: \d+ ms\)", page.text_content("#time") or "")
    assert page.text_content("#model") == "ocrkit"
    assert page.is_hidden("#error") and page.is_hidden("#low")  # 87.5 % is not a low confidence
    assert page.get_attribute("#preview", "src").startswith("blob:")
    assert "line.png" in (page.text_content("#source") or "")
    # nothing but this server was contacted: no CDN, no fonts, no analytics
    hosts = {urlsplit(url).netloc for url in requested if url.startswith("http")}
    assert hosts == {urlsplit(echo_endpoint.url).netloc}
    # the curl line on the page points at this server
    assert f"curl --location {echo_endpoint.url}/predict" in page.text_content("#curl")


def test_the_shipped_samples_can_be_tried_from_the_page(page, echo_endpoint, tmp_path) -> None:
    open_page(page, echo_endpoint)
    buttons = page.locator("#samples button.sample")
    assert page.is_visible("#samples-box") and buttons.count() == 12  # ocrkit/assets/samples
    page.click("#samples button[data-name='sample01.jpg']")
    page.wait_for_selector("#answer", state="visible")
    assert re.fullmatch(r"jpeg \d+x\d+", page.text_content("#text") or "")  # the sample's bytes were sent
    assert page.text_content("#confidence") == "87.5 %"
    assert page.text_content("#expected") == "Written on the sample: заявление"
    assert "sample01.jpg" in (page.text_content("#source") or "")
    own = tmp_path / "line.png"
    own.write_bytes(make_png(40, 10))
    page.set_input_files("#file", str(own))  # an own file: no expected text is shown
    page.wait_for_selector("#text:text('png 40x10')")
    assert page.is_hidden("#expected")


def test_a_file_that_is_not_an_image_is_explained(page, echo_endpoint, tmp_path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("these are words, not a picture of them", encoding="utf-8")
    open_page(page, echo_endpoint)
    page.set_input_files("#file", str(notes))
    page.wait_for_selector("#error", state="visible")
    assert page.text_content("#error-text") == (
        "That file is not an image. Choose a PNG or JPEG picture of handwritten text."
    )
    assert page.is_hidden("#answer")


def test_an_unsupported_image_format_is_explained(page, echo_endpoint, tmp_path) -> None:
    gif = tmp_path / "anim.gif"
    gif.write_bytes(make_gif())
    open_page(page, echo_endpoint)
    page.set_input_files("#file", str(gif))
    page.wait_for_selector("#error", state="visible")
    assert "not supported" in page.text_content("#error-text")
    assert "gif" in page.text_content("#error-detail").lower()


def test_an_image_address_is_read(page, echo_endpoint, image_host) -> None:
    open_page(page, echo_endpoint)
    page.fill("#url", image_host.url("/line.png"))
    page.click("#url-go")
    page.wait_for_selector("#answer", state="visible")
    assert page.text_content("#text") == "png 40x10"
    assert [seen["path"] for seen in image_host.seen].count("/line.png") >= 1  # the server fetched it


def test_a_refused_address_is_explained(page, echo_endpoint) -> None:
    open_page(page, echo_endpoint)
    page.fill("#url", "http://169.254.169.254/latest/meta-data/x.png")  # cloud metadata: always refused
    page.click("#url-go")
    page.wait_for_selector("#error", state="visible")
    assert page.text_content("#error-text") == (
        "That address cannot be used. Give a public https:// link to an image."
    )


def test_text_that_is_not_an_address_is_caught_on_the_page(page, echo_endpoint) -> None:
    open_page(page, echo_endpoint)
    page.fill("#url", "line.png")
    page.click("#url-go")
    page.wait_for_selector("#error", state="visible")
    assert "not a web address" in page.text_content("#error-text")


@pytest.mark.model
def test_the_page_with_a_real_model(page, tmp_path) -> None:
    """Random-init weights: the text is meaningless, so only its presence and the figures are checked."""
    samples = pytest.importorskip("ocrkit.core_model.samples")
    weights = small_checkpoint(tmp_path / "small.pt")
    image = tmp_path / "word.png"
    image.write_bytes(samples.sample_images(1)[0].png)
    with running_server(["--weights", str(weights), "--max-len", "12"], tmp_path=tmp_path) as served:
        open_page(page, served)
        page.set_input_files("#file", str(image))
        page.wait_for_selector("#answer", state="visible")
        assert page.text_content("#text")
        assert re.fullmatch(r"\d+\.\d %", page.text_content("#confidence") or "")
        assert re.fullmatch(r"\d+ ms \(server: \d+ ms\)", page.text_content("#time") or "")
