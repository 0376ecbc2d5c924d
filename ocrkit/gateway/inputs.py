"""Turn a request body into checked image bytes, whatever form the client chose.

Accepted bodies (the Content-Type picks the reading; parameters such as `; charset=` are ignored):

- raw image bytes: `image/png`, `image/jpeg` (`image/jpg`, `image/pjpeg`), `application/x-image`,
  `application/octet-stream`; the bytes are sniffed (PNG and JPEG are read), the declared type is a hint;
  `image/webp` and `image/tiff` bodies are sniffed too and refused with 415 (`ocrkit.gateway.images`);
- `application/json` (or `*+json`): `{"image": "<base64 or data: URL>"}`, `{"url": "https://..."}`,
  or `{"images": [item, ...]}` where an item is a base64 string, a data: URL, `{"image": ...}`,
  `{"url": ...}` or `{"b64": ...}`; `"char_probs": true` adds per-character probabilities;
- `multipart/form-data` (`curl -F image=@line.png`, an HTML form): each `image` file part is one
  image, several make a batch (`ocrkit.gateway.multipart`);
- no Content-Type, or curl's default `application/x-www-form-urlencoded`: sniffed — image bytes if the
  magic bytes say so, JSON if the body starts with `{` (seed 001's `curl -d '{"url": ...}'`).

API Gateway's `isBase64Encoded` bodies are decoded first, whatever their type.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass

from ocrkit.gateway.errors import Code, bad_request, too_large, unsupported, url_error
from ocrkit.gateway.images import ImageInfo, inspect_image, sniff
from ocrkit.gateway.limits import Limits
from ocrkit.gateway.multipart import parse_form

Fetcher = Callable[[str], bytes]

RAW_IMAGE_TYPES = frozenset(
    {
        "image/png",
        "image/jpeg",
        "image/jpg",
        "image/pjpeg",
        "image/webp",
        "image/tiff",
        "image/tif",
        "application/x-image",
        "application/octet-stream",
    }
)
SNIFFED_TYPES = frozenset({"", "application/x-www-form-urlencoded"})
_WHITESPACE = b" \t\r\n\f\v"
_ITEM_KEYS = ("image", "url", "b64")
_TOP_KEYS = ("image", "url", "images")


@dataclass(frozen=True)
class ImageInput:
    data: bytes
    info: ImageInfo


@dataclass(frozen=True)
class ParsedInput:
    """What the client sent: the checked images, whether it asked for a batch, and answer options."""

    images: list[ImageInput]
    batch: bool = False
    char_probs: bool = False

    @property
    def payloads(self) -> list[bytes]:
        return [image.data for image in self.images]


def decode_body(body: bytes, is_base64: bool, limits: Limits) -> bytes:
    """The request's real bytes: enforce the body cap and undo API Gateway's base64."""
    cap = limits.max_request_bytes
    if is_base64:
        if _decoded_length(body) > cap:
            raise too_large(Code.REQUEST_TOO_LARGE, f"the request body is over the limit of {cap:,} bytes")
        body = decode_base64(
            body, "the base64-encoded request body", max_bytes=cap, code=Code.REQUEST_TOO_LARGE
        )
    if len(body) > cap:
        raise too_large(
            Code.REQUEST_TOO_LARGE, f"the request body is {len(body):,} bytes; the limit is {cap:,} bytes"
        )
    return body


def parse_body(
    body: bytes,
    content_type: str,
    limits: Limits,
    *,
    fetcher: Fetcher | None = None,
) -> ParsedInput:
    """Read one request body into checked images. `fetcher=None` refuses `{"url": ...}` inputs."""
    media = content_type.split(";", 1)[0].strip().lower()
    if not body:
        raise bad_request(
            Code.EMPTY_BODY,
            'the request body is empty; send image bytes (Content-Type: image/png) or JSON {"image": ...}',
        )
    if media in RAW_IMAGE_TYPES:
        return ParsedInput([_checked(body, limits, "the request body")])
    if media == "application/json" or media.endswith("+json"):
        return _parse_json(body, limits, fetcher)
    if media == "multipart/form-data":
        return _parse_form(body, content_type, limits)
    if media in SNIFFED_TYPES:
        if sniff(body) is not None:
            return ParsedInput([_checked(body, limits, "the request body")])
        if body.lstrip()[:1] == b"{":
            return _parse_json(body, limits, fetcher)
        raise bad_request(
            Code.NOT_AN_IMAGE,
            "the request body is neither an image nor JSON; send it with Content-Type image/png, "
            "image/jpeg or application/json",
        )
    if media.startswith("image/"):
        raise unsupported(
            Code.UNSUPPORTED_IMAGE_FORMAT, f"{media} images are not supported; send PNG or JPEG"
        )
    hint = "; send the raw bytes (curl --data-binary @file.png)" if media.startswith("multipart/") else ""
    media_list = "image/png, image/jpeg, application/octet-stream, application/json or multipart/form-data"
    raise unsupported(
        Code.UNSUPPORTED_MEDIA_TYPE,
        f"Content-Type {media} is not accepted; use {media_list}{hint}",
    )


def load_json(body: bytes) -> object:
    """Parse a JSON body; any failure is a 400 `bad_json` naming the place."""
    try:
        return json.loads(body.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise bad_request(Code.BAD_JSON, "the JSON body is not valid UTF-8") from None
    except json.JSONDecodeError as exc:
        raise bad_request(
            Code.BAD_JSON, f"the body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise bad_request(Code.BAD_JSON, "the JSON body is nested too deeply") from None
    except ValueError as exc:  # e.g. an integer longer than Python's int-string limit (4300 digits)
        raise bad_request(Code.BAD_JSON, f"the JSON body cannot be read: {str(exc)[:120]}") from None


def _parse_json(body: bytes, limits: Limits, fetcher: Fetcher | None) -> ParsedInput:
    doc = load_json(body)
    if not isinstance(doc, dict):
        raise bad_request(Code.BAD_JSON, 'the JSON body must be an object such as {"image": "<base64>"}')
    char_probs = doc.get("char_probs", False)
    if not isinstance(char_probs, bool):
        raise bad_request(Code.INVALID_FIELD, "field 'char_probs' must be true or false")
    present = [key for key in _TOP_KEYS if key in doc]
    if not present:
        raise bad_request(
            Code.MISSING_FIELD,
            'the JSON body needs one of "image" (base64), "url" (https) or "images" (a list)',
        )
    if len(present) > 1:
        raise bad_request(Code.INVALID_FIELD, f"send only one of {', '.join(present)}")
    key = present[0]
    if key != "images":
        return ParsedInput([read_item({key: doc[key]}, key, limits, fetcher)], char_probs=char_probs)
    items = doc["images"]
    if not isinstance(items, list):
        raise bad_request(Code.INVALID_FIELD, "field 'images' must be a list")
    if not items:
        raise bad_request(Code.INVALID_FIELD, "field 'images' is an empty list")
    if len(items) > limits.max_batch:
        raise too_large(
            Code.BATCH_TOO_LARGE, f"{len(items)} images in one request; the limit is {limits.max_batch}"
        )
    images = [read_item(item, f"images[{i}]", limits, fetcher) for i, item in enumerate(items)]
    check_request_pixels(images, limits)
    return ParsedInput(images, batch=True, char_probs=char_probs)


def _parse_form(body: bytes, content_type: str, limits: Limits) -> ParsedInput:
    form = parse_form(body, content_type)
    if len(form.images) > limits.max_batch:
        raise too_large(
            Code.BATCH_TOO_LARGE, f"{len(form.images)} images in one request; the limit is {limits.max_batch}"
        )
    images = [_checked(data, limits, label) for label, data in form.images]
    check_request_pixels(images, limits)
    return ParsedInput(images, batch=len(images) > 1, char_probs=form.char_probs)


def check_request_pixels(images: list[ImageInput], limits: Limits) -> None:
    """Bound one request's decode work: the pixels of all its images together (413 beyond)."""
    total = sum(image.info.pixels for image in images)
    if total > limits.max_request_pixels:
        raise too_large(
            Code.REQUEST_TOO_MANY_PIXELS,
            f"the {len(images)} images hold {total:,} pixels together; the limit per request is "
            f"{limits.max_request_pixels:,}: send them in several requests",
        )


def read_item(item: object, label: str, limits: Limits, fetcher: Fetcher | None) -> ImageInput:
    if isinstance(item, str):
        return _checked(decode_image_string(item, label, limits), limits, label)
    if not isinstance(item, dict):
        raise bad_request(Code.INVALID_FIELD, f'{label} must be a base64 string or an object with "image"')
    keys = [key for key in _ITEM_KEYS if key in item]
    if len(keys) != 1:
        raise bad_request(Code.INVALID_FIELD, f'{label} needs exactly one of "image", "url" or "b64"')
    key = keys[0]
    value = item[key]
    where = label if label == key else f"{label}.{key}"
    if key == "image" and isinstance(value, dict) and set(value) == {"b64"}:
        value, where = value["b64"], f"{where}.b64"
    if not isinstance(value, str):
        raise bad_request(Code.INVALID_FIELD, f"field '{where}' must be a string")
    if key == "url":
        return _checked(fetch_image(value, where, fetcher), limits, f"the image fetched from '{where}'")
    return _checked(decode_image_string(value, where, limits), limits, f"field '{where}'")


def fetch_image(url: str, label: str, fetcher: Fetcher | None) -> bytes:
    if fetcher is None:
        raise url_error(Code.URL_REFUSED, "this endpoint does not fetch URLs; send the image bytes instead")
    if not url.strip():
        raise bad_request(Code.INVALID_FIELD, f"field '{label}' is empty")
    return fetcher(url)


def decode_image_string(value: str, label: str, limits: Limits) -> bytes:
    """A base64 string or a `data:image/...;base64,` URL, decoded."""
    text = value.strip()
    if not text:
        raise bad_request(Code.INVALID_FIELD, f"field '{label}' is empty")
    if text[:5].lower() == "data:":
        header, sep, payload = text.partition(",")
        if not sep:
            raise bad_request(Code.BAD_BASE64, f"field '{label}' is a data: URL without a comma")
        if ";base64" not in header.lower():
            raise bad_request(Code.BAD_BASE64, f"field '{label}' is a data: URL that is not base64-encoded")
        text = payload
    try:
        raw = text.encode("ascii")
    except UnicodeEncodeError:
        raise bad_request(
            Code.BAD_BASE64, f"field '{label}' is not valid base64 (non-ASCII characters)"
        ) from None
    return decode_base64(raw, f"field '{label}'", max_bytes=limits.max_image_bytes)


def decode_base64(data: bytes, label: str, *, max_bytes: int, code: Code = Code.IMAGE_TOO_LARGE) -> bytes:
    """Standard or URL-safe alphabet, padding optional, line breaks ignored; refuse before decoding if
    the result would exceed `max_bytes`."""
    compact = data.translate(None, _WHITESPACE)
    if _decoded_length(compact) > max_bytes:
        raise too_large(code, f"{label} decodes to more than the limit of {max_bytes:,} bytes")
    if b"-" in compact or b"_" in compact:
        compact = compact.translate(bytes.maketrans(b"-_", b"+/"))
    compact = compact.rstrip(b"=")
    if len(compact) % 4 == 1:
        raise bad_request(Code.BAD_BASE64, f"{label} is not valid base64 (wrong length)")
    compact += b"=" * (-len(compact) % 4)
    try:
        decoded = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise bad_request(Code.BAD_BASE64, f"{label} is not valid base64") from None
    if not decoded:
        raise bad_request(Code.BAD_BASE64, f"{label} decodes to nothing")
    return decoded


def _decoded_length(encoded: bytes) -> int:
    return len(encoded) * 3 // 4


def _checked(data: bytes, limits: Limits, label: str) -> ImageInput:
    return ImageInput(data, inspect_image(data, limits, label=label))
