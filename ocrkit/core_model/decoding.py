"""Greedy decoding: the report's method (kept as the reference) and the fast batched decoder.

``reference_decode`` is the report's ``predict_fn`` loop: for every output token it reruns the
whole model -- ResNet, encoder and decoder over the full prefix -- one image at a time.

``FastDecoder`` produces the same tokens with far less work:

* the backbone and the encoder run once per batch of images;
* the decoder layers are evaluated by hand from the stock modules' own weights (post-norm
  ``nn.TransformerDecoderLayer`` math, dropout off), one new position per step, with each
  layer's self-attention keys/values cached;
* cross-attention is folded per image: the memory's keys and values are computed once and
  pre-multiplied by the query and output projections (``x Wq^T K^T = x (Wq^T K^T)`` and
  ``P V Wo^T = P (V Wo^T)``), so a step does two small matrix products instead of two
  hidden x hidden projections -- the same mathematics in a different association order;
* many images decode together, each stopping at its own EOS (finished rows drop out);
* when a single image is left, n-gram lookahead: if the last 3 (or 2) tokens occurred before,
  the tokens that followed them are guessed and the guess is checked in the same pass (each
  position still sees exactly its true prefix); the longest correct part is kept, plus the
  model's own next token. Output is unchanged -- only the number of passes drops when the
  decoder repeats itself, as random weights always do and trained ones do on noise.

On one CPU core a float32 pass reads all ~24 MiB of decoder weights from memory for a single
row, so it costs about the same for 1 row as for a few: batching and lookahead fill those rows.

In float32 the fast tokens equal the reference tokens; the probabilities agree to rounding.
``quantize="int8"`` swaps the decoder's large projections for dynamically quantised int8 ones
(faster on CPU, close but not guaranteed identical).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ocrkit.core_model.alphabet import EOS, PAD, SOS
from ocrkit.core_model.network import MAX_DECODE_LEN, TransformerModel
from ocrkit.engine.greedy import DRAFT_MAX as _DRAFT_MAX
from ocrkit.engine.greedy import DRAFT_MIN as _DRAFT_MIN
from ocrkit.engine.greedy import Decoded
from ocrkit.engine.greedy import draft as _draft

QUANTIZE_CHOICES = ("none", "int8")


# --------------------------------------------------------------------------------------------
# The report's method


@torch.inference_mode()
def reference_decode(model: TransformerModel, images: Tensor, max_len: int = MAX_DECODE_LEN) -> list[Decoded]:
    """The report's ``predict_fn``: per image, rerun ``model(src, prefix)`` for each new token.

    Slow on purpose (it is the yardstick the fast decoder is checked against).
    """
    model.eval()
    results = []
    for i in range(images.shape[0]):
        src = images[i : i + 1]
        out_indexes = [SOS]
        probs: list[float] = []
        eos = False
        for _ in range(max_len):
            trg_tensor = torch.tensor(out_indexes, dtype=torch.long, device=images.device).unsqueeze(1)
            output = model(src, trg_tensor)
            logits = output[-1, 0].float()
            out_token = int(logits.argmax())
            probs.append(float(torch.softmax(logits, 0)[out_token]))
            out_indexes.append(out_token)
            if out_token == EOS:
                eos = True
                break
        results.append(Decoded(out_indexes[1:], probs, eos, len(probs)))
    return results


# --------------------------------------------------------------------------------------------
# The fast decoder


@dataclass
class Encoded:
    """Backbone + encoder output for a batch: memory [S, B, hidden] and its padding mask [B, S]."""

    memory: Tensor
    src_pad_mask: Tensor

    @property
    def batch_size(self) -> int:
        return self.memory.shape[1]


class _Linear:
    """A fixed linear layer (optionally + relu) for the token loop.

    One row goes through ``F.linear`` (MKL's matrix-vector product). Several rows in float32 on
    CPU go through oneDNN with the weight reordered once into its blocked layout: 1.3-1.7x faster
    for 2-17 rows than ``F.linear``, where MKL repacks the weight on every call. int8 uses
    fbgemm's dynamic-quantised linear on prepacked per-channel int8 weights.
    """

    __slots__ = ("weight", "bias", "relu", "int8", "onednn")

    def __init__(
        self, weight: Tensor, bias: Tensor | None, *, int8: bool = False, relu: bool = False
    ) -> None:
        self.weight = weight
        self.bias = bias
        self.relu = relu
        self.int8 = _prepack_int8(weight, bias) if int8 else None
        self.onednn = None
        if not int8 and weight.device.type == "cpu" and weight.dtype == torch.float32 and _onednn_usable():
            self.onednn = torch.ops.mkldnn._reorder_linear_weight(weight.detach(), _ONEDNN_ROWS_HINT)

    def __call__(self, x: Tensor) -> Tensor:
        if self.int8 is not None:
            if self.relu:
                return torch.ops.quantized.linear_relu_dynamic(x, self.int8, True)
            return torch.ops.quantized.linear_dynamic(x, self.int8, True)
        if self.onednn is not None and x.dtype == torch.float32 and x.numel() > x.shape[-1]:
            return torch.ops.mkldnn._linear_pointwise(
                x, self.onednn, self.bias, "relu" if self.relu else "none", [], ""
            )
        y = F.linear(x, self.weight, self.bias)
        return y.relu_() if self.relu else y


#: oneDNN picks its weight layout for an expected row count; 8 serves 1..32 rows well here.
_ONEDNN_ROWS_HINT = 8
_onednn_state: list[bool] = []


def _onednn_usable() -> bool:
    """Whether this torch build has the (internal) oneDNN prepacked-linear ops, checked once."""
    if not _onednn_state:
        ok = False
        try:
            if torch.backends.mkldnn.is_available():
                w, b = torch.randn(8, 16), torch.randn(8)
                x = torch.randn(2, 3, 16)
                packed = torch.ops.mkldnn._reorder_linear_weight(w, _ONEDNN_ROWS_HINT)
                with torch.inference_mode():
                    y = torch.ops.mkldnn._linear_pointwise(x, packed, b, "none", [], "")
                ok = bool(torch.allclose(y, F.linear(x, w, b), atol=1e-4))
        except (RuntimeError, AttributeError, NotImplementedError):
            ok = False
        _onednn_state.append(ok)
    return _onednn_state[0]


def _prepack_int8(weight: Tensor, bias: Tensor | None):
    """Per-output-channel symmetric int8 weights, prepacked for fbgemm's dynamic linear."""
    w = weight.detach().float().cpu()
    scales = (w.abs().amax(dim=1) / 127.0).clamp_min(1e-12).double()
    zero_points = torch.zeros(w.shape[0], dtype=torch.long)
    with warnings.catch_warnings():  # quantised tensor constructors are flagged as deprecated
        warnings.simplefilter("ignore")
        qw = torch.quantize_per_channel(w, scales, zero_points, 0, torch.qint8)
        b = None if bias is None else bias.detach().float().cpu()
        return torch.ops.quantized.linear_prepack(qw, b)


class _LayerWeights:
    """One ``nn.TransformerDecoderLayer``'s parameters, sliced once for the per-token loop.

    With int8 only the three big projections (self-attention in-projection, linear1, linear2:
    11 of the layer's 12 MiB of weights read per token) are quantised; the rest stays float32.
    """

    def __init__(self, layer: nn.TransformerDecoderLayer, quantize: str) -> None:
        if getattr(layer, "norm_first", False):
            raise ValueError("the fast decoder implements the post-norm layer (norm_first=False)")
        if layer.activation is not F.relu:
            raise ValueError("the fast decoder implements the relu feed-forward")
        sa, ca = layer.self_attn, layer.multihead_attn
        for attn in (sa, ca):
            if not attn._qkv_same_embed_dim or attn.in_proj_bias is None or attn.bias_k is not None:
                raise ValueError("the fast decoder expects packed in-projections with biases")
        int8 = quantize == "int8"
        e = sa.embed_dim
        self.qkv = _Linear(sa.in_proj_weight, sa.in_proj_bias, int8=int8)
        self.sa_out = _Linear(sa.out_proj.weight, sa.out_proj.bias)
        # Cross-attention stays float32: it is folded with each image's memory before the loop.
        self.ca_wq, self.ca_bq = ca.in_proj_weight[:e], ca.in_proj_bias[:e]
        self.ca_wkv, self.ca_bkv = ca.in_proj_weight[e:], ca.in_proj_bias[e:]
        self.ca_wo, self.ca_bo = ca.out_proj.weight, ca.out_proj.bias
        self.linear1_relu = _Linear(layer.linear1.weight, layer.linear1.bias, int8=int8, relu=True)
        self.linear2 = _Linear(layer.linear2.weight, layer.linear2.bias, int8=int8)
        self.norm1 = (layer.norm1.weight, layer.norm1.bias, layer.norm1.eps)
        self.norm2 = (layer.norm2.weight, layer.norm2.bias, layer.norm2.eps)
        self.norm3 = (layer.norm3.weight, layer.norm3.bias, layer.norm3.eps)


class _State:
    """Per-call buffers of the fast decoder: folded cross-attention, KV caches, masks."""

    def __init__(self, dec: FastDecoder, encoded: Encoded, max_len: int) -> None:
        memory = encoded.memory
        self.dec = dec
        self.device = device = memory.device
        n = encoded.batch_size
        # Under autocast the projections run in half precision; keep the caches in that dtype.
        autocast = torch.is_autocast_enabled(device.type)
        cdtype = torch.get_autocast_dtype(device.type) if autocast else memory.dtype
        self.dtype = cdtype
        h, nh, hd = dec.hidden, dec.nhead, dec.head_dim
        scale = 1.0 / math.sqrt(hd)
        self.b = n
        self.max_len = max_len

        # Positions: the reference adds scale * pe[:T] to the embeddings; same products here.
        pos_dec = dec.model.pos_decoder
        self.pos = pos_dec.scale * pos_dec.pe[:max_len, 0, :]

        # Cross-attention, folded per image and layer:
        #   scores[b, h, s] = x[b] . A[b, :, h*S + s] + c[b, h*S + s]        (A = Wq_h^T K_h^T * scale)
        #   out[b]          = sum_{h,s} p[b, h, s] * U[b, h*S + s, :] + bo   (U = V_h Wo_h^T)
        # and, as each head's p sums to 1, bo is carried inside U as bo / nhead on every row.
        src_len = memory.shape[0]
        self.src_len = src_len
        mem_mask = None
        if bool(encoded.src_pad_mask.any()):
            mem_mask = torch.zeros(n, nh, src_len, dtype=cdtype, device=device)
            mem_mask.masked_fill_(encoded.src_pad_mask[:, None, :], float("-inf"))
            mem_mask = mem_mask.view(n, 1, nh * src_len)
        self.cross_a, self.cross_c, self.cross_u = [], [], []
        for lw in dec.layers:
            kv = F.linear(memory, lw.ca_wkv, lw.ca_bkv)  # [S, B, 2h]
            k = kv[..., :h].reshape(src_len, n, nh, hd).permute(1, 2, 0, 3)  # [B, H, S, hd]
            v = kv[..., h:].reshape(src_len, n, nh, hd).permute(1, 2, 0, 3)
            wq = lw.ca_wq.view(nh, hd, h)  # per head [hd, h]
            bq = lw.ca_bq.view(nh, hd)
            a = torch.einsum("bhsd,hde->behs", k, wq).reshape(n, h, nh * src_len) * scale
            c = torch.einsum("bhsd,hd->bhs", k, bq).reshape(n, 1, nh * src_len) * scale
            wo = lw.ca_wo.view(h, nh, hd)  # columns of head h
            u = torch.einsum("bhsd,ehd->bhse", v, wo).reshape(n, nh * src_len, h) + lw.ca_bo / nh
            if mem_mask is not None:
                c = c + mem_mask
            self.cross_a.append(a.contiguous())
            self.cross_c.append(c.contiguous())
            self.cross_u.append(u.contiguous())

        # Self-attention caches [B, H, T, hd] per layer; an additive key mask appears on the first PAD.
        self.k_cache = [torch.empty(n, nh, max_len, hd, dtype=cdtype, device=device) for _ in dec.layers]
        self.v_cache = [torch.empty(n, nh, max_len, hd, dtype=cdtype, device=device) for _ in dec.layers]
        self.key_mask: Tensor | None = None
        self.causal: Tensor | None = None

    def forward(self, inp: Tensor, t: int) -> Tensor:
        """Logits [b, m, V] for decoder inputs ``inp`` [b, m] at positions t .. t+m-1."""
        dec = self.dec
        b, m = inp.shape
        h, nh, hd, src_len = dec.hidden, dec.nhead, dec.head_dim, self.src_len
        end = t + m
        shape = (h,)
        x = F.embedding(inp, dec.embedding).add_(self.pos[t:end])  # [b, m, h]

        mask = None if self.key_mask is None else self.key_mask[:b, :, :, :end]
        if m > 1:  # causal inside the new positions
            if self.causal is None:
                full = torch.full((self.max_len, self.max_len), float("-inf"), device=self.device)
                self.causal = full.triu_(1).to(self.dtype)
            causal = self.causal[t:end, :end]
            mask = causal if mask is None else mask + causal

        for li, lw in enumerate(dec.layers):
            kc, vc = self.k_cache[li], self.v_cache[li]
            # self-attention over positions 0..end-1 with the cache, then residual + norm1
            qkv = lw.qkv(x).view(b, m, 3, nh, hd)
            kc[:b, :, t:end] = qkv[:, :, 1].transpose(1, 2)
            vc[:b, :, t:end] = qkv[:, :, 2].transpose(1, 2)
            attn = F.scaled_dot_product_attention(
                qkv[:, :, 0].transpose(1, 2), kc[:b, :, :end], vc[:b, :, :end], attn_mask=mask
            )  # [b, H, m, hd]
            attn = attn.transpose(1, 2).reshape(b, m, h)
            x = F.layer_norm(lw.sa_out(attn).add_(x), shape, *lw.norm1)
            # cross-attention (folded; the output bias is inside U), residual + norm2
            scores = torch.baddbmm(self.cross_c[li][:b], x, self.cross_a[li][:b])  # [b, m, H*S]
            p = torch.softmax(scores.view(b, m, nh, src_len), dim=-1).view(b, m, nh * src_len)
            x = F.layer_norm(torch.bmm(p, self.cross_u[li][:b]).add_(x), shape, *lw.norm2)
            # feed-forward, residual + norm3
            x = F.layer_norm(lw.linear2(lw.linear1_relu(x)).add_(x), shape, *lw.norm3)
        if dec.final_norm is not None:
            x = F.layer_norm(x, shape, *dec.final_norm)
        return dec.fc_out(x)

    def mask_key(self, active_rows: list[int], position: int) -> None:
        """Mask ``position`` as a key for these active rows (their input there is PAD)."""
        if self.key_mask is None:
            self.key_mask = torch.zeros(self.b, 1, 1, self.max_len, dtype=self.dtype, device=self.device)
        self.key_mask[active_rows, :, :, position] = float("-inf")

    def compact(self, keep: list[int]) -> None:
        """Drop finished rows: move the kept rows' buffers to the front."""
        idx = torch.tensor(keep, dtype=torch.long, device=self.device)
        nb, b = len(keep), self.b
        for buffers in (self.k_cache, self.v_cache, self.cross_a, self.cross_c, self.cross_u):
            for buf in buffers:
                buf[:nb] = buf[:b].index_select(0, idx)
        if self.key_mask is not None:
            self.key_mask[:nb] = self.key_mask[:b].index_select(0, idx)
        self.b = nb


class FastDecoder:
    """Batched greedy decoding with a KV cache; see the module docstring.

    Build once per model (the int8 weights are prepared here) and call many times. The model must
    be in eval mode and must not be retrained while a decoder built from it is in use.
    """

    def __init__(self, model: TransformerModel, *, quantize: str = "none", lookahead: bool = True) -> None:
        if quantize not in QUANTIZE_CHOICES:
            raise ValueError(f"quantize must be one of {QUANTIZE_CHOICES}, not {quantize!r}")
        if quantize == "int8" and next(model.parameters()).device.type != "cpu":
            raise ValueError("quantize='int8' is a CPU path; use fp16 on CUDA instead")
        self.model = model.eval()
        self.quantize = quantize
        self.lookahead = lookahead
        tr = model.transformer
        self.hidden = tr.d_model
        self.nhead = tr.nhead
        self.head_dim = self.hidden // self.nhead
        self.layers = [_LayerWeights(layer, quantize) for layer in tr.decoder.layers]
        dn = tr.decoder.norm
        self.final_norm = None if dn is None else (dn.weight, dn.bias, dn.eps)
        self.fc_out = _Linear(model.fc_out.weight, model.fc_out.bias)
        self.embedding = model.decoder.weight

    # -- stage 1: backbone + encoder, once per image -------------------------------------------

    @torch.inference_mode()
    def encode(self, images: Tensor) -> Encoded:
        if images.shape[0] == 0:
            empty = torch.empty(0, 0, self.hidden, device=images.device)
            return Encoded(empty, torch.empty(0, 0, dtype=torch.bool, device=images.device))
        memory, src_pad_mask = self.model.encode(images)
        return Encoded(memory, src_pad_mask)

    # -- stage 2: the token loop ---------------------------------------------------------------

    @torch.inference_mode()
    def decode(self, encoded: Encoded, max_len: int = MAX_DECODE_LEN) -> list[Decoded]:
        """Greedy tokens for every image of ``encoded``, at most ``max_len`` each (EOS included)."""
        n = encoded.batch_size
        if n == 0 or max_len <= 0:
            return [Decoded([], [], False) for _ in range(n)]
        st = _State(self, encoded, max_len)
        device = st.device

        rows = list(range(n))  # original index of each active row
        seqs: list[list[int]] = [[SOS] for _ in range(n)]  # decoder inputs so far, per image
        picked: list[tuple[list[int], Tensor, Tensor]] = []  # (rows, logits [r, m, V], ids [r, m])
        eos_seen = [False] * n
        passes = [0] * n
        tok = torch.full((n, 1), SOS, dtype=torch.long, device=device)
        draft_len = _DRAFT_MIN
        t = 0  # position of the newest decoder input
        while t < max_len:
            draft: list[int] = []
            if len(rows) == 1 and self.lookahead:
                draft = _draft(seqs[rows[0]], min(draft_len, max_len - t - 1))
            if draft:  # one image left: verify [last token] + draft in one pass
                inp = torch.tensor([[seqs[rows[0]][-1], *draft]], dtype=torch.long, device=device)
            else:
                inp = tok
            logits = st.forward(inp, t)  # [b, m, V]
            ids = logits.argmax(-1)  # [b, m]
            id_rows = ids.tolist()

            if draft:
                got = id_rows[0]
                accepted = 0
                while accepted < len(draft) and got[accepted] == draft[accepted]:
                    accepted += 1
                new = got[: accepted + 1]
                if EOS in new:
                    new = new[: new.index(EOS) + 1]
                draft_len = min(2 * draft_len, _DRAFT_MAX) if accepted == len(draft) else _DRAFT_MIN
                picked.append((rows, logits[:, : len(new)], ids[:, : len(new)]))
                id_rows = [new]
            else:
                picked.append((rows, logits, ids))

            for r, new in zip(rows, id_rows, strict=True):
                passes[r] += 1
                seqs[r].extend(new)
                eos_seen[r] = new[-1] == EOS
            t += len(id_rows[0])
            if t >= max_len:
                break
            last = [new[-1] for new in id_rows]
            if PAD in last:  # the reference masks PAD inputs as keys (tgt_key_padding_mask)
                st.mask_key([i for i, v in enumerate(last) if v == PAD], t)
            if EOS in last:
                keep = [i for i, v in enumerate(last) if v != EOS]
                if not keep:
                    break
                rows = [rows[i] for i in keep]
                st.compact(keep)
                last = [last[i] for i in keep]
            tok = torch.tensor(last, dtype=torch.long, device=device).unsqueeze(1)

        # Probability of each chosen token, from the kept logits, after the loop.
        probs: list[list[float]] = [[] for _ in range(n)]
        for step_rows, lg, chosen in picked:
            p = torch.softmax(lg.float(), dim=-1).gather(2, chosen.unsqueeze(2)).squeeze(2)
            for r, row in zip(step_rows, p.tolist(), strict=True):
                probs[r].extend(row)
        return [Decoded(seqs[i][1:], probs[i], eos_seen[i], passes[i]) for i in range(n)]

    def __call__(self, images: Tensor, max_len: int = MAX_DECODE_LEN) -> list[Decoded]:
        return self.decode(self.encode(images), max_len=max_len)


def fast_decode(
    model: TransformerModel, images: Tensor, max_len: int = MAX_DECODE_LEN, *, quantize: str = "none"
) -> list[Decoded]:
    """Greedy-decode a batch of preprocessed images [B, 3, 64, 256]; one ``Decoded`` per image."""
    return FastDecoder(model, quantize=quantize)(images, max_len=max_len)
