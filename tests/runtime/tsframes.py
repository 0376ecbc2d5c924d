"""TorchServe's frontend-to-backend messages, built here and read back with TorchServe's own reader.

The Java frontend sends a batch to the Python worker as one binary "predict" message (the frame format
documented in ts/protocol/otf_message_handler.py); `ts.protocol.otf_message_handler.retrieve_msg` reads it,
and `ts.service.Service.predict` turns it into the rows a handler gets. Writing the frame and reading it
with TorchServe's code means a test feeds the handler exactly what a TorchServe worker would.
"""

from __future__ import annotations

import json
import socket
import struct
from dataclasses import dataclass


@dataclass(frozen=True)
class Request:
    body: bytes
    content_type: str = "application/json"


def _int(value: int) -> bytes:
    return struct.pack("!i", value)


def _field(data: bytes) -> bytes:
    return _int(len(data)) + data


def predict_frame(requests: list[Request]) -> bytes:
    out = bytearray(b"I")
    for number, request in enumerate(requests):
        out += _field(f"request-{number}".encode())
        for name, value in (("Content-Type", request.content_type), ("Accept", "application/json")):
            out += _field(name.encode()) + _field(value.encode())
        out += _int(-1)
        out += _field(b"body") + _field(request.content_type.encode()) + _field(request.body)
        out += _int(-1)
    out += _int(-1)
    return bytes(out)


def read_batch(requests: list[Request]) -> list[dict]:
    """The batch as TorchServe's worker reads it off its socket (JSON bodies already decoded, as with the
    default decode_input_request=true)."""
    from ts.protocol.otf_message_handler import retrieve_msg

    ours, theirs = socket.socketpair()
    with ours, theirs:
        ours.sendall(predict_frame(requests))
        command, batch = retrieve_msg(theirs)
    assert command == b"I"
    return batch


def vertex_request(*instances: object) -> Request:
    return Request(json.dumps({"instances": list(instances)}).encode())
