"""`ocrkit predict / eval / bench`: run the OCR model on this machine.

torch is imported inside the commands, never at module import, so that `ocrkit --help` and
`ocrkit cost` work on the base install; without torch these commands say how to get it.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from enum import StrEnum
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from ocrkit.commands.choices import complete_device
from ocrkit.commands.output import OutputFormat
from ocrkit.commands.output import flow as _flow
from ocrkit.commands.output import stderr as _stderr
from ocrkit.commands.output import stdout as _stdout
from ocrkit.engine import Engine
from ocrkit.errors import OcrkitError
from ocrkit.weights import (
    WEIGHTS_ENV,
    configured_weights,
    default_weights_path,
    is_demo_weights,
    resolve_weights,
)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


class Quantize(StrEnum):
    none = "none"
    int8 = "int8"


class BenchEngine(StrEnum):
    torch = "torch"
    onnx = "onnx"
    both = "both"


ENGINE_ENV = "OCRKIT_ENGINE"
_ENGINE_HELP = (
    "torch: the PyTorch model (the model extra); onnx: the exported graphs on ONNX Runtime, no torch "
    "(the onnx extra); --weights may then be an export directory, or a .pt exported once into "
    "$OCRKIT_CACHE_DIR/onnx (default ~/.cache/ocrkit/onnx)."
)


_WEIGHTS_HELP = (
    "Model checkpoint (.pt), or with --engine onnx an export directory (ocrkit export). "
    f"Default: ${WEIGHTS_ENV}, else the demo checkpoint shipped with ocrkit "
    "(resnet18, trained on synthetic words). The report's model.pt (ResNet50 + Transformer, trained on "
    "the Kaggle Cyrillic handwriting dataset) loads as is."
)
_FORMAT_HELP = "Output as a rich table or as JSON on stdout."
_DEVICE_HELP = "auto (CUDA when available, else CPU), cpu, cuda or cuda:N."

_PREDICT_HELP = """\
Read the text in handwritten Cyrillic images.

Prints one row per image: the file, the recognised text and a confidence (the mean probability
of the decoded tokens). An image that cannot be read is reported on its own line and the
command exits with status 2 after printing the others.

Example: ocrkit predict test/test8.png test/test212.png --weights model.pt
"""

_EVAL_HELP = """\
Measure accuracy on a labelled folder, with the report's metrics and the standard ones.

char_accuracy and word_accuracy are computed as the report's test did (ё->е, lower case, ASCII
punctuation removed; per-image edit distance over the longer string; word = exact match); the
report got 0.899 and 0.538 on the Kaggle test split. cer and wer are the standard corpus rates on
the texts as written (total edits / total reference characters or words).

Example: ocrkit eval --images test/ --labels test.tsv --weights model.pt --limit 200
"""

_BENCH_HELP = """\
Time the report's decoder against the fast one, on this machine, in one run.

Reports per-image latency (p50/p95, batch 1) of the reference decoder (the report's loop: the
whole network again for every output token) and of the fast decoder (backbone + encoder once,
then a cached token loop), the backbone + encoder floor, the fast decoder's throughput at batch
1, 8 and 32, the mean decoded tokens, and whether both decoders produced identical tokens.

Example: ocrkit bench --format json
"""


def _require_torch(command: str) -> None:
    if importlib.util.find_spec("torch") is None:
        raise OcrkitError(
            f"`ocrkit {command}` runs the model and needs torch, which is not installed",
            hint="pip install 'ocrkit[model]'",
        )


def _note_demo_weights(weights: Path | None) -> None:
    """One stderr line when no weights were given and the shipped demo checkpoint answers."""
    if configured_weights(weights) is None and default_weights_path() is not None:
        _stderr().print(
            "[dim]using ocrkit's demo checkpoint (a small model trained on synthetic words); "
            f"pass --weights or set ${WEIGHTS_ENV} for your own[/]",
            soft_wrap=True,
        )


def _echo_json(data: object) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2))


def _quiet_opencv() -> None:
    """OpenCV logs its own decoder errors to stderr; the commands report unreadable images themselves."""
    try:
        import cv2

        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    except (ImportError, AttributeError):
        pass


def _load_predictor(
    weights: Path | None, *, batch_size: int, quantize: Quantize, device: str, engine: Engine = Engine.torch
):
    from ocrkit.engine import load_predictor

    if engine is Engine.onnx:
        if quantize is not Quantize.none:
            raise OcrkitError("--quantize int8 is a torch-engine option; the ONNX engine runs float32")
        err = _stderr()
        return load_predictor(
            engine,
            weights,
            device=None if device == "auto" else device,
            batch_size=batch_size,
            on_export=lambda message: err.print(f"[dim]{escape(message)}[/]", soft_wrap=True),
        )
    return load_predictor(engine, weights, device=device, quantize=quantize.value, batch_size=batch_size)


def _require_engine(engine: Engine, command: str) -> None:
    """The torch engine needs torch; the ONNX engine needs onnxruntime (checked before any work)."""
    if engine is Engine.torch:
        _require_torch(command)
        _quiet_opencv()
    else:
        from ocrkit.engine.onnx_runtime import require_onnxruntime

        require_onnxruntime()


def _image_check(engine: Engine):
    """The decoder the engine will use, to report unreadable files before loading the model."""
    from ocrkit.engine.preprocess import OPENCV, PILLOW, backend

    return backend(OPENCV.name if engine is Engine.torch else PILLOW.name).decode


def register(app: typer.Typer) -> None:
    @app.command("predict", help=_flow(_PREDICT_HELP))
    def predict_cmd(
        images: list[str] = typer.Argument(
            ...,
            metavar="IMAGE...",
            help="Image files (PNG, JPEG, ...), each a crop of one handwritten line or word; a folder "
            "(the images in it, found by content, sorted); or - to read one image from stdin.",
            show_default=False,
        ),
        weights: Path | None = typer.Option(None, "--weights", help=_WEIGHTS_HELP, show_default=False),
        batch_size: int = typer.Option(32, "--batch-size", min=1, help="Images decoded together."),
        quantize: Quantize = typer.Option(
            Quantize.none,
            "--quantize",
            help="int8: dynamically quantised decoder (CPU; faster, near-identical).",
        ),
        device: str = typer.Option("auto", "--device", help=_DEVICE_HELP, autocompletion=complete_device),
        fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", help=_FORMAT_HELP),
        char_probs: bool = typer.Option(
            False, "--char-probs", help="Also show the probability of every recognised character."
        ),
        engine: Engine = typer.Option(Engine.torch, "--engine", envvar=ENGINE_ENV, help=_ENGINE_HELP),
    ) -> None:
        _require_engine(engine, "predict")
        from ocrkit.image_inputs import expand_inputs
        from ocrkit.prediction import ImageDecodeError

        decode_image = _image_check(engine)
        inputs = expand_inputs(images, sys.stdin.buffer)
        names = [item.name for item in inputs]

        errors: dict[int, str] = {}
        readable: list[tuple[int, bytes]] = []
        for i, item in enumerate(inputs):
            if item.data is None:
                errors[i] = item.error or "cannot read file"
                continue
            try:
                decode_image(item.data)
            except ImageDecodeError as exc:
                errors[i] = exc.message
            else:
                readable.append((i, item.data))

        predictions = {}
        if readable:
            _note_demo_weights(weights)
            predictor = _load_predictor(
                weights, batch_size=batch_size, quantize=quantize, device=device, engine=engine
            )
            outputs = predictor.predict_images([data for _, data in readable])
            predictions = {i: p for (i, _), p in zip(readable, outputs, strict=True)}

        if fmt is OutputFormat.json:
            rows = []
            for i, name in enumerate(names):
                if i in errors:
                    rows.append({"file": name, "error": errors[i]})
                else:
                    rows.append({"file": name, **predictions[i].to_json(with_char_probs=char_probs)})
            _echo_json(rows)
        elif predictions:
            table = Table(title="ocrkit predict", title_justify="left")
            table.add_column("file", overflow="fold")
            table.add_column("text", overflow="fold")
            table.add_column("confidence", justify="right")
            if char_probs:
                table.add_column("character probabilities", overflow="fold")
            for i, name in enumerate(names):
                if i not in predictions:
                    continue
                p = predictions[i]
                row = [escape(name), escape(p.text), f"{p.confidence:.3f}"]
                if char_probs:
                    probs = p.char_probs or []
                    row.append(
                        escape(" ".join(f"{ch}:{q:.2f}" for ch, q in zip(p.text, probs, strict=False)))
                    )
                table.add_row(*row)
            _stdout().print(table)

        if errors:
            err = _stderr()
            for i, message in errors.items():
                err.print(f"[bold red]error:[/] {escape(f'{names[i]}: {message}')}", soft_wrap=True)
            raise OcrkitError(f"{len(errors)} of {len(names)} image(s) could not be read")

    @app.command("eval", help=_flow(_EVAL_HELP))
    def eval_cmd(
        images: Path = typer.Option(
            ...,
            "--images",
            help="Folder of the labelled images (the Kaggle dataset's test/).",
            show_default=False,
        ),
        labels: Path = typer.Option(
            ...,
            "--labels",
            help="TSV of 'filename<TAB>label' lines (the Kaggle dataset's test.tsv); "
            "a header line is allowed.",
            show_default=False,
        ),
        weights: Path | None = typer.Option(None, "--weights", help=_WEIGHTS_HELP, show_default=False),
        batch_size: int = typer.Option(32, "--batch-size", min=1, help="Images decoded together."),
        limit: int | None = typer.Option(
            None, "--limit", min=1, help="Evaluate only the first N labelled images.", show_default=False
        ),
        quantize: Quantize = typer.Option(
            Quantize.none,
            "--quantize",
            help="int8: dynamically quantised decoder (CPU; faster, near-identical).",
        ),
        device: str = typer.Option("auto", "--device", help=_DEVICE_HELP, autocompletion=complete_device),
        fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", help=_FORMAT_HELP),
        engine: Engine = typer.Option(Engine.torch, "--engine", envvar=ENGINE_ENV, help=_ENGINE_HELP),
    ) -> None:
        _require_engine(engine, "eval")
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        from ocrkit.core_model.evaluate import evaluate, read_labels

        items = read_labels(labels, images)
        predictor = _load_predictor(
            weights, batch_size=batch_size, quantize=quantize, device=device, engine=engine
        )
        with Progress(
            TextColumn("evaluating"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=_stderr(),
            transient=False,
        ) as bar:
            task = bar.add_task("eval", total=min(len(items), limit or len(items)))
            result = evaluate(
                predictor,
                items,
                batch_size=batch_size,
                limit=limit,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
                images_dir=images,
                labels_path=labels,
            )

        if fmt is OutputFormat.json:
            _echo_json(result.to_json())
            return
        m = result.metrics
        table = Table(title=escape(f"ocrkit eval: {m.count} images from {labels}"), title_justify="left")
        table.add_column("metric")
        table.add_column("value", justify="right")
        table.add_column("definition")
        table.add_row("char_accuracy", f"{m.char_accuracy:.4f}", "report's: 1 - mean(edits / longer length)")
        table.add_row("word_accuracy", f"{m.word_accuracy:.4f}", "report's: exact match after normalising")
        table.add_row("cer", f"{m.cer:.4f}", f"{m.char_edits} edits / {m.ref_chars} reference characters")
        table.add_row("wer", f"{m.wer:.4f}", f"{m.word_edits} edits / {m.ref_words} reference words")
        table.add_row("count", str(m.count), "images evaluated")
        if result.unreadable:
            table.add_row(
                "unreadable", str(result.unreadable), "images that could not be decoded (scored as '')"
            )
        _stdout().print(table)

    @app.command("bench", help=_flow(_BENCH_HELP))
    def bench_cmd(
        weights: Path | None = typer.Option(
            None,
            "--weights",
            help=f"Model checkpoint (.pt). Default: ${WEIGHTS_ENV}, else the shipped demo checkpoint.",
            show_default=False,
        ),
        random_init: bool = typer.Option(
            False,
            "--random-init",
            help="Time a seeded random-init model of the report's architecture (resnet50, hidden 512) "
            "instead of weights: its speed without its 176 MB checkpoint. Random weights never emit EOS, "
            "so decoding is capped at 10 tokens unless --max-len says otherwise.",
        ),
        images_dir: Path | None = typer.Option(
            None,
            "--images",
            help="Folder of images to time (the first --limit in name order). Default: 32 rendered Russian "
            "words built into ocrkit.",
            show_default=False,
        ),
        limit: int = typer.Option(32, "--limit", min=1, help="At most this many images from --images."),
        quantize: Quantize = typer.Option(
            Quantize.none,
            "--quantize",
            help="int8: also time the int8 fast decoder, with its speedup and character agreement with fp32.",
        ),
        runs: int = typer.Option(3, "--runs", min=1, help="Timed passes over the images (after warm-up)."),
        reference_images: int = typer.Option(
            8,
            "--reference-images",
            min=1,
            help="Images timed with the report's slow decoder "
            "(once each; it reruns the whole network per token).",
        ),
        max_len: int | None = typer.Option(
            None,
            "--max-len",
            min=1,
            help="Token limit per image. Default: 100 (the report's); 10 with --random-init, since random "
            "weights never emit EOS and a crop's text is ~9 characters.",
            show_default=False,
        ),
        threads: int | None = typer.Option(
            None,
            "--threads",
            min=1,
            help="torch CPU threads (default: torch's own choice).",
            show_default=False,
        ),
        device: str = typer.Option(
            "auto",
            "--device",
            help="auto (CUDA when present), cpu, cuda or cuda:N (int8 is CPU only).",
            autocompletion=complete_device,
        ),
        fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", help=_FORMAT_HELP),
        engine: BenchEngine = typer.Option(
            BenchEngine.torch,
            "--engine",
            help="torch: the report's decoder against the fast one (torch). onnx: the ONNX engine. both: "
            "the torch and ONNX fast decoders side by side in one run, with cold start and peak memory.",
        ),
        cold_start: bool | None = typer.Option(
            None,
            "--cold-start/--no-cold-start",
            help="Also time a fresh process from start to its first answer for one image, and its peak "
            "memory (RSS). Default: on with --engine onnx or both, and whenever --save-profile is given.",
            show_default=False,
        ),
        cold_runs: int = typer.Option(3, "--cold-runs", min=1, help="Fresh processes started per engine."),
        save_profile: Path | None = typer.Option(
            None,
            "--save-profile",
            help="Write what was measured as a speed profile (YAML for .yaml/.yml, else JSON) for the "
            "serving-cost comparison: one per engine; with --engine both, to <stem>-torch<ext> and "
            "<stem>-onnx<ext> beside PATH.",
            show_default=False,
        ),
    ) -> None:
        if save_profile is not None and not save_profile.parent.is_dir():
            raise OcrkitError(f"--save-profile: folder {save_profile.parent} does not exist")
        measure_cold = (
            cold_start if cold_start is not None else (engine is not BenchEngine.torch or bool(save_profile))
        )
        if engine is not BenchEngine.torch:
            from ocrkit.commands.bench_engines import bench_engines

            bench_engines(
                engines=["torch", "onnx"] if engine is BenchEngine.both else ["onnx"],
                weights=weights,
                random_init=random_init,
                images_dir=images_dir,
                limit=limit,
                runs=runs,
                max_len=max_len,
                threads=threads,
                device=device,
                quantize=quantize.value,
                cold_start=measure_cold,
                cold_runs=cold_runs,
                save_profile=save_profile,
                as_json=fmt is OutputFormat.json,
            )
            return
        _require_torch("bench")
        _quiet_opencv()
        import torch

        from ocrkit.core_model.bench import RANDOM_INIT_LABEL, TYPICAL_MAX_LEN, random_init_model, run_bench
        from ocrkit.core_model.network import MAX_DECODE_LEN
        from ocrkit.core_model.predictor import resolve_device

        if threads:
            torch.set_num_threads(threads)
        dev = resolve_device(device)
        if quantize is Quantize.int8 and dev.type != "cpu":
            raise OcrkitError("--quantize int8 is a CPU path; bench it with --device cpu")

        # Input checks before the (slow) model load, so a bad --images fails at once.
        if images_dir is not None:
            from ocrkit.core_model.preprocess import decode_image

            data, source = bench_images(images_dir, limit, decode_image)
        else:
            from ocrkit.core_model.samples import sample_images

            data = [s.png for s in sample_images()]
            source = f"{len(data)} rendered samples (ocrkit.core_model.samples)"

        note = None
        if random_init:
            if weights is not None:
                raise OcrkitError("give --weights or --random-init, not both")
            model = random_init_model()
            weights_label = RANDOM_INIT_LABEL
            weights_path = None
            cap = max_len or TYPICAL_MAX_LEN
            if max_len is None:
                note = (
                    f"random weights never emit EOS: both decoders are capped at {cap} tokens, a typical "
                    "crop's text + EOS (use --max-len 100 for the report's limit)"
                )
        else:
            from ocrkit.core_model.checkpoint import load_checkpoint

            path = resolve_weights(weights)
            model = load_checkpoint(path).model
            weights_label = f"{path} (demo checkpoint)" if is_demo_weights(path) else str(path)
            weights_path = path
            cap = max_len or MAX_DECODE_LEN

        err = _stderr()
        with err.status("benchmarking") as status:
            result = run_bench(
                model,
                data,
                weights=weights_label,
                image_source=source,
                runs=runs,
                reference_images=reference_images,
                max_len=cap,
                quantize=quantize.value,
                device=dev,
                note=note,
                progress=lambda stage: (
                    status.update(f"timing {stage}"),
                    err.print(f"[dim]timing {escape(stage)}[/]"),
                ),
            )

        cold = None
        if measure_cold:
            from ocrkit.commands.bench_engines import torch_cold_start

            cold = torch_cold_start(model, weights_path, data[0], threads, cap, cold_runs)
        if save_profile is not None:
            from ocrkit.commands.bench_engines import save_torch_profile

            save_torch_profile(result, model, weights_label, weights_path, cold, save_profile)
        if fmt is OutputFormat.json:
            out = result.to_json()
            if cold is not None:
                out["cold_start_s"] = round(cold.seconds, 3)
                out["peak_rss_mb"] = round(cold.peak_rss_mb, 1)
            _echo_json(out)
            return
        _print_bench(result)
        if cold is not None:
            _stdout().print(
                f"cold start (fresh process to first answer, median of {cold.runs}): {cold.seconds:.2f} s; "
                f"peak RSS {cold.peak_rss_mb:.0f} MB"
            )


def bench_images(folder: Path, limit: int, decode_image) -> tuple[list[bytes], str]:
    if not folder.is_dir():
        raise OcrkitError(f"image folder {folder} not found")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)[:limit]
    if not files:
        raise OcrkitError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
    from ocrkit.prediction import ImageDecodeError

    data = []
    for path in files:
        blob = path.read_bytes()
        try:
            decode_image(blob)
        except ImageDecodeError as exc:
            raise OcrkitError(f"{path}: {exc.message}") from None
        data.append(blob)
    return data, f"{len(data)} images from {folder}"


def _print_bench(result) -> None:
    out = _stdout()
    load = "" if result.load_avg_1m is None else f", load average {result.load_avg_1m:.2f} at start"
    out.print(f"device: {result.device}, torch {result.torch_version}, {result.threads} threads{load}")
    out.print(f"weights: {escape(result.weights)}")
    source = escape(result.image_source)
    out.print(f"images: {source}; max {result.max_len} tokens per image; {result.runs} timed runs")
    if result.note:
        out.print(f"[yellow]note:[/] {escape(result.note)}")

    table = Table(title="per-image latency, batch 1 (ms)", title_justify="left")
    table.add_column("decoder")
    table.add_column("p50", justify="right")
    table.add_column("p95", justify="right")
    table.add_column("timed on")
    table.add_row(
        "reference (report's loop)",
        f"{result.reference.p50_ms:.1f}",
        f"{result.reference.p95_ms:.1f}",
        f"first {result.reference_images} images, once each (slow)",
    )
    table.add_row(
        "fast (cached, batched)",
        f"{result.fast.p50_ms:.1f}",
        f"{result.fast.p95_ms:.1f}",
        f"{result.images} images x {result.runs} runs",
    )
    table.add_row(
        "backbone + encoder (floor)",
        f"{result.encoder.p50_ms:.1f}",
        f"{result.encoder.p95_ms:.1f}",
        f"{result.images} images x {result.runs} runs",
    )
    if result.int8 is not None:
        table.add_row(
            "fast, int8",
            f"{result.int8.fast.p50_ms:.1f}",
            f"{result.int8.fast.p95_ms:.1f}",
            f"{result.int8.images} images x {result.runs} runs",
        )
    out.print(table)

    tp = Table(title="throughput (images/s)", title_justify="left")
    tp.add_column("batch", justify="right")
    tp.add_column("fast fp32", justify="right")
    if result.int8 is not None:
        tp.add_column("fast int8", justify="right")
    for b, v in result.throughput.items():
        row = [str(b), f"{v:.1f}"]
        if result.int8 is not None:
            row.append(f"{result.int8.throughput.get(b, float('nan')):.1f}")
        tp.add_row(*row)
    out.print(tp)

    out.print(
        f"speedup (reference p50 / fast p50): [bold]{result.speedup:.1f}x[/]; "
        f"fast p50 / encoder p50: {result.fast.p50_ms / result.encoder.p50_ms:.2f}; "
        f"mean tokens: {result.mean_tokens:.1f}; "
        f"identical tokens on the {result.reference_images} reference images: "
        + ("yes" if result.identical else "NO")
    )
    if result.int8 is not None:
        q = result.int8
        out.print(
            f"int8: {q.speedup:.1f}x the reference, {q.speedup_vs_fp32_fast:.2f}x the fp32 fast decoder; "
            f"character agreement with fp32 {q.char_agreement:.4f} "
            f"({q.identical_texts}/{q.images} identical texts)"
        )
