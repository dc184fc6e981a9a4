"""Held-out NLU evaluation: train on 80% of the examples, test on the other 20%.

Writes results/nlu/ (Rasa's reports plus summary.md) and prints intent and
response-selector F1, overall and per language.

    make nlu-report
"""
from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "results" / "nlu"
RASA = str(ROOT / ".venv" / "bin" / "rasa")
SEED = "42"


def run(*args: str) -> None:
    print("==>", " ".join(args[1:]), flush=True)
    subprocess.run(args, cwd=ROOT, check=True)


def languages_of_test_examples(test_file: Path) -> dict[str, str]:
    from rasa.shared.nlu.training_data.loading import load_data

    languages = {}
    for message in load_data(str(test_file)).intent_examples:
        metadata = message.get("metadata") or {}
        language = (metadata.get("intent") or {}).get("language") or (metadata.get("example") or {}).get("language")
        languages[message.get("text")] = language or "?"
    return languages


def f1(tp: int, fp: int, fn: int) -> float:
    return 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)


def per_language(report_dir: Path, languages: dict[str, str]) -> dict[str, dict[str, float]]:
    """Accuracy and macro F1 of intents, per language, from Rasa's per-example output."""
    rows = []
    for name in ("intent_successes.json", "intent_errors.json"):
        path = report_dir / name
        if path.exists():
            rows += json.loads(path.read_text())
    by_language: dict[str, list] = defaultdict(list)
    for row in rows:
        by_language[languages.get(row["text"], "?")].append((row["intent"], (row.get("intent_prediction") or {}).get("name")))
    summary = {}
    for language, pairs in sorted(by_language.items()):
        intents = {gold for gold, _ in pairs}
        scores = []
        for intent in intents:
            tp = sum(1 for g, p in pairs if g == intent and p == intent)
            fp = sum(1 for g, p in pairs if g != intent and p == intent)
            fn = sum(1 for g, p in pairs if g == intent and p != intent)
            scores.append(f1(tp, fp, fn))
        summary[language] = {
            "examples": len(pairs),
            "accuracy": sum(1 for g, p in pairs if g == p) / len(pairs),
            "macro_f1": sum(scores) / len(scores),
        }
    return summary


def main() -> int:
    split_dir, model_dir, report_dir = OUT / "split", OUT / "model", OUT / "report"
    run(RASA, "data", "split", "nlu", "--nlu", "data/nlu", "--training-fraction", "0.8",
        "--random-seed", SEED, "--out", str(split_dir))
    run(RASA, "train", "nlu", "--nlu", str(split_dir / "training_data.yml"), "--config", "config.yml",
        "--domain", "domain.yml", "--fixed-model-name", "heldout", "--out", str(model_dir), "--quiet")
    run(RASA, "test", "nlu", "--nlu", str(split_dir / "test_data.yml"), "--model", str(model_dir / "heldout.tar.gz"),
        "--out", str(report_dir), "--successes", "--no-plot")
    intents = json.loads((report_dir / "intent_report.json").read_text())
    responses_path = report_dir / "response_selection_report.json"
    responses = json.loads(responses_path.read_text()) if responses_path.exists() else {}
    languages = per_language(report_dir, languages_of_test_examples(split_dir / "test_data.yml"))
    lines = [
        "# NLU held-out evaluation (80/20 split, seed 42)",
        "",
        f"- intent accuracy: {intents['accuracy']:.3f}",
        f"- intent F1 weighted: {intents['weighted avg']['f1-score']:.3f}, macro: {intents['macro avg']['f1-score']:.3f}",
    ]
    if responses:
        lines.append(f"- faq response selection F1 weighted: {responses['weighted avg']['f1-score']:.3f}")
    for language, scores in languages.items():
        lines.append(
            f"- {language}: {scores['examples']} examples, accuracy {scores['accuracy']:.3f}, macro F1 {scores['macro_f1']:.3f}"
        )
    lines += ["", "| intent | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    for name, row in sorted(intents.items()):
        if isinstance(row, dict) and "support" in row and name not in ("macro avg", "weighted avg", "micro avg"):
            lines.append(f"| {name} | {row['precision']:.2f} | {row['recall']:.2f} | {row['f1-score']:.2f} | {row['support']} |")
    summary = "\n".join(lines) + "\n"
    (OUT / "summary.md").write_text(summary)
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
