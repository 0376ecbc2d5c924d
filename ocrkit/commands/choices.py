"""The fixed sets of values CLI options take, as enums so that --help and shell completion list them.

--device stays a string: besides auto, cpu and cuda it takes cuda:N for any N, which no fixed set
holds; `complete_device` offers the values to shell completion and the help text names them.
"""

from __future__ import annotations

from enum import StrEnum


class CostCloud(StrEnum):
    aws = "aws"
    gcp = "gcp"
    all = "all"


class CostMethod(StrEnum):
    list = "list"
    report = "report"


class CostFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"


class Runner(StrEnum):
    local = "local"
    ray = "ray"


class ManagedCloud(StrEnum):
    """Where `ocrkit batch --cloud` runs a managed job."""

    aws = "aws"
    gcp = "gcp"


class LogLevel(StrEnum):
    debug = "debug"
    info = "info"
    warning = "warning"
    error = "error"
    critical = "critical"


class ImageFormat(StrEnum):
    png = "png"
    jpg = "jpg"


class SynthStyle(StrEnum):
    """`ocrkit synth --style`: the original scan variation, pen-and-paper effects on top, or joined."""

    scan = "scan"
    pen = "pen"
    joined = "joined"


class Backbone(StrEnum):
    resnet18 = "resnet18"
    resnet34 = "resnet34"
    resnet50 = "resnet50"


DEVICES = ("auto", "cpu", "cuda", "cuda:0")


def complete_device(incomplete: str) -> list[str]:
    """Shell completion for --device (cuda:N takes any N; cuda:0 is offered as the example)."""
    return [device for device in DEVICES if device.startswith(incomplete)]


class TriggerKind(StrEnum):
    """`ocrkit deploy --trigger`: the bucket whose object-created events run the model."""

    s3 = "s3"
    gcs = "gcs"
