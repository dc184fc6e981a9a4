"""scripts/nlu_report.py's figures, on hand-made predictions (no model)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("nlu_report", ROOT / "scripts" / "nlu_report.py")
nlu_report = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(nlu_report)


def test_a_fallback_is_a_miss_of_the_gold_intent_and_no_class_of_its_own():
    from sklearn.metrics import classification_report

    pairs = [("greet", "greet"), ("greet", "nlu_fallback"), ("faq", "faq"), ("faq", "faq"), ("faq", "greet")]
    # greet: tp 1, fp 1, fn 1 -> 0.5; faq: tp 2, fp 0, fn 1 -> 0.8
    assert nlu_report.macro_f1(pairs) == pytest.approx((0.5 + 0.8) / 2)
    gold, predicted = zip(*pairs)
    report = classification_report(gold, predicted, output_dict=True, zero_division=0)
    assert report["macro avg"]["f1-score"] == pytest.approx((0.5 + 0.8 + 0.0) / 3)  # sklearn adds the zero-support row
    assert nlu_report.gold_macro_f1(report, {"greet", "faq"}) == pytest.approx((0.5 + 0.8) / 2)


def test_confusions_are_counted_most_frequent_first():
    lines = nlu_report.confusions([("a", "b"), ("a", "b"), ("c", "a"), ("a", "a")])
    assert lines[-2:] == ["| a | b | 2 |", "| c | a | 1 |"]
