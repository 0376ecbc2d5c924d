"""`ocrkit train`: the loss falls, checkpoints round-trip, resume continues, fp16 export loads."""

from __future__ import annotations

import json

import pytest
import torch

from ocrkit.cli import main
from ocrkit.core_model.checkpoint import load_checkpoint, read_checkpoint
from ocrkit.core_model.dataset import load_split
from ocrkit.core_model.evaluate import evaluate_folder
from ocrkit.core_model.predictor import TorchPredictor
from ocrkit.core_model.train import TrainConfig, Trainer, lr_factor, train
from ocrkit.errors import OcrkitError
from ocrkit.synth import SynthConfig, find_fonts, generate_dataset

pytestmark = pytest.mark.model

TINY = {"hidden": 32, "enc_layers": 1, "dec_layers": 1, "nhead": 2, "batch_size": 8, "val_limit": 4}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    if not find_fonts().faces:
        pytest.skip("needs Cyrillic fonts installed")
    out = tmp_path_factory.mktemp("train") / "data"
    generate_dataset(SynthConfig(out=out, count=32, test_count=4, unseen_count=4, seed=2))
    return out


def test_loss_falls_when_overfitting_a_fixed_batch(data):
    torch.manual_seed(0)
    split = load_split(data, "train", limit=8)
    images, targets = split.batch(range(8))
    from ocrkit.core_model.network import TransformerModel

    model = TransformerModel("resnet18", 92, hidden=64, enc_layers=1, dec_layers=1, nhead=2, dropout=0.0)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    crit = torch.nn.CrossEntropyLoss(ignore_index=0)
    losses = []
    for _ in range(12):
        logits = model(images, targets[:-1])
        loss = crit(logits.reshape(-1, 92), targets[1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert sum(losses[-3:]) / 3 < 0.8 * sum(losses[:3]) / 3, losses


def test_train_writes_checkpoints_that_load_strictly_and_evaluate(data, tmp_path):
    out = tmp_path / "run"
    result = train(
        TrainConfig(data=data, out=out, max_steps=3, warmup_steps=1, seed=1, fp16_export=True, **TINY)
    )
    assert result.steps == 3 and result.stopped == "done"
    assert result.history and result.history[-1]["step"] == 3
    loaded = load_checkpoint(out / "best.pt")
    assert loaded.config.hidden == 32 and loaded.config.nhead == 2 and loaded.config.bb_name == "resnet18"
    sd, meta = read_checkpoint(out / "best.pt")
    assert set(meta) >= {"config", "step", "val_cer"}
    # the original format: {'model': state_dict, ...}
    raw = torch.load(out / "best.pt", weights_only=True)
    assert set(raw["model"]) == set(loaded.model.state_dict())

    half = load_checkpoint(out / "best-fp16.pt")
    assert all(v.dtype == torch.float32 for v in half.model.state_dict().values() if v.is_floating_point())
    raw16 = torch.load(out / "best-fp16.pt", weights_only=True)
    assert raw16["model"]["fc_out.weight"].dtype == torch.float16
    assert (out / "best-fp16.pt").stat().st_size < 0.6 * (out / "best.pt").stat().st_size
    for k, v in loaded.model.state_dict().items():
        assert torch.allclose(v, half.model.state_dict()[k], atol=1e-2, rtol=1e-2), k

    predictor = TorchPredictor.from_weights(out / "best.pt", device="cpu")
    res = evaluate_folder(predictor, data / "test", data / "test.tsv")
    assert res.metrics.count == 4


def test_resume_continues_the_step_count(data, tmp_path):
    out = tmp_path / "run"
    first = train(TrainConfig(data=data, out=out, max_steps=2, epochs=1, warmup_steps=1, **TINY))
    assert first.steps == 2
    state = torch.load(out / "last.pt", weights_only=True)
    assert state["step"] == 2 and "optimizer" in state and "rng" in state
    second = train(TrainConfig(data=data, out=out, resume=out / "last.pt", max_steps=4, epochs=1, **TINY))
    assert second.steps == 4
    state = torch.load(out / "last.pt", weights_only=True)
    assert state["step"] == 4 and state["epoch"] == 1 and state["batch_in_epoch"] == 0  # 32 images / 8
    with pytest.raises(OcrkitError, match="not a resumable"):
        Trainer(TrainConfig(data=data, out=tmp_path / "x", resume=out / "best.pt", **TINY)).run()


def test_time_limit_stops_and_schedule_decays():
    assert lr_factor(0, 0.0, 10, 0.0) == pytest.approx(0.1)
    assert lr_factor(50, 0.0, 10, 0.0) == pytest.approx(1.0)
    assert lr_factor(50, 1.0, 10, 0.02) == pytest.approx(0.02)
    assert lr_factor(50, 0.5, 10, 0.0) == pytest.approx(0.5)


def test_ctrl_c_saves_last_pt(data, tmp_path):
    out = tmp_path / "run"

    def on_event(event):
        if event.kind == "step" and event.step == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(TrainConfig(data=data, out=out, max_steps=10, warmup_steps=1, **TINY), on_event)
    state = torch.load(out / "last.pt", weights_only=True)
    assert state["step"] == 2 and state["stopped"] == "interrupted"


def test_cli_train_then_eval(data, tmp_path, capsys):
    out = tmp_path / "cli"
    main(
        [
            "train",
            str(data),
            "--out",
            str(out),
            "--hidden",
            "32",
            "--nhead",
            "2",
            "--max-steps",
            "2",
            "--batch-size",
            "8",
            "--val-limit",
            "4",
            "--warmup-steps",
            "1",
            "--device",
            "cpu",
            "--cpu-bf16",
            "--format",
            "json",
        ]
    )
    log = json.loads(capsys.readouterr().out)
    assert log["steps"] == 2 and log["best"].endswith("best.pt")
    assert log["train_config"]["cpu_bf16"] is True
    assert json.loads((out / "train-log.json").read_text())["steps"] == 2
    main(
        [
            "eval",
            "--images",
            str(data / "test_unseen"),
            "--labels",
            str(data / "test_unseen.tsv"),
            "--weights",
            str(out / "best.pt"),
            "--format",
            "json",
        ]
    )
    report = json.loads(capsys.readouterr().out)
    assert "char_accuracy" in json.dumps(report)


def test_bad_flags_are_clear_errors(data, tmp_path):
    with pytest.raises(OcrkitError, match="unknown backbone"):
        Trainer(TrainConfig(data=data, out=tmp_path, backbone="vgg16"))
    with pytest.raises(OcrkitError, match="not both"):
        Trainer(TrainConfig(data=data, out=tmp_path, weights=tmp_path / "a.pt", resume=tmp_path / "b.pt"))


def test_cli_ctrl_c_exits_130_with_the_resume_command(data, tmp_path, capsys, monkeypatch):
    import ocrkit.core_model.train as train_module

    def interrupted(config, on_event=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(train_module, "train", interrupted)
    with pytest.raises(SystemExit) as exc:
        main(["train", str(data), "--out", str(tmp_path / "r")])
    assert exc.value.code == 130
    err = capsys.readouterr().err
    assert "--resume" in err and "last.pt" in err and "Traceback" not in err


def test_fine_tune_from_weights_keeps_their_architecture(data, tmp_path):
    first = tmp_path / "first"
    train(TrainConfig(data=data, out=first, max_steps=1, warmup_steps=1, **TINY))
    flags = {**TINY, "hidden": 64}  # ignored: the checkpoint decides the architecture
    second = train(
        TrainConfig(data=data, out=tmp_path / "second", weights=first / "best.pt", max_steps=1, **flags)
    )
    assert second.steps == 1 and second.config.hidden == 32
    assert load_checkpoint(tmp_path / "second" / "best.pt").config.hidden == 32


@pytest.mark.parametrize("cpu_bf16", [False, True])
def test_cpu_bf16_autocasts_the_forward_pass_and_keeps_float32_weights(data, tmp_path, cpu_bf16):
    seen: set[torch.dtype] = set()

    def record(module, args, output):
        if isinstance(module, torch.nn.Linear) and isinstance(output, torch.Tensor):
            seen.add(output.dtype)

    handle = torch.nn.modules.module.register_module_forward_hook(record)
    try:
        result = train(
            TrainConfig(
                data=data, out=tmp_path, max_steps=2, warmup_steps=1, device="cpu", cpu_bf16=cpu_bf16, **TINY
            )
        )
    finally:
        handle.remove()
    assert result.steps == 2
    assert (torch.bfloat16 in seen) is cpu_bf16, seen
    state, meta = read_checkpoint(tmp_path / "best.pt")
    assert all(t.dtype == torch.float32 for t in state.values() if t.is_floating_point())
    assert meta["train_config"]["cpu_bf16"] is cpu_bf16


def test_a_failed_run_removes_only_the_empty_folders_it_created(tmp_path, capsys):
    no_data = tmp_path / "no-data"
    no_data.mkdir()
    out = tmp_path / "runs" / "new" / "run1"
    with pytest.raises(OcrkitError):
        train(TrainConfig(data=no_data, out=out, **TINY))
    assert not (tmp_path / "runs").exists()

    existing = tmp_path / "existing"  # made by the user: kept, with what it holds
    existing.mkdir()
    (existing / "keep.txt").write_text("mine")
    with pytest.raises(SystemExit) as exc:
        main(["train", str(no_data), "--out", str(existing / "run")])
    assert exc.value.code == 2
    assert sorted(p.name for p in existing.iterdir()) == ["keep.txt"]
    assert "Traceback" not in capsys.readouterr().err

    empty = tmp_path / "empty-but-theirs"
    empty.mkdir()
    with pytest.raises(OcrkitError):
        train(TrainConfig(data=no_data, out=empty, **TINY))
    assert empty.is_dir()


def test_cpu_bf16_warns_only_where_the_cpu_has_no_native_bf16(tmp_path):
    from ocrkit.commands.train import bf16_warning, cpu_flags

    amd = tmp_path / "cpuinfo"
    amd.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma\n\nprocessor\t: 1\nflags\t\t: fpu\n")
    assert cpu_flags(amd) == {"fpu", "sse2", "avx", "avx2", "fma"}
    assert "no native bf16" in bf16_warning(cpu_flags(amd))
    assert bf16_warning({"avx512f", "avx512_bf16"}) is None
    assert bf16_warning({"amx_bf16", "amx_tile"}) is None
    assert bf16_warning(None) is None  # the system does not say: no guess
    assert cpu_flags(tmp_path / "missing") is None
