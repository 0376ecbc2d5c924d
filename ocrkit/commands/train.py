"""`ocrkit synth` (make a synthetic dataset) and `ocrkit train` (train or fine-tune the OCR model).

Neither imports torch at module import: `ocrkit --help` stays light, and `ocrkit synth` needs no
torch at all.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from ocrkit.commands.choices import Backbone, ImageFormat, SynthStyle, complete_device
from ocrkit.commands.inference import _require_torch
from ocrkit.commands.output import OutputFormat
from ocrkit.errors import OcrkitError

_SYNTH_HELP = """\
Render a synthetic handwriting-like dataset in the Kaggle layout.

Russian words and short phrases (wordfreq's list, weighted toward frequent words; names with
initials, dates, numbers, punctuation) are drawn in fonts that carry the Cyrillic glyphs
(handwriting-like ones favoured) and varied like scans: slant, rotation, elastic distortion,
stroke width, blur, noise, paper tone and texture, ink colour, uneven crop margins.

Writes OUT/train/ + train.tsv and OUT/test/ + test.tsv (seen font families), OUT/test_unseen/ +
test_unseen.tsv (only the --unseen-font families, never used in train or test) and
OUT/manifest.jsonl (label, font and seed of every image). The same --seed gives the same files.

Example: ocrkit synth --out data/synth --count 20000 --seed 1
"""

_TRAIN_HELP = """\
Train or fine-tune the OCR model (ResNet + Transformer) on a folder in the Kaggle layout.

DATA holds train/ + train.tsv and a validation split (test/ + test.tsv by default), as written by
`ocrkit synth` or as in the Kaggle Cyrillic handwriting dataset. Every image is decoded and
preprocessed once into memory, exactly as serving preprocesses it.

Writes OUT/best.pt (best validation CER, the report's checkpoint format: loads with --weights in
predict/eval/serve), OUT/last.pt (full training state for --resume; also written on Ctrl-C) and,
with --fp16-export, OUT/best-fp16.pt (half the size; loads back as float32).

Example: ocrkit train data/synth --out runs/demo --backbone resnet18 --hidden 256 --time-limit 3600
"""


_FONTS_HELP = """\
List (and with --install, download) the handwriting fonts with Cyrillic that `ocrkit synth` can use.

They come from fontsource's packages on the npm registry (Google Fonts families, SIL Open Font
License 1.1), pinned by version and SHA-256, and are written as TTF files into the font cache
($OCRKIT_FONT_CACHE, default ~/.cache/ocrkit/fonts). `make fonts` runs `ocrkit fonts --install`.
"""


class TrainingInterrupted(OcrkitError):
    """Ctrl-C during training: last.pt was saved; exit with the usual interrupt status."""

    exit_code = 130


#: CPU flags (Linux /proc/cpuinfo) of native bfloat16 arithmetic; without them --cpu-bf16 is emulated
NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> set[str] | None:
    """The CPU's feature flags, or None where the system does not say (not Linux)."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.partition(":")[2].split())
    return None


def bf16_warning(flags: set[str] | None) -> str | None:
    """Why --cpu-bf16 will be slow here, if it will: measured 12-17x slower per step on a 2-core AMD
    EPYC without them (batch 32: fp32 1.2-1.5 s, bf16 16-26 s)."""
    if flags is None or flags & set(NATIVE_BF16_FLAGS):
        return None
    return (
        "--cpu-bf16: this CPU has no native bf16 (no avx512_bf16 or amx_bf16 flag), so torch emulates "
        "it: steps can be 10x slower than without the flag"
    )


def _trains_on_cpu(device: str) -> bool:
    if device == "cpu":
        return True
    if device != "auto":
        return False
    import torch

    return not torch.cuda.is_available()


def _console(stderr: bool = False) -> Console:
    return Console(stderr=stderr, highlight=False)


def _families(value: str | None) -> list[str] | None:
    if value is None or value.strip() in ("", "all"):
        return None
    return [v.strip() for v in value.split(",") if v.strip()]


def register(app: typer.Typer) -> None:
    @app.command("synth", help=_SYNTH_HELP)
    def synth_cmd(
        out: Path = typer.Option(..., "--out", help="Folder to write the dataset into."),
        count: int = typer.Option(1000, "--count", help="Training images."),
        test_count: int | None = typer.Option(
            None,
            "--test-count",
            help="Seen-font test images (default: a tenth of --count).",
            show_default=False,
        ),
        unseen_count: int | None = typer.Option(
            None,
            "--unseen-count",
            help="Unseen-font test images (default: as --test-count).",
            show_default=False,
        ),
        seed: int = typer.Option(0, "--seed", help="Same seed, same files and labels."),
        fonts: str | None = typer.Option(
            None,
            "--fonts",
            help="Comma-separated font families for train/test (default: the Debian ones): stevehand, z003, "
            "chancery, delphine, uralic, urw, cmu, dejavu, paratype, liberation; handwriting fonts from "
            "`ocrkit fonts --install`: marck-script, great-vibes, lobster, pacifico, caveat, "
            "shantell-sans, playpen-sans, zen-kurenaido, comic-relief, bad-script, neucha, comforter.",
            show_default=False,
        ),
        unseen_font: str = typer.Option(
            "liberation", "--unseen-font", help="Font families kept out of training, for test_unseen only."
        ),
        image_format: ImageFormat = typer.Option(
            ImageFormat.png, "--image-format", case_sensitive=False, help="File format of the images."
        ),
        style: SynthStyle = typer.Option(
            SynthStyle.scan,
            "--style",
            case_sensitive=False,
            help="scan: the original variation; pen: adds a wavy baseline, fading ink, blots and "
            "ruled or squared paper; joined: pen, with letters set closer, on uneven baselines and "
            "lowercase letters joined by connecting strokes (cursive-like, from any face).",
        ),
        force: bool = typer.Option(False, "--force", help="Replace a dataset already in --out."),
        fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", help="Summary as a table or JSON."),
    ) -> None:
        from ocrkit.synth import SynthConfig, generate_dataset

        unseen = _families(unseen_font) or []
        config = SynthConfig(
            out=out,
            count=count,
            test_count=test_count,
            unseen_count=unseen_count,
            seed=seed,
            fonts=_families(fonts),
            unseen_fonts=unseen,
            image_format=image_format.value,
            force=force,
            style=style.value,
        )
        err = _console(stderr=True)
        with Progress(
            TextColumn("[bold]synth"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=err,
            transient=True,
            disable=fmt is OutputFormat.json,
        ) as bar:
            task = bar.add_task("synth", total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            summary = generate_dataset(config, progress=progress)
        data = {
            "out": str(summary.out),
            "counts": summary.counts,
            "seen_fonts": summary.seen_fonts,
            "unseen_fonts": summary.unseen_fonts,
            "skipped_fonts": summary.skipped_fonts,
            "missing_fonts": summary.missing_fonts,
            "seed": seed,
        }
        if fmt is OutputFormat.json:
            typer.echo(json.dumps(data, ensure_ascii=False, indent=2))
            return
        for line in summary.skipped_fonts:
            err.print(f"[yellow]skipped font[/] {escape(line)}")
        if summary.missing_fonts:
            err.print(
                f"[yellow]handwriting fonts missing:[/] {', '.join(summary.missing_fonts)} "
                "(install them with `make fonts` or `ocrkit fonts --install`)"
            )
        table = Table(title=f"ocrkit synth -> {escape(str(summary.out))}", title_justify="left")
        table.add_column("split")
        table.add_column("images", justify="right")
        table.add_column("font families", overflow="fold")
        for split, n in summary.counts.items():
            fams = summary.unseen_fonts if split == "test_unseen" else summary.seen_fonts
            table.add_row(split, str(n), ", ".join(fams) if n else "-")
        _console().print(table)

    @app.command("fonts", help=_FONTS_HELP)
    def fonts_cmd(
        install: bool = typer.Option(
            False, "--install", help="Download the missing ones from the npm registry into the cache."
        ),
        fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", help="As a table or JSON."),
    ) -> None:
        import logging

        from ocrkit.synth import font_cache

        written: list[Path] = []
        if install:
            logging.getLogger("fontTools").setLevel(logging.ERROR)
            try:
                written = font_cache.install()
            except OSError as exc:
                raise OcrkitError(
                    f"cannot install the handwriting fonts: {exc}",
                    hint="the npm registry (registry.npmjs.org) must be reachable",
                ) from exc
        rows = [
            {
                "family": p.family,
                "package": f"@fontsource/{p.family}@{p.version}",
                "script": p.script,
                "installed": font_cache.installed(p),
                "new": (font_cache.cache_dir() / p.file_name) in written,
            }
            for p in font_cache.PACKAGES
        ]
        if fmt is OutputFormat.json:
            typer.echo(json.dumps({"cache": str(font_cache.cache_dir()), "fonts": rows}, indent=2))
            return
        table = Table(
            title=f"handwriting fonts in {escape(str(font_cache.cache_dir()))}", title_justify="left"
        )
        for col in ("family", "package", "script", "installed"):
            table.add_column(col)
        for r in rows:
            state = "yes (new)" if r["new"] else "yes" if r["installed"] else "[yellow]missing[/]"
            table.add_row(r["family"], r["package"], r["script"], state)
        _console().print(table)
        missing = [r["family"] for r in rows if not r["installed"]]
        if missing:
            _console(stderr=True).print(
                f"[yellow]missing:[/] {', '.join(missing)} (install them with `make fonts` or "
                "`ocrkit fonts --install`)"
            )

    @app.command("train", help=_TRAIN_HELP)
    def train_cmd(
        data: Path = typer.Argument(..., help="Dataset folder (train/ + train.tsv, test/ + test.tsv)."),
        out: Path = typer.Option(..., "--out", help="Folder for best.pt, last.pt and train-log.json."),
        weights: Path | None = typer.Option(
            None,
            "--weights",
            help="Fine-tune from this checkpoint (the report's model.pt or ocrkit's).",
            show_default=False,
        ),
        resume: Path | None = typer.Option(
            None, "--resume", help="Continue an interrupted run from its last.pt.", show_default=False
        ),
        backbone: Backbone = typer.Option(
            Backbone.resnet18, "--backbone", case_sensitive=False, help="ResNet backbone (new models)."
        ),
        hidden: int = typer.Option(256, "--hidden", help="Transformer width (new models)."),
        enc_layers: int = typer.Option(1, "--enc-layers", help="Encoder layers (new models)."),
        dec_layers: int = typer.Option(1, "--dec-layers", help="Decoder layers (new models)."),
        nhead: int = typer.Option(4, "--nhead", help="Attention heads (new models)."),
        epochs: int = typer.Option(10, "--epochs", help="Passes over the training split."),
        batch_size: int = typer.Option(32, "--batch-size", help="Images per optimisation step."),
        lr: float = typer.Option(5e-4, "--lr", help="Peak learning rate (AdamW; warm-up then cosine)."),
        warmup_steps: int = typer.Option(200, "--warmup-steps", help="Linear warm-up steps."),
        seed: int = typer.Option(0, "--seed", help="Initialisation and data-order seed."),
        device: str = typer.Option(
            "auto",
            "--device",
            help="auto (CUDA when available, else CPU), cpu, cuda.",
            autocompletion=complete_device,
        ),
        max_steps: int | None = typer.Option(
            None, "--max-steps", help="Stop after this many steps.", show_default=False
        ),
        time_limit: float | None = typer.Option(
            None,
            "--time-limit",
            help="Stop after this many seconds (the schedule decays to fit).",
            show_default=False,
        ),
        val_split: str = typer.Option("test", "--val-split", help="Validation split name ('' for none)."),
        val_every: int | None = typer.Option(
            None,
            "--val-every",
            help="Also validate every N steps (always once per epoch).",
            show_default=False,
        ),
        val_limit: int = typer.Option(500, "--val-limit", help="Validation images used (first N)."),
        train_limit: int | None = typer.Option(
            None, "--train-limit", help="Use only the first N training images.", show_default=False
        ),
        fp16_export: bool = typer.Option(False, "--fp16-export", help="Also write best-fp16.pt (half size)."),
        threads: int | None = typer.Option(
            None, "--threads", help="CPU threads for torch.", show_default=False
        ),
        cpu_bf16: bool = typer.Option(
            False,
            "--cpu-bf16",
            help="On CPU, compute forward passes in bf16 (autocast): about 2x faster on CPUs with "
            "native bf16 (AVX512-BF16 or AMX), slower on others. CUDA always uses bf16.",
        ),
        fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", help="Summary as a table or JSON."),
    ) -> None:
        _require_torch("train")
        from ocrkit.core_model.train import TrainConfig, TrainEvent, train

        config = TrainConfig(
            data=data,
            out=out,
            val_split=val_split,
            weights=weights,
            resume=resume,
            backbone=backbone.value,
            hidden=hidden,
            enc_layers=enc_layers,
            dec_layers=dec_layers,
            nhead=nhead,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            warmup_steps=warmup_steps,
            seed=seed,
            device=device,
            max_steps=max_steps,
            time_limit=time_limit,
            val_every=val_every,
            val_limit=val_limit,
            train_limit=train_limit,
            fp16_export=fp16_export,
            cpu_bf16=cpu_bf16,
            threads=threads,
        )
        err = _console(stderr=True)
        slow_bf16 = bf16_warning(cpu_flags()) if cpu_bf16 and _trains_on_cpu(device) else None
        if slow_bf16:
            err.print(f"[yellow]warning[/] {escape(slow_bf16)}")
        state = {"loss": None, "cer": None, "t0": time.monotonic()}
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=err,
            disable=fmt is OutputFormat.json,
        ) as bar:
            task = bar.add_task("load", total=None, info="")

            def on_event(e: TrainEvent) -> None:
                if e.kind == "load":
                    bar.update(task, description=f"load {e.message}", completed=e.done, total=e.total)
                elif e.kind == "start":
                    bar.console.print(f"training {e.total} images from step {e.step}: {e.message}")
                    bar.update(task, description="train", completed=e.step, total=e.total_steps, info="")
                elif e.kind == "step":
                    ema = state["loss"]
                    state["loss"] = e.loss if ema is None else 0.95 * ema + 0.05 * e.loss
                    cer = "-" if state["cer"] is None else f"{state['cer']:.3f}"
                    info = f"epoch {e.epoch} loss {state['loss']:.3f} val CER {cer} lr {e.lr:.2e}"
                    bar.update(task, completed=e.step, total=e.total_steps, info=info)
                    if not err.is_terminal and e.step % 25 == 0:  # a log file gets plain lines instead
                        minutes = (time.monotonic() - state["t0"]) / 60
                        bar.console.print(f"step {e.step}/{e.total_steps} {info} ({minutes:.1f} min)")
                elif e.kind == "val_start":
                    bar.update(task, description="validate")
                elif e.kind == "val":
                    state["cer"] = e.cer
                    bar.update(task, description="train")
                    bar.console.print(
                        f"step {e.step}: val CER {e.cer:.4f}, char accuracy {e.char_accuracy:.4f}"
                        + (f", train loss {state['loss']:.3f}" if state["loss"] is not None else "")
                    )

            try:
                result = train(config, on_event)
            except KeyboardInterrupt:
                raise TrainingInterrupted(
                    f"interrupted; the training state is in {out / 'last.pt'}",
                    hint=f"continue with: ocrkit train {data} --out {out} --resume {out / 'last.pt'}",
                ) from None

        log = {
            "out": str(result.out),
            "stopped": result.stopped,
            "steps": result.steps,
            "epochs": round(result.epochs_done, 3),
            "elapsed_s": round(result.elapsed_s, 1),
            "parameters": result.parameters,
            "model": result.config.to_dict() if result.config else None,
            "best_val_cer": result.best_cer,
            "best": str(result.best_path) if result.best_path else None,
            "last": str(result.last_path),
            "fp16": str(result.fp16_path) if result.fp16_path else None,
            "history": result.history,
            "train_config": config.to_json(),
        }
        (Path(out) / "train-log.json").write_text(
            json.dumps(log, ensure_ascii=False, indent=2), encoding="utf-8"
        )
        if fmt is OutputFormat.json:
            typer.echo(json.dumps(log, ensure_ascii=False, indent=2))
            return
        table = Table(title=f"ocrkit train -> {escape(str(result.out))}", title_justify="left")
        table.add_column("item")
        table.add_column("value", overflow="fold")
        for key in (
            "stopped",
            "steps",
            "epochs",
            "elapsed_s",
            "parameters",
            "best_val_cer",
            "best",
            "last",
            "fp16",
        ):
            value = log[key]
            if value is not None:
                table.add_row(key, escape(str(value)))
        _console().print(table)
