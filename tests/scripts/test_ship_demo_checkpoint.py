"""scripts/ship_demo_checkpoint.py: the release gate refuses a checkpoint that regresses on any split."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from ocrkit.weights import shipped_weights_path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "ship_demo_checkpoint.py"


@pytest.fixture(scope="module")
def ship():
    spec = importlib.util.spec_from_file_location("ship_demo_checkpoint", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def report(char_accuracy: float, files=("a.png", "b.png"), label="дом") -> dict:
    return {
        "count": len(files),
        "char_accuracy": char_accuracy,
        "word_accuracy": 0.5,
        "cer": 1 - char_accuracy,
        "wer": 0.5,
        "predictions": [{"file": f, "label": label, "text": label} for f in files],
    }


def write(tmp_path: Path, name: str, data: dict) -> str:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return str(path)


def test_gate_passes_a_better_checkpoint_within_tolerance(ship):
    after = {"hand": report(0.80), "seen": report(0.984)}
    before = {"hand": report(0.70), "seen": report(0.988)}
    assert ship.regressions(after, before, ["hand"]) == []


@pytest.mark.parametrize(
    ("after", "before", "needle"),
    [
        (
            {"hand": report(0.70), "seen": report(0.99)},
            {"hand": report(0.70), "seen": report(0.99)},
            "not better",
        ),
        (
            {"hand": report(0.80), "seen": report(0.982)},
            {"hand": report(0.70), "seen": report(0.988)},
            "below",
        ),
        ({"hand": report(0.80), "seen": report(0.99)}, {"hand": report(0.70)}, "no --baseline seen"),
        (
            {"hand": report(0.80), "seen": report(0.99, files=("x.png", "y.png"))},
            {"hand": report(0.70), "seen": report(0.99)},
            "same images",
        ),
        ({"seen": report(0.99)}, {"seen": report(0.99)}, "--improve hand"),
    ],
)
def test_gate_names_each_regression(ship, after, before, needle):
    problems = ship.regressions(after, before, ["hand"])
    assert len(problems) == 1 and needle in problems[0], problems


def test_refused_checkpoint_leaves_the_target_untouched(ship, tmp_path, capsys):
    target = tmp_path / "demo-ocr.pt"
    target.write_bytes(b"the shipped one")
    argv = [
        str(tmp_path / "never-read.pt"),
        "--provenance",
        "test",
        "--out",
        str(target),
        "--scores",
        f"hand={write(tmp_path, 'hand-after', report(0.9))}",
        "--baseline",
        f"hand={write(tmp_path, 'hand-before', report(0.7))}",
        "--scores",
        f"seen={write(tmp_path, 'seen-after', report(0.97))}",
        "--baseline",
        f"seen={write(tmp_path, 'seen-before', report(0.988))}",
        "--improve",
        "hand",
    ]
    with pytest.raises(SystemExit) as exc:
        ship.main(argv)
    assert "refused" in str(exc.value.code) and "seen: character accuracy 0.9700" in str(exc.value.code)
    assert target.read_bytes() == b"the shipped one"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.model
def test_a_passing_checkpoint_is_shipped_with_its_scores(ship, tmp_path, capsys):
    torch = pytest.importorskip("torch")
    target = tmp_path / "demo-ocr.pt"
    argv = [
        str(shipped_weights_path()),  # already the compact form
        "--provenance",
        "ocrkit synth test",
        "--out",
        str(target),
        "--scores",
        f"hand={write(tmp_path, 'hand-after', report(0.9))}",
        "--baseline",
        f"hand={write(tmp_path, 'hand-before', report(0.7))}",
        "--improve",
        "hand",
    ]
    assert ship.main(argv) == 0
    raw = torch.load(target, map_location="cpu", weights_only=True)
    assert raw["provenance"] == "ocrkit synth test"
    assert raw["scores"] == {"hand": {k: report(0.9)[k] for k in ship.SCORE_KEYS}}
