"""``OnnxPredictor``: the exported graphs on ONNX Runtime -- image bytes in, ``Prediction``s out, no torch.

It batches like the torch fast decoder (``ocrkit.core_model.decoding.FastDecoder``), step for step:
``encoder.onnx`` runs once per batch and returns each decoder layer's cross-attention, folded with
the image's memory; then ``decoder_step.onnx`` runs once per token for the rows still going, taking
and returning the self-attention key/value cache; a row that emits EOS drops out of the batch; a lone
row verifies an n-gram lookahead draft in the same pass (``ocrkit.engine.greedy``). Same tokens, same
number of passes, same PAD masking as the torch engine.

Runs on the CPU execution provider by default (``device="cuda"`` uses ONNX Runtime's CUDA provider
when that build is installed). ``threads`` sets ONNX Runtime's intra-op threads (default: the CPU
count, at most 4); idle pool threads sleep rather than spin.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ocrkit.core_model.alphabet import EOS, PAD, SOS
from ocrkit.engine.greedy import DRAFT_MAX, DRAFT_MIN, Decoded, accept, draft, to_prediction
from ocrkit.engine.manifest import DECODER_FILE, ENCODER_FILE, ExportManifest, is_export_dir, read_manifest
from ocrkit.engine.preprocess import PILLOW, ImageBackend, backend, preprocess_batch
from ocrkit.errors import OcrkitError
from ocrkit.prediction import Prediction
from ocrkit.weights import resolve_weights

log = logging.getLogger("ocrkit.model")

ONNX_EXTRA_HINT = "pip install 'ocrkit[onnx]'"


def import_onnxruntime():
    """onnxruntime, or one line saying which extra installs it."""
    try:
        import onnxruntime  # noqa: PLC0415
    except ImportError:
        raise OcrkitError(
            "the ONNX engine needs onnxruntime, which is not installed", hint=ONNX_EXTRA_HINT
        ) from None
    return onnxruntime


def require_onnxruntime() -> None:
    """Fail with the extra's name when onnxruntime is missing, without importing it: a process that
    forks workers (gunicorn's arbiter) must not load ONNX Runtime before the fork -- a child that
    inherits its runtime state aborts on exit ("std::system_error: Invalid argument")."""
    if importlib.util.find_spec("onnxruntime") is None:
        raise OcrkitError("the ONNX engine needs onnxruntime, which is not installed", hint=ONNX_EXTRA_HINT)


def default_threads() -> int:
    return max(1, min(os.cpu_count() or 1, 4))


@dataclass
class OnnxEncoded:
    """The encoder graph's outputs for a batch: per decoder layer, cross_a, cross_c, cross_u."""

    cross: list[np.ndarray]

    @property
    def batch_size(self) -> int:
        return 0 if not self.cross else self.cross[0].shape[0]


class OnnxPredictor:
    """The exported model in ONNX Runtime sessions; thread-safe (sessions are, buffers are per call)."""

    def __init__(
        self,
        directory: str | Path,
        *,
        device: str | None = None,
        batch_size: int = 32,
        max_len: int | None = None,
        threads: int | None = None,
        lookahead: bool = True,
        image_backend: ImageBackend | None = None,
    ) -> None:
        ort = import_onnxruntime()
        self.directory = Path(directory)
        self.manifest: ExportManifest = read_manifest(self.directory)
        if batch_size < 1:
            raise OcrkitError("batch_size must be at least 1")
        self.max_len = self.manifest.max_len if max_len is None else max_len
        if not 1 <= self.max_len <= self.manifest.max_len:
            raise OcrkitError(f"max_len must be between 1 and {self.manifest.max_len} (the export's limit)")
        self.batch_size = batch_size
        self.lookahead = lookahead
        self.threads = threads or default_threads()
        self.image_backend = image_backend or backend(PILLOW.name)
        arch = self.manifest.architecture
        self.n_layers, self.nhead, self.head_dim = arch.dec_layers, arch.nhead, arch.head_dim
        self.providers = _providers(ort, device)

        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        # Idle intra-op threads sleep instead of spinning: on a CPU shared with other work (server
        # workers, other processes) spinning threads steal the cores the busy ones need -- measured
        # here at load ~6: a resnet50 decoder step took 18 ms spinning, 7.6 ms not.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.encoder = ort.InferenceSession(
                str(self.directory / ENCODER_FILE), options, providers=self.providers
            )
            self.step = ort.InferenceSession(
                str(self.directory / DECODER_FILE), options, providers=self.providers
            )
        except Exception as exc:  # ORT raises its own exception types for unreadable graphs
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            raise OcrkitError(f"{self.directory}: ONNX Runtime cannot load the graphs ({first})") from None
        self._past = [f"past_{kv}_{i}" for i in range(self.n_layers) for kv in ("k", "v")]
        self._cross = [f"cross_{p}_{i}" for i in range(self.n_layers) for p in ("a", "c", "u")]
        log.info(
            "ONNX model %s (%s) on %s, %d threads, batch size %d",
            self.directory,
            arch.describe(),
            self.providers[0],
            self.threads,
            batch_size,
        )

    @classmethod
    def from_weights(
        cls,
        weights: str | Path | None = None,
        *,
        device: str | None = None,
        batch_size: int = 32,
        max_len: int | None = None,
        threads: int | None = None,
        lookahead: bool = True,
        on_export: Callable[[str], None] | None = None,
        quantize: str = "none",
    ) -> OnnxPredictor:
        """An export directory, or a ``.pt`` (exported once into the cache, keyed by its sha256)."""
        if quantize not in ("none", None):
            raise OcrkitError("--quantize applies to the torch engine; the ONNX engine runs float32")
        require_onnxruntime()  # fail with the extra's name before any export work
        path = resolve_weights(weights)
        if path.is_dir() or is_export_dir(path):
            directory = path
        elif path.is_file():
            from ocrkit.engine.cache import cached_export  # noqa: PLC0415

            directory = cached_export(path, progress=on_export)
        else:
            raise OcrkitError(f"model weights not found: {path}")
        return cls(
            directory,
            device=device,
            batch_size=batch_size,
            max_len=max_len,
            threads=threads,
            lookahead=lookahead,
        )

    # -- stages --------------------------------------------------------------------------------

    def preprocess(self, images: Sequence[bytes]) -> np.ndarray:
        """Encoded images -> input array [B, 3, 64, 256] (raises ``ImageDecodeError``)."""
        return preprocess_batch(images, using=self.image_backend)

    def encode_images(self, batch: np.ndarray) -> OnnxEncoded:
        """Backbone + encoder (+ the folded cross-attention) for a preprocessed batch."""
        if batch.shape[0] == 0:
            return OnnxEncoded([])
        outs = self.encoder.run(None, {"images": np.ascontiguousarray(batch, dtype=np.float32)})
        return OnnxEncoded(list(outs))

    def decode(self, encoded: OnnxEncoded) -> list[Decoded]:
        """The greedy token loop: batched, each row stopping at its own EOS (see the module docstring)."""
        n, max_len = encoded.batch_size, self.max_len
        if n == 0:
            return []
        nh, hd = self.nhead, self.head_dim
        cross = list(encoded.cross)
        past = [np.zeros((n, nh, 0, hd), dtype=np.float32) for _ in self._past]
        key_mask: np.ndarray | None = None  # [b, max_len] additive: -inf where the input was PAD

        rows = list(range(n))
        seqs: list[list[int]] = [[SOS] for _ in range(n)]
        picked: list[tuple[list[int], np.ndarray, np.ndarray]] = []
        eos_seen = [False] * n
        passes = [0] * n
        tok = np.full((n, 1), SOS, dtype=np.int64)
        draft_len = DRAFT_MIN
        t = 0
        while t < max_len:
            drafted: list[int] = []
            if len(rows) == 1 and self.lookahead:
                drafted = draft(seqs[rows[0]], min(draft_len, max_len - t - 1))
            inp = np.array([[seqs[rows[0]][-1], *drafted]], dtype=np.int64) if drafted else tok
            b, m = inp.shape
            mask = np.zeros((b, 1, m, t + m), dtype=np.float32)
            if key_mask is not None:
                mask += key_mask[:, None, None, : t + m]
            if m > 1:  # causal inside the new positions
                mask[:, :, :, t:] += np.triu(np.full((m, m), -np.inf, dtype=np.float32), 1)
            feeds = {"tokens": inp, "positions": np.arange(t, t + m, dtype=np.int64), "attn_mask": mask}
            feeds.update(zip(self._past, past, strict=True))
            feeds.update(zip(self._cross, cross, strict=True))
            logits, *past = self.step.run(None, feeds)
            ids = logits.argmax(-1)
            id_rows = ids.tolist()

            if drafted:
                new, accepted = accept(drafted, id_rows[0])
                draft_len = min(2 * draft_len, DRAFT_MAX) if accepted == len(drafted) else DRAFT_MIN
                picked.append((rows, logits[:, : len(new)], ids[:, : len(new)]))
                id_rows = [new]
            else:
                picked.append((rows, logits, ids))

            for r, new in zip(rows, id_rows, strict=True):
                passes[r] += 1
                seqs[r].extend(new)
                eos_seen[r] = new[-1] == EOS
            if drafted and len(id_rows[0]) < m:  # the cache holds the rejected draft: cut it
                keep_len = t + len(id_rows[0])
                past = [np.ascontiguousarray(p[:, :, :keep_len]) for p in past]
            t += len(id_rows[0])
            if t >= max_len:
                break
            last = [new[-1] for new in id_rows]
            if PAD in last:  # the reference masks PAD inputs as keys (tgt_key_padding_mask)
                if key_mask is None:
                    key_mask = np.zeros((len(rows), max_len), dtype=np.float32)
                key_mask[[i for i, v in enumerate(last) if v == PAD], t] = -np.inf
            if EOS in last:
                keep = [i for i, v in enumerate(last) if v != EOS]
                if not keep:
                    break
                rows = [rows[i] for i in keep]
                past = [p[keep] for p in past]
                cross = [c[keep] for c in cross]
                if key_mask is not None:
                    key_mask = key_mask[keep]
                last = [last[i] for i in keep]
            tok = np.array(last, dtype=np.int64)[:, None]

        probs: list[list[float]] = [[] for _ in range(n)]
        for step_rows, lg, chosen in picked:
            lg = lg.astype(np.float32)
            e = np.exp(lg - lg.max(-1, keepdims=True))
            p = np.take_along_axis(e, chosen[..., None], -1)[..., 0] / e.sum(-1)
            for r, row in zip(step_rows, p.tolist(), strict=True):
                probs[r].extend(row)
        return [Decoded(seqs[i][1:], probs[i], eos_seen[i], passes[i]) for i in range(n)]

    def predict_arrays(self, batch: np.ndarray) -> list[Prediction]:
        """Preprocessed images [B, 3, 64, 256] -> predictions, in chunks of ``batch_size``."""
        out: list[Prediction] = []
        for start in range(0, batch.shape[0], self.batch_size):
            chunk = batch[start : start + self.batch_size]
            out.extend(to_prediction(d) for d in self.decode(self.encode_images(chunk)))
        return out

    def predict_images(self, images: list[bytes]) -> list[Prediction]:
        """Encoded images (PNG, JPEG, ...) -> one prediction each, in order."""
        if not images:
            return []
        return self.predict_arrays(self.preprocess(images))


def _providers(ort, device: str | None) -> list[str]:
    wanted = (device or "cpu").strip().lower()
    available = ort.get_available_providers()
    if wanted in ("cpu", "auto"):
        if wanted == "auto" and "CUDAExecutionProvider" in available:
            return ["CUDAExecutionProvider", "CPUExecutionProvider"]
        return ["CPUExecutionProvider"]
    if wanted.startswith("cuda"):
        if "CUDAExecutionProvider" not in available:
            raise OcrkitError(
                f"device {device!r}: this onnxruntime has no CUDA provider",
                hint="pip install onnxruntime-gpu, or use --device cpu",
            )
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    raise OcrkitError(f"unsupported device {device!r} for the ONNX engine: use cpu or cuda")
