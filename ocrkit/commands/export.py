"""`ocrkit export --format onnx`: the model as ONNX graphs for the torch-free engine."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from ocrkit.errors import OcrkitError
from ocrkit.weights import WEIGHTS_ENV, resolve_weights


class ExportFormat(StrEnum):
    onnx = "onnx"


class OutputFormat(StrEnum):
    table = "table"
    json = "json"


_EXPORT_HELP = """\
Export the model as ONNX graphs for the ONNX engine (--engine onnx), which needs no torch.

Writes DIR/encoder.onnx (backbone + encoder, once per image, with every decoder layer's
cross-attention keys/values), DIR/decoder_step.onnx (one decoder pass that takes and returns the
self-attention key/value cache) and DIR/ocrkit-onnx.json (alphabet, architecture, preprocessing,
the checkpoint's sha256). Batch and sequence axes are dynamic; the graphs pass the ONNX checker.
DIR must not exist: the export is written beside it and renamed when complete, so a failed export
leaves nothing behind. Needs torch and onnx (the model extra).

Example: ocrkit export --format onnx --weights model.pt --out model-onnx/
"""


def register(app: typer.Typer) -> None:
    @app.command("export", help=" ".join(_EXPORT_HELP.split("\n\n")[0].split()) + "\n\n" + _rest())
    def export_cmd(
        out: Path = typer.Option(
            ..., "--out", help="Directory to create (must not exist).", show_default=False
        ),
        weights: Path | None = typer.Option(
            None,
            "--weights",
            help=f"Model checkpoint (.pt). Default: ${WEIGHTS_ENV}, else the shipped demo checkpoint.",
            show_default=False,
        ),
        fmt: ExportFormat = typer.Option(ExportFormat.onnx, "--format", help="Export format."),
        output: OutputFormat = typer.Option(OutputFormat.table, "--output", help="Summary as text or JSON."),
    ) -> None:
        if out.exists():
            raise OcrkitError(f"{out} already exists: choose a new --out directory (nothing was written)")
        path = resolve_weights(weights)
        if not path.is_file():
            raise OcrkitError(f"checkpoint not found: {path}")
        try:
            import onnx  # noqa: F401
            import torch  # noqa: F401
        except ImportError as exc:
            raise OcrkitError(
                f"`ocrkit export` needs torch and onnx ({exc.name} is not installed)",
                hint="pip install 'ocrkit[model]'",
            ) from None
        from ocrkit.core_model.onnx_export import export_checkpoint

        err = Console(stderr=True, highlight=False)
        with err.status("exporting") as status:
            manifest = export_checkpoint(
                path,
                out,
                progress=lambda stage: (status.update(stage), err.print(f"[dim]{escape(stage)}[/]")),
            )
        sizes = {name: (out / name).stat().st_size for name in manifest.graphs}
        if output is OutputFormat.json:
            typer.echo(
                json.dumps(
                    {
                        "out": str(out),
                        "format": fmt.value,
                        "architecture": manifest.architecture.describe(),
                        "source": str(path),
                        "source_sha256": manifest.source_sha256,
                        "graphs": {n: {"bytes": b, "sha256": manifest.graphs[n]} for n, b in sizes.items()},
                    },
                    ensure_ascii=False,
                    indent=2,
                )
            )
            return
        console = Console(highlight=False)
        console.print(f"exported {escape(str(path))} -> {escape(str(out))}", soft_wrap=True)
        console.print(
            f"  {escape(manifest.architecture.describe())}; sha256 {manifest.source_sha256[:16]}..."
        )
        for name, size in sizes.items():
            console.print(f"  {name}: {size / 1e6:.1f} MB")
        console.print(f"  use it with: ocrkit predict --engine onnx --weights {escape(str(out))} IMAGE...")


def _rest() -> str:
    parts = _EXPORT_HELP.split("\n\n")[1:]
    return "\n\n".join(" ".join(p.split()) for p in parts)
