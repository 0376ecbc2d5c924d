"""Training and fine-tuning of :class:`~ocrkit.core_model.network.TransformerModel`.

The report's recipe, made resumable and bounded:

* teacher forcing: the model sees ``SOS + label`` and is scored on ``label + EOS``;
  cross-entropy ignores PAD; AdamW; gradients clipped to norm 1;
* learning rate: linear warm-up, then cosine decay to ``min_lr_ratio * lr``. Progress along the
  cosine is the larger of ``step / total_steps`` and ``elapsed / time_limit``, so a run bounded by
  ``--time-limit`` still ends at the low learning rate instead of being cut off at the top;
* validation (greedy fast decoding, the serving decoder) every epoch and every ``val_every``
  steps; the best validation CER is kept as ``best.pt`` in the original checkpoint format;
* ``last.pt`` (written atomically every ``save_every`` steps, at each validation, at the end and on
  Ctrl-C) also holds the optimizer, the schedule position, the epoch, the batch within the epoch
  and the RNG state, so ``resume`` continues the same run where it stopped;
* the data is preloaded once (:mod:`ocrkit.core_model.dataset`): crops are small and this machine's
  cores are better spent on the network than on decoding PNGs every epoch.

No printing here: the caller passes an ``on_event`` callback (the CLI draws a rich progress bar).
"""

from __future__ import annotations

import itertools
import math
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ocrkit.core_model.alphabet import ALPHABET, PAD
from ocrkit.core_model.checkpoint import DERIVED_BUFFERS, load_checkpoint, read_checkpoint
from ocrkit.core_model.dataset import PreloadedSplit, load_split
from ocrkit.core_model.decoding import fast_decode
from ocrkit.core_model.metrics import compute_metrics
from ocrkit.core_model.network import BACKBONES, ModelConfig, TransformerModel, count_parameters
from ocrkit.errors import OcrkitError

BEST = "best.pt"
LAST = "last.pt"
FP16 = "best-fp16.pt"


@dataclass
class TrainConfig:
    data: Path
    out: Path
    train_split: str = "train"
    val_split: str = "test"
    #: start from these weights (the report's model.pt or any ocrkit checkpoint): fine-tuning
    weights: Path | None = None
    #: continue an interrupted run from its last.pt
    resume: Path | None = None
    backbone: str = "resnet18"
    hidden: int = 256
    enc_layers: int = 1
    dec_layers: int = 1
    nhead: int = 4
    dropout: float = 0.1
    epochs: int = 10
    batch_size: int = 32
    lr: float = 5e-4
    weight_decay: float = 0.01
    warmup_steps: int = 200
    min_lr_ratio: float = 0.02
    seed: int = 0
    device: str = "auto"
    max_steps: int | None = None
    time_limit: float | None = None
    val_every: int | None = None
    val_limit: int | None = 500
    val_batch_size: int = 64
    save_every: int = 200
    train_limit: int | None = None
    fp16_export: bool = False
    #: bf16 autocast on CPU: about 2x faster where the CPU has native bf16 (AVX512-BF16/AMX),
    #: slower where it is emulated, so it is opt-in; CUDA always autocasts
    cpu_bf16: bool = False
    threads: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self).items()}


@dataclass
class TrainEvent:
    """What the loop reports: ``kind`` is load, start, step, val, save or done."""

    kind: str
    step: int = 0
    total_steps: int = 0
    epoch: int = 0
    loss: float | None = None
    lr: float | None = None
    cer: float | None = None
    char_accuracy: float | None = None
    done: int = 0
    total: int = 0
    message: str = ""


@dataclass
class TrainResult:
    out: Path
    steps: int
    epochs_done: float
    best_cer: float | None
    best_path: Path | None
    last_path: Path
    fp16_path: Path | None
    elapsed_s: float
    stopped: str
    history: list[dict[str, Any]] = field(default_factory=list)
    parameters: int = 0
    config: ModelConfig | None = None


EventCallback = Callable[[TrainEvent], None]


def _noop(event: TrainEvent) -> None:
    return None


def _device(name: str) -> torch.device:
    from ocrkit.core_model.predictor import resolve_device

    return resolve_device(name)


def lr_factor(step: int, progress: float, warmup: int, min_ratio: float) -> float:
    """Warm-up (linear over ``warmup`` steps) times cosine decay over ``progress`` in [0, 1]."""
    warm = min(1.0, (step + 1) / warmup) if warmup > 0 else 1.0
    p = min(max(progress, 0.0), 1.0)
    return warm * (min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * p)))


def atomic_save(obj: dict[str, Any], path: Path) -> Path:
    """``torch.save`` to a temporary file beside ``path``, then rename over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def model_state(
    model: nn.Module, *, half: bool = False, omit: tuple[str, ...] = ()
) -> dict[str, torch.Tensor]:
    out = {}
    for k, v in model.state_dict().items():
        if k in omit:
            continue
        v = v.detach().cpu().contiguous()
        if half and v.is_floating_point():
            v = v.half()
        out[k] = v.clone()
    return out


def save_weights(model: TransformerModel, path: Path, *, half: bool = False, **extra: Any) -> Path:
    """The original checkpoint format ``{'model': state_dict, 'config': {...}, **extra}``, atomically.

    ``half``: the compact form to ship -- float16 tensors and without the position tables
    (:data:`~ocrkit.core_model.checkpoint.DERIVED_BUFFERS`, listed as ``omitted_buffers``); loading
    restores both (float32, tables rebuilt).
    """
    omit = DERIVED_BUFFERS if half else ()
    if omit:
        extra = {**extra, "omitted_buffers": list(omit)}
    return atomic_save(
        {"model": model_state(model, half=half, omit=omit), "config": model.config.to_dict(), **extra}, path
    )


@torch.inference_mode()
def validate(
    model: TransformerModel, split: PreloadedSplit, device: torch.device, batch_size: int = 64
) -> tuple[float, float, list[str]]:
    """(CER, the report's character accuracy, predictions) of greedy fast decoding on ``split``."""
    was_training = model.training
    model.eval()
    preds: list[str] = []
    for start in range(0, len(split), batch_size):
        idx = list(range(start, min(len(split), start + batch_size)))
        images = split.inputs(idx).to(device)
        preds.extend(d.text for d in fast_decode(model, images))
    model.train(was_training)
    m = compute_metrics(split.labels, preds)
    return m.cer, m.char_accuracy, preds


class Trainer:
    def __init__(self, config: TrainConfig, on_event: EventCallback | None = None) -> None:
        self.config = config
        self.emit = on_event or _noop
        self._check()

    def _check(self) -> None:
        c = self.config
        if c.backbone not in BACKBONES:
            raise OcrkitError(f"unknown backbone {c.backbone!r}", hint=f"choose from {', '.join(BACKBONES)}")
        for name, value in (("--epochs", c.epochs), ("--batch-size", c.batch_size)):
            if value < 1:
                raise OcrkitError(f"{name} must be at least 1, got {value}")
        if c.lr <= 0:
            raise OcrkitError(f"--lr must be positive, got {c.lr}")
        if c.max_steps is not None and c.max_steps < 1:
            raise OcrkitError(f"--max-steps must be at least 1, got {c.max_steps}")
        if c.time_limit is not None and c.time_limit <= 0:
            raise OcrkitError(f"--time-limit must be positive, got {c.time_limit}")
        if c.hidden % 2 or c.hidden % c.nhead:
            raise OcrkitError(f"--hidden {c.hidden} must be even and divisible by the {c.nhead} heads")
        if c.weights is not None and c.resume is not None:
            raise OcrkitError(
                "give --weights (start a new run from weights) or --resume (continue a run), not both"
            )

    # ----------------------------------------------------------------------------------------
    def _build(self) -> tuple[TransformerModel, dict[str, Any] | None]:
        c = self.config
        if c.resume is not None:
            state_dict_path = Path(c.resume)
            loaded = load_checkpoint(state_dict_path)
            _, meta = read_checkpoint(state_dict_path)
            if "optimizer" not in meta or "step" not in meta:
                raise OcrkitError(
                    f"{state_dict_path} is not a resumable training state (no optimizer/step)",
                    hint=f"resume from the {LAST} a run wrote; fine-tune from weights with --weights",
                )
            return loaded.model, meta
        if c.weights is not None:
            return load_checkpoint(c.weights).model, None
        torch.manual_seed(c.seed)
        model = TransformerModel(
            c.backbone,
            len(ALPHABET),
            hidden=c.hidden,
            enc_layers=c.enc_layers,
            dec_layers=c.dec_layers,
            nhead=c.nhead,
            dropout=c.dropout,
        )
        return model, None

    def run(self) -> TrainResult:
        c = self.config
        if c.threads:
            torch.set_num_threads(c.threads)
        device = _device(c.device)
        out = Path(c.out)
        with _output_folder(out):
            return self._run(out, device)

    def _run(self, out: Path, device: torch.device) -> TrainResult:
        c = self.config

        def load_progress(name: str) -> Callable[[int, int], None]:
            return lambda d, t: self.emit(TrainEvent("load", done=d, total=t, message=name))

        train = load_split(c.data, c.train_split, limit=c.train_limit, progress=load_progress(c.train_split))
        val = None
        if c.val_split:
            val = load_split(c.data, c.val_split, limit=c.val_limit, progress=load_progress(c.val_split))

        model, resumed = self._build()
        model.to(device).train()
        # On CPU, oneDNN's convolutions run 15-25 % faster on channels-last tensors (measured on
        # this project's 2-core machine, resnet18, batch 16-32); saved weights stay contiguous.
        memory_format = torch.channels_last if device.type == "cpu" else torch.contiguous_format
        model.to(memory_format=memory_format)
        optimizer = torch.optim.AdamW(model.parameters(), lr=c.lr, weight_decay=c.weight_decay)
        criterion = nn.CrossEntropyLoss(ignore_index=PAD)

        steps_per_epoch = math.ceil(len(train) / c.batch_size)
        total_steps = steps_per_epoch * c.epochs
        if c.max_steps is not None:
            total_steps = min(total_steps, c.max_steps)

        step, epoch, batch_in_epoch, elapsed_before = 0, 0, 0, 0.0
        best_cer: float | None = None
        history: list[dict[str, Any]] = []
        if resumed is not None:
            optimizer.load_state_dict(resumed["optimizer"])
            step = int(resumed["step"])
            epoch = int(resumed.get("epoch", 0))
            batch_in_epoch = int(resumed.get("batch_in_epoch", 0))
            elapsed_before = float(resumed.get("elapsed_s", 0.0))
            best_cer = resumed.get("best_cer")
            history = list(resumed.get("history", []))
            if "rng" in resumed:
                torch.set_rng_state(resumed["rng"])

        start = time.monotonic()

        def elapsed() -> float:
            return elapsed_before + time.monotonic() - start

        def set_lr() -> float:
            progress = step / max(1, total_steps)
            if c.time_limit:
                progress = max(progress, elapsed() / c.time_limit)
            lr = c.lr * lr_factor(step, progress, c.warmup_steps, c.min_lr_ratio)
            for group in optimizer.param_groups:
                group["lr"] = lr
            return lr

        def save_last(stopped: str = "") -> Path:
            return atomic_save(
                {
                    "model": model_state(model),
                    "config": model.config.to_dict(),
                    "optimizer": optimizer.state_dict(),
                    "step": step,
                    "epoch": epoch,
                    "batch_in_epoch": batch_in_epoch,
                    "total_steps": total_steps,
                    "elapsed_s": elapsed(),
                    "best_cer": best_cer,
                    "history": history,
                    "rng": torch.get_rng_state(),
                    "train_config": c.to_json(),
                    "stopped": stopped,
                },
                out / LAST,
            )

        def run_validation() -> None:
            nonlocal best_cer
            if val is None:
                return
            self.emit(TrainEvent("val_start", step=step, total_steps=total_steps, epoch=epoch))
            cer, acc, _ = validate(model, val, device, c.val_batch_size)
            history.append(
                {
                    "step": step,
                    "epoch": round(step / steps_per_epoch, 3),
                    "elapsed_s": round(elapsed(), 1),
                    "train_loss": round(recent_loss(), 4) if losses else None,
                    "val_cer": round(cer, 4),
                    "val_char_accuracy": round(acc, 4),
                }
            )
            if best_cer is None or cer < best_cer:
                best_cer = cer
                save_weights(
                    model,
                    out / BEST,
                    step=step,
                    epoch=round(step / steps_per_epoch, 3),
                    val_cer=float(cer),
                    val_char_accuracy=float(acc),
                    train_config=c.to_json(),
                )
            self.emit(
                TrainEvent("val", step=step, total_steps=total_steps, epoch=epoch, cer=cer, char_accuracy=acc)
            )

        losses: list[float] = []

        def recent_loss() -> float:
            tail = losses[-50:]
            return sum(tail) / len(tail)

        self.emit(
            TrainEvent(
                "start",
                step=step,
                total_steps=total_steps,
                epoch=epoch,
                total=len(train),
                message=(
                    f"{model.config.bb_name}, hidden {model.config.hidden}, {model.config.enc_layers}+"
                    f"{model.config.dec_layers} layers, {count_parameters(model):,} parameters on {device}"
                ),
            )
        )
        stopped = "done"
        autocast = device.type == "cuda" or (device.type == "cpu" and c.cpu_bf16)
        try:
            while step < total_steps:
                gen = torch.Generator().manual_seed(c.seed * 1_000_003 + epoch)
                order = torch.randperm(len(train), generator=gen).tolist()
                batches = [order[i : i + c.batch_size] for i in range(0, len(order), c.batch_size)]
                while batch_in_epoch < len(batches) and step < total_steps:
                    if c.time_limit is not None and elapsed() >= c.time_limit:
                        stopped = "time limit"
                        break
                    images, targets = train.batch(batches[batch_in_epoch])
                    images = images.to(device, memory_format=memory_format)
                    targets = targets.to(device)
                    lr = set_lr()
                    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
                        logits = model(images, targets[:-1])
                    loss = criterion(logits.float().reshape(-1, logits.shape[-1]), targets[1:].reshape(-1))
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                    optimizer.step()
                    step += 1
                    batch_in_epoch += 1
                    losses.append(loss.item())
                    self.emit(
                        TrainEvent(
                            "step", step=step, total_steps=total_steps, epoch=epoch, loss=losses[-1], lr=lr
                        )
                    )
                    if c.val_every and step % c.val_every == 0 and step < total_steps:
                        run_validation()
                        save_last()
                    elif c.save_every and step % c.save_every == 0:
                        save_last()
                if stopped != "done":
                    break
                if batch_in_epoch >= len(batches):
                    epoch += 1
                    batch_in_epoch = 0
                    if step < total_steps:
                        run_validation()
            run_validation()
        except KeyboardInterrupt:
            stopped = "interrupted"
            save_last(stopped)
            self.emit(TrainEvent("save", step=step, message=f"interrupted: state saved to {out / LAST}"))
            raise
        last = save_last(stopped)

        fp16_path = None
        best_path = out / BEST if (out / BEST).exists() else None
        if best_path is None:  # no validation split: the final weights are the result
            best_path = save_weights(model, out / BEST, step=step, train_config=c.to_json())
        if c.fp16_export:
            best = load_checkpoint(best_path)
            _, meta = read_checkpoint(best_path)
            fp16_path = save_weights(best.model, out / FP16, half=True, **meta_without_weights(meta))
        self.emit(TrainEvent("done", step=step, total_steps=total_steps, epoch=epoch, message=stopped))
        return TrainResult(
            out=out,
            steps=step,
            epochs_done=step / steps_per_epoch,
            best_cer=best_cer,
            best_path=best_path,
            last_path=last,
            fp16_path=fp16_path,
            elapsed_s=elapsed(),
            stopped=stopped,
            history=history,
            parameters=count_parameters(model),
            config=model.config,
        )


def meta_without_weights(meta: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v for k, v in meta.items() if k not in ("model", "config", "optimizer", "rng", "omitted_buffers")
    }


@contextmanager
def _output_folder(out: Path) -> Iterator[None]:
    """Create ``out``; when the run fails, remove the folders this call created that are still empty.

    Only empty folders this run made go (rmdir never deletes content): a failed run leaves no empty
    output folder behind, a run that saved last.pt before failing keeps it, and a folder that already
    existed is never touched.
    """
    created = list(itertools.takewhile(lambda p: not p.exists(), (out, *out.parents)))  # deepest first
    out.mkdir(parents=True, exist_ok=True)
    try:
        yield
    except BaseException:
        for folder in created:
            try:
                folder.rmdir()
            except OSError:
                break  # not empty (the run saved something) or gone: leave it and its parents
        raise


def train(config: TrainConfig, on_event: EventCallback | None = None) -> TrainResult:
    """Run (or resume) one training run; see :class:`TrainConfig`."""
    return Trainer(config, on_event).run()
