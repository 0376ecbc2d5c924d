"""Read `multipart/form-data` uploads (`curl -F image=@crop.png`, an HTML form) with the standard library.

The `cgi` module is deprecated (removed in Python 3.13); `email.parser.BytesParser` with the HTTP
policy reads MIME multipart bodies, which is what form data is (RFC 7578). The body is already capped
by the request limit, and each part is checked like any other image afterwards.

Fields: every file part named `image` (or `images`, `file`) is one image, in order; several make a
batch. `char_probs` ("true" / "false") is the JSON option of the same name. Other fields are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from email import policy
from email.parser import BytesParser

from ocrkit.gateway.errors import Code, bad_request

IMAGE_FIELDS = ("image", "images", "file")


@dataclass(frozen=True)
class FormData:
    images: list[tuple[str, bytes]]  # (field label, bytes)
    char_probs: bool = False


def parse_form(body: bytes, content_type: str) -> FormData:
    """The image parts of a multipart/form-data body; 400 when it is not one or holds no image."""
    if "boundary=" not in content_type.lower():
        raise bad_request(Code.BAD_REQUEST, "multipart/form-data without a boundary parameter")
    head = b"Content-Type: " + content_type.encode("latin-1", "replace") + b"\r\nMIME-Version: 1.0\r\n\r\n"
    message = BytesParser(policy=policy.HTTP).parsebytes(head + body)
    if not message.is_multipart() or message.defects:
        raise bad_request(Code.BAD_REQUEST, "the multipart/form-data body is malformed")
    images: list[tuple[str, bytes]] = []
    char_probs = False
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        if name in IMAGE_FIELDS:
            images.append((f"form field '{name}'" + (f" #{len(images) + 1}" if images else ""), data))
        elif name == "char_probs":
            value = data.decode("utf-8", "replace").strip().lower()
            if value not in ("true", "false", "1", "0", ""):
                raise bad_request(Code.INVALID_FIELD, "form field 'char_probs' must be true or false")
            char_probs = value in ("true", "1")
    if not images:
        raise bad_request(
            Code.MISSING_FIELD,
            "the form has no image field; send the file as image (curl -F image=@line.png)",
        )
    return FormData(images, char_probs)
