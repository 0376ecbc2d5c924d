"""Which checkpoint a command uses: explicit path, $OCRKIT_WEIGHTS, the shipped demo, or a clear error."""

from __future__ import annotations

import pytest

from ocrkit import weights as w
from ocrkit.errors import OcrkitError


@pytest.fixture
def shipped(tmp_path, monkeypatch):
    """A stand-in for ocrkit/assets/demo-ocr.pt (the resolution order is under test, not the model)."""
    path = tmp_path / "assets" / w.DEMO_WEIGHTS_FILE
    path.parent.mkdir()
    path.write_bytes(b"stand-in")
    monkeypatch.setattr(w, "shipped_weights_path", lambda: path)
    monkeypatch.delenv(w.WEIGHTS_ENV, raising=False)
    monkeypatch.delenv(w.DEMO_SWITCH_ENV, raising=False)
    return path


def test_order_is_flag_then_environment_then_demo(shipped, tmp_path, monkeypatch) -> None:
    assert w.resolve_weights(None) == shipped
    assert w.resolve_weights("") == shipped
    monkeypatch.setenv(w.WEIGHTS_ENV, str(tmp_path / "env.pt"))
    assert w.resolve_weights(None) == tmp_path / "env.pt"
    assert w.resolve_weights(tmp_path / "flag.pt") == tmp_path / "flag.pt"
    monkeypatch.setenv(w.WEIGHTS_ENV, "  ")
    assert w.resolve_weights(None) == shipped


@pytest.mark.parametrize("off", ["0", "false", "No", "off"])
def test_demo_can_be_switched_off(shipped, monkeypatch, off) -> None:
    monkeypatch.setenv(w.DEMO_SWITCH_ENV, off)
    assert w.default_weights_path() is None
    with pytest.raises(OcrkitError) as err:
        w.resolve_weights(None, what="no model weights to deploy")
    assert err.value.message.startswith("no model weights to deploy")
    assert f"{w.DEMO_SWITCH_ENV}=0" in err.value.message and w.WEIGHTS_ENV in err.value.hint


def test_missing_demo_file_is_a_clear_error(shipped, monkeypatch) -> None:
    shipped.unlink()
    assert w.default_weights_path() is None
    with pytest.raises(OcrkitError) as err:
        w.resolve_weights(None)
    assert err.value.message == "no model weights"
    assert "--weights" in err.value.hint and "model.pt" in err.value.hint


def test_demo_is_named_in_plans(shipped, tmp_path) -> None:
    notes = w.demo_weights_notes(shipped)
    assert len(notes) == 1 and "demo checkpoint" in notes[0] and "--weights" in notes[0]
    other = tmp_path / "mine.pt"
    other.write_bytes(b"x")
    assert w.demo_weights_notes(other) == []


def test_the_real_shipped_path_is_inside_the_package() -> None:
    import ocrkit

    assert w.shipped_weights_path().parent.parent == w.Path(ocrkit.__file__).resolve().parent
