"""The fast decoder returns exactly the report's greedy tokens, in batches, stopping per row.

Oracles: ``reference_decode`` (the report's predict_fn: the whole model rerun per token) where
affordable, and otherwise the stock ``nn.TransformerDecoder`` rerun over the whole prefix on the
same encoder memory (the original project's ``scan``), which is what the report's method computes
after its (deterministic) backbone + encoder.
"""

from __future__ import annotations

import warnings

import pytest

torch = pytest.importorskip("torch")

from ocrkit.core_model.alphabet import EOS, PAD, SOS  # noqa: E402
from ocrkit.core_model.decoding import (  # noqa: E402
    Decoded,
    Encoded,
    FastDecoder,
    fast_decode,
    reference_decode,
)

from .conftest import make_model  # noqa: E402

pytestmark = pytest.mark.model


@torch.inference_mode()
def stock_prefix_decode(model, memory, src_pad_mask, max_len=100) -> list[Decoded]:
    """Greedy decoding with the stock decoder over the full prefix, one image at a time."""
    results = []
    for i in range(memory.shape[1]):
        mem, mask = memory[:, i : i + 1], src_pad_mask[i : i + 1]
        out, probs, eos = [SOS], [], False
        for _ in range(max_len):
            trg = torch.tensor(out).unsqueeze(1)
            dec = model.transformer.decoder(
                model.pos_decoder(model.decoder(trg)),
                mem,
                tgt_mask=model.generate_square_subsequent_mask(len(out)),
                tgt_key_padding_mask=model.make_len_mask(trg),
                memory_key_padding_mask=mask,
            )
            logits = model.fc_out(dec)[-1, 0]
            tok = int(logits.argmax())
            probs.append(float(torch.softmax(logits, 0)[tok]))
            out.append(tok)
            if tok == EOS:
                eos = True
                break
        results.append(Decoded(out[1:], probs, eos))
    return results


def assert_same(fast: list[Decoded], ref: list[Decoded], prob_tol=1e-5):
    assert len(fast) == len(ref)
    for i, (f, r) in enumerate(zip(fast, ref, strict=True)):
        assert f.tokens == r.tokens, f"image {i}: tokens differ"
        assert f.eos == r.eos
        assert f.probs == pytest.approx(r.probs, abs=prob_tol)


def biased(model, token: int, offset: float):
    """A copy of ``model`` whose output bias for ``token`` is raised by ``offset``."""
    twin = type(model).from_config(model.config).eval()
    twin.load_state_dict(model.state_dict())
    with torch.no_grad():
        twin.fc_out.bias[token] += offset
    return twin


# -- against the report's own method ----------------------------------------------------------


@pytest.mark.parametrize(("seed", "max_len"), [(0, 100), (1, 40), (2, 40)])
def test_fast_equals_reference_resnet18(seed, max_len, image_batch):
    """Random weights rarely emit EOS: seed 0 runs the full 100 steps."""
    model = make_model(seed)
    images = image_batch[seed : seed + 1]
    ref = reference_decode(model, images, max_len=max_len)
    assert_same(fast_decode(model, images, max_len=max_len), ref)


def test_random_weights_run_all_100_steps_without_eos(image_batch):
    model = make_model(0)
    out = fast_decode(model, image_batch[:2])
    assert all(len(d.tokens) == 100 and not d.eos and EOS not in d.tokens for d in out)
    assert all(len(d.probs) == 100 for d in out)


def test_fast_equals_reference_report_architecture(image_batch):
    """resnet50 / hidden 512 / 2+2 layers / 4 heads: the real checkpoint's shapes."""
    model = make_model(5, "resnet50", hidden=512)
    images = image_batch[4:6]
    assert_same(fast_decode(model, images, max_len=20), reference_decode(model, images, max_len=20))


# -- per-row EOS, PAD keys, memory padding: against the stock decoder ----------------------------


def _eos_model(image_batch):
    """A small model whose rows stop at different steps (EOS bias tuned, deterministically)."""
    base = make_model(3)
    with torch.no_grad():
        base.backbone.fc.weight.mul_(20)  # make the output depend more on the image
    for offset in [x / 8 for x in range(0, 24)]:
        model = biased(base, EOS, offset)
        out = fast_decode(model, image_batch, max_len=40)
        lengths = {len(d.tokens) for d in out}
        if len(lengths) >= 3 and any(d.eos for d in out) and any(len(d.tokens) > 3 for d in out):
            return model, out
    pytest.fail("no EOS bias gave rows of different lengths")


def test_each_row_stops_at_its_own_eos(image_batch):
    model, out = _eos_model(image_batch)
    with torch.inference_mode():
        memory, mask = model.encode(image_batch)
    assert_same(out, stock_prefix_decode(model, memory, mask, max_len=40))
    for d in out:
        if d.eos:
            assert d.tokens[-1] == EOS and EOS not in d.tokens[:-1]
        else:
            assert len(d.tokens) == 40


def test_eos_rows_against_the_report_method(image_batch):
    model, out = _eos_model(image_batch)
    short = sorted(range(len(out)), key=lambda i: len(out[i].tokens))[:2]
    ref = reference_decode(model, image_batch[short], max_len=40)
    assert_same([out[i] for i in short], ref)


def test_batch_equals_single_images(image_batch):
    model, out = _eos_model(image_batch)
    dec = FastDecoder(model)
    for i in range(len(image_batch)):
        single = dec(image_batch[i : i + 1], max_len=40)[0]
        assert single.tokens == out[i].tokens
        assert single.probs == pytest.approx(out[i].probs, abs=1e-5)


def test_emitted_pad_is_masked_like_the_reference(image_batch):
    """A PAD emitted mid-sequence becomes a masked key (the reference's tgt_key_padding_mask)."""
    base = make_model(4)
    with torch.no_grad():
        base.backbone.fc.weight.mul_(20)
    with torch.inference_mode():
        memory, mask = base.encode(image_batch)
    for offset in [x / 4 for x in range(0, 40)]:
        model = biased(base, PAD, offset)
        out = FastDecoder(model).decode(Encoded(memory, mask), max_len=30)
        if any(PAD in d.tokens[1:] and len(d.tokens) > d.tokens.index(PAD) + 2 for d in out):
            break
    else:
        pytest.fail("no PAD bias made a row emit PAD mid-sequence")
    assert_same(out, stock_prefix_decode(model, memory, mask, max_len=30))


def test_memory_padding_mask_is_honoured(image_batch):
    model = make_model(6)
    with torch.inference_mode():
        memory, _ = model.encode(image_batch[:3])
    mask = torch.zeros(3, 8, dtype=torch.bool)
    mask[0, 5:] = True
    mask[2, :3] = True
    out = FastDecoder(model).decode(Encoded(memory, mask), max_len=25)
    assert_same(out, stock_prefix_decode(model, memory, mask, max_len=25))
    unmasked = FastDecoder(model).decode(Encoded(memory, torch.zeros_like(mask)), max_len=25)
    assert out[0].probs != pytest.approx(unmasked[0].probs, abs=1e-6)


# -- edges and result shape -------------------------------------------------------------------


def test_max_len_and_empty_batch(image_batch, small_model):
    assert all(len(d.tokens) == 7 for d in fast_decode(small_model, image_batch[:3], max_len=7))
    assert fast_decode(small_model, image_batch[:0]) == []


def test_decoded_text_confidence_and_char_probs():
    d = Decoded(tokens=[29, 0, 58, 2, 91], probs=[0.9, 0.5, 0.8, 0.7, 0.6], eos=True)
    assert d.text == "Аа "
    assert d.char_probs == [0.9, 0.8, 0.7]
    assert d.confidence == pytest.approx(0.7)
    assert Decoded([], [], False).confidence == 0.0


def test_int8_decoder_runs_and_mostly_agrees(image_batch):
    model = make_model(0, hidden=128)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        q = fast_decode(model, image_batch[:4], max_len=30, quantize="int8")
    fp = fast_decode(model, image_batch[:4], max_len=30)
    assert [len(d.tokens) for d in q] == [len(d.probs) for d in q]
    assert all(0 <= t < 92 for d in q for t in d.tokens)
    first = sum(a.tokens[0] == b.tokens[0] for a, b in zip(q, fp, strict=True))
    assert first >= 3  # close to float32, not guaranteed identical
    with pytest.raises(ValueError, match="quantize"):
        FastDecoder(model, quantize="int4")


def test_reduced_precision_autocast_path(image_batch):
    """The dtype plumbing used by fp16 autocast on CUDA, exercised with bf16 autocast on CPU."""
    model = make_model(0)
    dec = FastDecoder(model)
    encoded = dec.encode(image_batch[:2])
    mask = encoded.src_pad_mask.clone()
    mask[0, 3] = True
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = dec.decode(Encoded(encoded.memory, mask), max_len=20)
        single = dec.decode(Encoded(encoded.memory[:, 1:], mask[1:]), max_len=20)  # lookahead path
    assert [len(d.tokens) for d in out] == [20, 20]
    assert len(single[0].tokens) == 20
    assert all(0.0 <= p <= 1.0 for d in out for p in d.probs)


def test_draft_copies_the_latest_repeat():
    from ocrkit.core_model.decoding import _draft

    assert _draft([SOS, 5, 6, 7, 5, 6], 4) == [7, 5, 6, 7]  # "5 6" seen before, followed by "7 5 6"
    assert _draft([SOS, 9, 9, 9], 3) == [9, 9, 9]  # runs extend themselves
    assert _draft([SOS, 5, 6, 7, 8], 4) == []  # nothing repeats: no draft
    assert _draft([SOS, 5, 6, PAD, 5, 6], 4) == []  # never drafts PAD
    assert _draft([SOS, 5, 6, 7, 5, 6], 0) == []


def test_lookahead_changes_passes_not_tokens(image_batch):
    model = make_model(1)
    with_la = FastDecoder(model)(image_batch[:1])[0]
    without = FastDecoder(model, lookahead=False)(image_batch[:1])[0]
    assert with_la.tokens == without.tokens
    assert with_la.probs == pytest.approx(without.probs, abs=1e-5)
    assert without.passes == len(without.tokens)
    assert with_la.passes < len(with_la.tokens)  # random weights repeat themselves
