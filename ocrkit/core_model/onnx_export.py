"""Export the network as two ONNX graphs that together reproduce the fast decoder.

* ``encoder.onnx``: images [B, 3, 64, 256] -> for every decoder layer i, the cross-attention of
  that layer folded with the image's memory, exactly as ``FastDecoder`` folds it:
  ``cross_a_i`` [B, hidden, H*S] (keys pre-multiplied by the query projection and the 1/sqrt(d) scale),
  ``cross_c_i`` [B, 1, H*S] (the query bias' share, plus -inf where the source is padding) and
  ``cross_u_i`` [B, H*S, hidden] (values pre-multiplied by the output projection, its bias spread
  over the heads). Run once per image: backbone, encoder, and the per-image keys/values.
* ``decoder_step.onnx``: ``tokens`` [B, M] at ``positions`` [M] with an additive ``attn_mask``
  [B, 1, M, T+M], the self-attention cache ``past_k_i`` / ``past_v_i`` [B, H, T, d] and the
  cross-attention tensors above -> ``logits`` [B, M, V] and ``present_k_i`` / ``present_v_i``
  [B, H, T+M, d]: the cache grows by the M new positions (M = 1, or 1 + a lookahead draft).

Batch, source, past and new-position axes are dynamic. The graphs are written with the TorchScript
exporter (``dynamo=False``: explicit control over the cache inputs, no ``onnxscript`` needed), checked
with the ONNX checker, and land in ``out`` only complete: everything is written to a temporary
directory beside it, which is renamed at the end.
"""

from __future__ import annotations

import hashlib
import math
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor, nn

from ocrkit.core_model.checkpoint import load_checkpoint
from ocrkit.core_model.network import IMAGE_HEIGHT, IMAGE_WIDTH, MAX_DECODE_LEN, TransformerModel
from ocrkit.engine.manifest import (
    DECODER_FILE,
    ENCODER_FILE,
    ExportManifest,
    file_sha256,
    manifest_for,
    write_manifest,
)
from ocrkit.errors import OcrkitError

#: ONNX opset: 17 has LayerNormalization, which ONNX Runtime runs as one fused kernel.
OPSET = 17

#: progress(message): one line per stage, for the CLI.
Progress = Callable[[str], None]


class _EncoderGraph(nn.Module):
    """Backbone + encoder + the folded cross-attention of every decoder layer (see ``FastDecoder``)."""

    def __init__(self, model: TransformerModel) -> None:
        super().__init__()
        self.model = model
        tr = model.transformer
        self.hidden, self.nhead = tr.d_model, tr.nhead
        self.head_dim = self.hidden // self.nhead

    def forward(self, images: Tensor) -> tuple[Tensor, ...]:
        h, nh, hd = self.hidden, self.nhead, self.head_dim
        memory, src_pad = self.model.encode(images)  # [S, B, h], [B, S]
        src_len, n = memory.shape[0], memory.shape[1]
        scale = 1.0 / math.sqrt(hd)
        pad = torch.zeros_like(src_pad, dtype=memory.dtype).masked_fill(src_pad, float("-inf"))
        pad = pad.unsqueeze(1).expand(n, nh, src_len).reshape(n, 1, nh * src_len)
        outs: list[Tensor] = []
        for layer in self.model.transformer.decoder.layers:
            ca = layer.multihead_attn
            kv = torch.nn.functional.linear(memory, ca.in_proj_weight[h:], ca.in_proj_bias[h:])
            k = kv[..., :h].reshape(src_len, n, nh, hd).permute(1, 2, 0, 3)  # [B, H, S, hd]
            v = kv[..., h:].reshape(src_len, n, nh, hd).permute(1, 2, 0, 3)
            wq = ca.in_proj_weight[:h].reshape(nh, hd, h)
            bq = ca.in_proj_bias[:h].reshape(nh, hd, 1)
            a = torch.matmul(k, wq)  # [B, H, S, h]
            a = a.permute(0, 3, 1, 2).reshape(n, h, nh * src_len) * scale
            c = torch.matmul(k, bq).reshape(n, 1, nh * src_len) * scale + pad
            wo = ca.out_proj.weight.reshape(h, nh, hd).permute(1, 2, 0)  # [H, hd, h]
            u = torch.matmul(v, wo).reshape(n, nh * src_len, h) + ca.out_proj.bias / nh
            outs += [a, c, u]
        return tuple(outs)


class _DecoderStepGraph(nn.Module):
    """One pass of the post-norm decoder over M new positions, with the self-attention cache."""

    def __init__(self, model: TransformerModel, max_len: int) -> None:
        super().__init__()
        tr = model.transformer
        self.hidden, self.nhead = tr.d_model, tr.nhead
        self.head_dim = self.hidden // self.nhead
        self.layers = tr.decoder.layers
        self.final_norm = tr.decoder.norm
        self.embedding = model.decoder
        self.fc_out = model.fc_out
        pos = model.pos_decoder
        self.register_buffer("pos_table", (pos.scale * pos.pe[:max_len, 0, :]).detach().clone())
        for layer in self.layers:
            if getattr(layer, "norm_first", False):
                raise OcrkitError("the ONNX export implements the post-norm decoder layer (norm_first=False)")

    def forward(self, tokens: Tensor, positions: Tensor, attn_mask: Tensor, *state: Tensor):
        h, nh, hd = self.hidden, self.nhead, self.head_dim
        n_layers = len(self.layers)
        past = state[: 2 * n_layers]
        cross = state[2 * n_layers :]
        b, m = tokens.shape[0], tokens.shape[1]
        scale = 1.0 / math.sqrt(hd)
        x = self.embedding(tokens) + self.pos_table[positions]  # [b, m, h]
        presents: list[Tensor] = []
        for i, layer in enumerate(self.layers):
            sa = layer.self_attn
            qkv = torch.nn.functional.linear(x, sa.in_proj_weight, sa.in_proj_bias).reshape(b, m, 3, nh, hd)
            q = qkv[:, :, 0].transpose(1, 2)  # [b, H, m, hd]
            k = torch.cat([past[2 * i], qkv[:, :, 1].transpose(1, 2)], dim=2)  # [b, H, T+m, hd]
            v = torch.cat([past[2 * i + 1], qkv[:, :, 2].transpose(1, 2)], dim=2)
            presents += [k, v]
            scores = torch.matmul(q, k.transpose(2, 3)) * scale + attn_mask
            attn = torch.matmul(torch.softmax(scores, dim=-1), v)  # [b, H, m, hd]
            attn = attn.transpose(1, 2).reshape(b, m, h)
            x = layer.norm1(sa.out_proj(attn) + x)
            a, c, u = cross[3 * i], cross[3 * i + 1], cross[3 * i + 2]
            s = (torch.matmul(x, a) + c).reshape(b, m, nh, -1)
            p = torch.softmax(s, dim=-1).reshape(b, m, -1)
            x = layer.norm2(torch.matmul(p, u) + x)
            x = layer.norm3(layer.linear2(torch.relu(layer.linear1(x))) + x)
        if self.final_norm is not None:
            x = self.final_norm(x)
        return (self.fc_out(x), *presents)


def _names(n_layers: int) -> tuple[list[str], list[str], list[str]]:
    past = [f"past_{kv}_{i}" for i in range(n_layers) for kv in ("k", "v")]
    present = [f"present_{kv}_{i}" for i in range(n_layers) for kv in ("k", "v")]
    cross = [f"cross_{p}_{i}" for i in range(n_layers) for p in ("a", "c", "u")]
    return past, present, cross


def export_model(
    model: TransformerModel,
    out: Path,
    *,
    source_sha256: str,
    source_name: str,
    max_len: int = MAX_DECODE_LEN,
    progress: Progress | None = None,
    replace: bool = False,
) -> ExportManifest:
    """Write ``encoder.onnx``, ``decoder_step.onnx`` and ``ocrkit-onnx.json`` into ``out``.

    ``out`` must not exist (or, with ``replace``, it is an ocrkit export directory that is swapped out
    only after the new one is complete). Returns the manifest written.
    """
    import onnx  # noqa: PLC0415 - the export needs the onnx package; inference does not

    say = progress or (lambda _m: None)
    out = Path(out)
    if out.exists() and not replace:
        raise OcrkitError(f"{out} already exists: choose a new --out directory (nothing was written)")
    model = model.eval().cpu()
    cfg = model.config
    n_layers = cfg.dec_layers
    past, present, cross = _names(n_layers)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)  # mkdtemp makes it private; the export is an ordinary directory
    try:
        images = torch.rand(2, 3, IMAGE_HEIGHT, IMAGE_WIDTH)
        say("exporting the backbone + encoder graph")
        encoder = _EncoderGraph(model).eval()
        with torch.no_grad():
            cross_example = encoder(images)
        _export(
            encoder,
            (images,),
            tmp / ENCODER_FILE,
            input_names=["images"],
            output_names=cross,
            dynamic_axes={"images": {0: "batch"}, **{name: {0: "batch"} for name in cross}},
        )
        say("exporting the decoder step graph")
        step = _DecoderStepGraph(model, max_len).eval()
        b, t, m = 2, 3, 2
        nh, hd = cfg.nhead, cfg.hidden // cfg.nhead
        example = (
            torch.randint(2, cfg.outtoken - 1, (b, m)),
            torch.arange(t, t + m),
            torch.zeros(b, 1, m, t + m),
            *[torch.randn(b, nh, t, hd) for _ in past],
            *cross_example,
        )
        axes = {
            "tokens": {0: "batch", 1: "new"},
            "positions": {0: "new"},
            "attn_mask": {0: "batch", 2: "new", 3: "total"},
            "logits": {0: "batch", 1: "new"},
            **{name: {0: "batch", 2: "past"} for name in past},
            **{name: {0: "batch", 2: "total"} for name in present},
            **{name: {0: "batch"} for name in cross},
        }
        _export(
            step,
            example,
            tmp / DECODER_FILE,
            input_names=["tokens", "positions", "attn_mask", *past, *cross],
            output_names=["logits", *present],
            dynamic_axes=axes,
        )
        say("checking the graphs with the ONNX checker")
        for name in (ENCODER_FILE, DECODER_FILE):
            onnx.checker.check_model(str(tmp / name), full_check=True)
        manifest = manifest_for(
            cfg.to_dict(),
            max_len=max_len,
            source_sha256=source_sha256,
            source_name=source_name,
            graphs={name: file_sha256(tmp / name) for name in (ENCODER_FILE, DECODER_FILE)},
        )
        write_manifest(manifest, tmp)
        if out.exists():  # replace: only an export directory, and only now that the new one is whole
            old = out.with_name(f".{out.name}.old-{source_sha256[:8]}")
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest


def _export(module: nn.Module, args: tuple, path: Path, **kwargs) -> None:
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer warnings on shape arithmetic say nothing actionable
        torch.onnx.export(
            module, args, str(path), opset_version=OPSET, dynamo=False, do_constant_folding=True, **kwargs
        )


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def export_checkpoint(
    weights: Path, out: Path, *, progress: Progress | None = None, replace: bool = False
) -> ExportManifest:
    """Load a checkpoint (strict, as everywhere) and export it; a bad checkpoint fails before writing."""
    weights = Path(weights)
    say = progress or (lambda _m: None)
    if Path(out).exists() and not replace:
        raise OcrkitError(f"{out} already exists: choose a new --out directory (nothing was written)")
    say(f"loading {weights}")
    model = load_checkpoint(weights).model
    return export_model(
        model, out, source_sha256=sha256_of(weights), source_name=weights.name, progress=say, replace=replace
    )
