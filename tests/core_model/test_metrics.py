"""Metrics on hand-checked examples (torch-free)."""

from __future__ import annotations

import pytest

from ocrkit.core_model.metrics import (
    Metrics,
    cer,
    char_accuracy,
    char_error,
    compute_metrics,
    normalize,
    wer,
    word_accuracy,
)


def test_normalize_yo_case_and_punctuation():
    assert normalize("Ёлка, ёж!") == "елка еж"
    assert normalize("Лебедевно Н.") == "лебедевно н"
    assert normalize("15.09.03") == "150903"
    # «» are not ASCII punctuation: the report's string.punctuation left them in.
    assert normalize("«Да»") == "«да»"
    assert normalize("Ёж", case=True, punct=True) == "Еж"


def test_char_error_uses_the_longer_string():
    # "кот" -> "коты": one insertion, longer string has 4 characters.
    assert char_error("кот", "коты") == pytest.approx(1 / 4)
    assert char_error("коты", "кот") == pytest.approx(1 / 4)
    # one substitution in 5 characters
    assert char_error("мираж", "морж") == pytest.approx(2 / 5)


def test_char_error_empty_strings():
    assert char_error("", "") == 0.0
    assert char_error("", "абв") == 1.0
    assert char_error("абв", "") == 1.0


def test_char_accuracy_is_one_minus_mean_error_after_normalisation():
    labels = ["Ёлка", "кот", "Привет!"]
    preds = ["елка", "коты", "привет"]
    # errors: 0 (ё and case), 1/4, 0 (punctuation dropped)
    assert char_accuracy(labels, preds) == pytest.approx(1 - (0 + 0.25 + 0) / 3)


def test_word_accuracy_is_exact_match_after_normalisation():
    labels = ["Ёлка", "кот", "Привет!", "с детьми"]
    preds = ["ЕЛКА", "коты", "привет", "с  детьми"]
    # the doubled space is a real difference: the report did not collapse whitespace
    assert word_accuracy(labels, preds) == pytest.approx(2 / 4)


def test_empty_corpus():
    assert char_accuracy([], []) == 0.0
    assert word_accuracy([], []) == 0.0
    assert cer([], []) == 0.0
    assert wer([], []) == 0.0


def test_length_mismatch_is_an_error():
    with pytest.raises(ValueError, match="2 labels but 1 predictions"):
        char_accuracy(["а", "б"], ["а"])


def test_cer_sums_edits_over_reference_characters():
    refs = ["кот", "собака"]
    hyps = ["кит", "собаки"]
    # 1 + 1 edits over 3 + 6 reference characters; case and punctuation count in CER
    assert cer(refs, hyps) == pytest.approx(2 / 9)
    assert cer(["Кот."], ["кот"]) == pytest.approx(2 / 4)


def test_cer_can_exceed_one_and_handles_empty_reference():
    assert cer(["а"], ["абв"]) == pytest.approx(2.0)
    assert cer([""], ["аб"]) == pytest.approx(2.0)
    assert cer([""], [""]) == 0.0


def test_wer_over_reference_words():
    refs = ["их успех", "с детьми дома"]
    hyps = ["их успех", "с дитьми"]
    # second: one substitution + one deletion over 3 words; total 2 / 5
    assert wer(refs, hyps) == pytest.approx(2 / 5)


def test_compute_metrics_aggregate():
    labels = ["Привет, мир", "кот"]
    preds = ["привет мир", "кит"]
    m = compute_metrics(labels, preds)
    assert isinstance(m, Metrics)
    assert m.count == 2
    assert m.char_accuracy == pytest.approx(1 - (0 + 1 / 3) / 2)
    assert m.word_accuracy == pytest.approx(0.5)
    # raw: "Привет, мир" -> "привет мир": П->п and the comma: 2 edits; "кот" -> "кит": 1
    assert m.char_edits == 3
    assert m.ref_chars == 14
    assert m.cer == pytest.approx(3 / 14)
    # words: "Привет," != "привет" (1), "мир" ok; "кот" != "кит" (1)
    assert m.word_edits == 2
    assert m.ref_words == 3
    assert m.wer == pytest.approx(2 / 3)
    js = m.to_json()
    assert {"count", "char_accuracy", "word_accuracy", "cer", "wer"} <= js.keys()
