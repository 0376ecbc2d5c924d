"""The network's structure matches the report's checkpoint, and it runs as the report's did."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from ocrkit.core_model import alphabet  # noqa: E402

pytestmark = pytest.mark.model


def test_alphabet_layout():
    a = alphabet.ALPHABET
    assert len(a) == 92
    assert (a[0], a[1], a[2], a[91]) == ("PAD", "SOS", " ", "EOS")
    assert a[3:12] == list('!"%(),-./')
    assert a[12:22] == list("0123456789")
    assert a[22:29] == list(":;?[]«»")
    assert a[29] == "А" and a[57] == "Я" and a[58] == "а" and a[89] == "я" and a[90] == "ё"
    assert not set("ЁЪЫЬ") & set(a)


def test_encode_decode_round_trip():
    text = "Санкт-Петербург, 12 мая 2003 г. «ёлка»"
    ids = alphabet.encode(text)
    assert alphabet.decode(ids) == text
    assert alphabet.encode("я", add_sos=True, add_eos=True) == [1, 89, 91]
    # decode stops at EOS and skips PAD / SOS
    assert alphabet.decode([1, 29, 0, 58, 91, 60]) == "Аа"


def test_encode_names_unsupported_characters():
    with pytest.raises(alphabet.UnsupportedCharacterError) as err:
        alphabet.encode("ЁЛКА and Ъ")
    message = str(err.value)
    assert "'Ё'" in message and "'Ъ'" in message and "'a'" in message


def test_report_architecture_keys_and_parameter_count():
    from ocrkit.core_model.network import TransformerModel, count_parameters

    model = TransformerModel("resnet50", 92, hidden=512, enc_layers=2, dec_layers=2, nhead=4, dropout=0.1)
    sd = model.state_dict()
    assert len(sd) == 391
    assert count_parameters(model) == 38_841_758
    assert tuple(sd["backbone.fc.weight"].shape) == (256, 2048, 1, 1)
    assert tuple(sd["pos_encoder.pe"].shape) == (5000, 1, 512)
    assert tuple(sd["pos_decoder.scale"].shape) == (1,)
    assert tuple(sd["decoder.weight"].shape) == (92, 512)
    assert tuple(sd["fc_out.weight"].shape) == (92, 512)
    assert tuple(sd["transformer.decoder.layers.1.linear1.weight"].shape) == (2048, 512)
    assert "transformer.encoder.norm.weight" in sd and "transformer.decoder.norm.weight" in sd


def test_forward_shapes_and_source_length(small_model):
    src = torch.rand(3, 3, 64, 256)
    trg = torch.tensor([[1, 1, 1], [40, 0, 12], [60, 0, 91]])
    with torch.inference_mode():
        out = small_model(src, trg)
        memory, mask = small_model.encode(src)
    assert out.shape == (3, 3, 92)
    assert memory.shape == (8, 3, 64)  # 64x256 input -> 2x8 feature map -> 8 steps
    assert mask.shape == (3, 8) and not mask.any()


def test_resnet34_backbone_builds():
    from ocrkit.core_model.network import TransformerModel

    model = TransformerModel("resnet34", 92, hidden=32, nhead=4)
    assert model.backbone.fc.in_channels == 512
    with pytest.raises(ValueError, match="unknown backbone"):
        TransformerModel("vgg16", 92)
