"""The report's network: a ResNet backbone + a sequence-first ``nn.Transformer``.

Written like ``torchvision/models/resnet.py``: hyper-parameters are constructor arguments and
the module does no I/O. Attribute names are those of the original code, so that the report's
checkpoint (391 state-dict keys, 38,841,758 parameters for resnet50 / hidden 512) loads with
``strict=True``:

    backbone.*            torchvision ResNet; its ``fc`` is a 1x1 Conv2d to hidden // 2 channels
    pos_encoder.{scale,pe}, pos_decoder.{scale,pe}
    decoder.weight        the target-token embedding
    transformer.*         nn.Transformer(d_model=hidden, dim_feedforward=4 * hidden), post-norm, relu
    fc_out.{weight,bias}  hidden -> number of tokens

Loading lives in ``checkpoint.py``, preprocessing in ``preprocess.py`` and the fast decoder in
``decoding.py``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn
from torchvision import models

from ocrkit.core_model.alphabet import ALPHABET, PAD

BACKBONES = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")

# The report's hyper-parameters (its ``Hparams``).
IMAGE_HEIGHT = 64
IMAGE_WIDTH = 256
MAX_DECODE_LEN = 100


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild the network; stored as ``config`` in ocrkit's checkpoints."""

    bb_name: str = "resnet50"
    outtoken: int = len(ALPHABET)
    hidden: int = 512
    enc_layers: int = 2
    dec_layers: int = 2
    nhead: int = 4
    dropout: float = 0.1

    def to_dict(self) -> dict:
        return asdict(self)


class PositionalEncoding(nn.Module):
    """Sinusoidal positions times a learnable scalar ``scale``, then dropout (sequence-first input)."""

    def __init__(self, d_model: int, dropout: float = 0.1, max_len: int = 5000) -> None:
        super().__init__()
        self.dropout = nn.Dropout(p=dropout)
        self.scale = nn.Parameter(torch.ones(1))

        pe = torch.zeros(max_len, d_model)
        position = torch.arange(0, max_len, dtype=torch.float).unsqueeze(1)
        div_term = torch.exp(torch.arange(0, d_model, 2).float() * (-math.log(10000.0) / d_model))
        pe[:, 0::2] = torch.sin(position * div_term)
        pe[:, 1::2] = torch.cos(position * div_term)
        pe = pe.unsqueeze(0).transpose(0, 1)  # [max_len, 1, d_model]
        self.register_buffer("pe", pe)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.scale * self.pe[: x.size(0), :]
        return self.dropout(x)


class TransformerModel(nn.Module):
    """ResNet features of a 64x256 crop -> 8 source steps -> Transformer -> token logits.

    ``forward(src, trg)`` takes images [B, 3, 64, 256] and target ids [T, B] (sequence-first) and
    returns logits [T, B, outtoken], exactly as the report's model did.
    """

    def __init__(
        self,
        bb_name: str,
        outtoken: int,
        hidden: int = 512,
        enc_layers: int = 2,
        dec_layers: int = 2,
        nhead: int = 4,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        if bb_name not in BACKBONES:
            raise ValueError(f"unknown backbone {bb_name!r}; expected one of {', '.join(BACKBONES)}")
        if hidden % 2 or hidden % nhead:
            raise ValueError(f"hidden={hidden} must be even and divisible by nhead={nhead}")
        self.config = ModelConfig(bb_name, outtoken, hidden, enc_layers, dec_layers, nhead, dropout)

        self.backbone = getattr(models, bb_name)(weights=None)
        self.backbone.fc = nn.Conv2d(self.backbone.fc.in_features, hidden // 2, 1)

        self.pos_encoder = PositionalEncoding(hidden, dropout)
        self.decoder = nn.Embedding(outtoken, hidden)
        self.pos_decoder = PositionalEncoding(hidden, dropout)
        with warnings.catch_warnings():
            # Sequence-first layout (the checkpoint's) cannot use the nested-tensor fast path; torch
            # warns about that at construction, which says nothing a user can act on.
            warnings.filterwarnings("ignore", message="enable_nested_tensor is True")
            self.transformer = nn.Transformer(
                d_model=hidden,
                nhead=nhead,
                num_encoder_layers=enc_layers,
                num_decoder_layers=dec_layers,
                dim_feedforward=hidden * 4,
                dropout=dropout,
                activation="relu",
            )
        self.fc_out = nn.Linear(hidden, outtoken)
        # The original kept these as attributes; masks are now built per call (thread-safe).
        self.src_mask = None
        self.trg_mask = None
        self.memory_mask = None

    @classmethod
    def from_config(cls, config: ModelConfig) -> TransformerModel:
        return cls(
            config.bb_name,
            config.outtoken,
            hidden=config.hidden,
            enc_layers=config.enc_layers,
            dec_layers=config.dec_layers,
            nhead=config.nhead,
            dropout=config.dropout,
        )

    @staticmethod
    def generate_square_subsequent_mask(sz: int, device: torch.device | None = None) -> Tensor:
        """Causal mask: True (= may not attend) above the diagonal; same effect as the original -inf mask."""
        return torch.ones(sz, sz, dtype=torch.bool, device=device).triu_(1)

    @staticmethod
    def make_len_mask(inp: Tensor) -> Tensor:
        """Key-padding mask [B, S] from a sequence-first [S, B] tensor: True where the value is PAD (0)."""
        return (inp == PAD).transpose(0, 1)

    def features(self, src: Tensor) -> Tensor:
        """Backbone features as a source sequence [S=8, B, hidden]."""
        bb = self.backbone
        x = bb.conv1(src)
        x = bb.bn1(x)
        x = bb.relu(x)
        x = bb.maxpool(x)
        x = bb.layer1(x)
        x = bb.layer2(x)
        x = bb.layer3(x)
        x = bb.layer4(x)
        x = bb.fc(x)  # [B, hidden/2, 2, 8]
        return x.permute(0, 3, 1, 2).flatten(2).permute(1, 0, 2)

    def encode(self, src: Tensor) -> tuple[Tensor, Tensor]:
        """Encoder memory [S, B, hidden] and the source padding mask [B, S] the original derived from it."""
        x = self.features(src)
        src_pad_mask = self.make_len_mask(x[:, :, 0])
        memory = self.transformer.encoder(
            self.pos_encoder(x), mask=self.src_mask, src_key_padding_mask=src_pad_mask
        )
        return memory, src_pad_mask

    def forward(self, src: Tensor, trg: Tensor) -> Tensor:
        trg_mask = self.generate_square_subsequent_mask(len(trg), trg.device)
        x = self.features(src)
        src_pad_mask = self.make_len_mask(x[:, :, 0])
        src = self.pos_encoder(x)
        trg_pad_mask = self.make_len_mask(trg)
        trg = self.decoder(trg)
        trg = self.pos_decoder(trg)
        output = self.transformer(
            src,
            trg,
            src_mask=self.src_mask,
            tgt_mask=trg_mask,
            memory_mask=self.memory_mask,
            src_key_padding_mask=src_pad_mask,
            tgt_key_padding_mask=trg_pad_mask,
            memory_key_padding_mask=src_pad_mask,
        )
        return self.fc_out(output)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
