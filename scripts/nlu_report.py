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
sys.path.insert(0, str(ROOT))
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


def configured_temperature() -> float:
    import yaml

    config = yaml.safe_load((ROOT / "config.yml").read_text(encoding="utf-8"))
    for component in config.get("pipeline", []):
        if component.get("name", "").endswith("TemperatureScaling"):
            return float(component.get("temperature", 1.0))
    return 1.0


def rankings_of_test_examples(model: Path, test_file: Path) -> list[tuple[str, list[tuple[str, float]]]]:
    """(gold intent, full intent ranking) for every test example, parsed by the trained model."""
    import asyncio

    from rasa.core.agent import Agent
    from rasa.shared.nlu.training_data.loading import load_data

    agent = Agent.load(str(model))
    examples = [(m.get("text"), m.get("intent")) for m in load_data(str(test_file)).intent_examples]

    async def parse_all():
        out = []
        for text, gold in examples:
            parsed = await agent.parse_message(text)
            ranking = [(r["name"], float(r["confidence"])) for r in parsed.get("intent_ranking") or []
                       if r["name"] != "nlu_fallback"]
            out.append((gold, ranking))
        return out

    return asyncio.run(parse_all())


def reliability(rankings, temperature: float, bins: int = 10) -> dict:
    """Reliability bins, expected calibration error and NLL of the gold intent at ``temperature``."""
    import math

    from components.confidence_calibration import rescale

    rows, nll = [], 0.0
    for gold, ranking in rankings:
        if not ranking:
            continue
        scaled = rescale([p for _, p in ranking], temperature)
        names = [n for n, _ in ranking]
        top = max(range(len(scaled)), key=scaled.__getitem__)
        rows.append((scaled[top], names[top] == gold))
        nll -= math.log(max(scaled[names.index(gold)] if gold in names else 1e-12, 1e-12))
    table, ece = [], 0.0
    for b in range(bins):
        low, high = b / bins, (b + 1) / bins
        members = [(c, ok) for c, ok in rows if low < c <= high or (b == 0 and c == 0)]
        if not members:
            continue
        confidence = sum(c for c, _ in members) / len(members)
        accuracy = sum(ok for _, ok in members) / len(members)
        ece += len(members) / len(rows) * abs(confidence - accuracy)
        table.append((f"{low:.1f}-{high:.1f}", len(members), confidence, accuracy))
    return {"ece": ece, "nll": nll / max(len(rows), 1), "bins": table, "examples": len(rows)}


def calibration_lines(rankings) -> list[str]:
    """ECE before (T = 1) and with the configured T; the T that minimises the NLL on this split."""
    configured = configured_temperature()
    # the model's confidences already carry the configured T: undo it to get DIET's own
    raw = [(gold, list(zip([n for n, _ in r], rescale_back([p for _, p in r], configured)))) for gold, r in rankings]
    grid = [round(1.0 + 0.25 * i, 2) for i in range(0, 25)]
    best = min(grid, key=lambda t: reliability(raw, t)["nll"])
    lines = ["", "## Intent confidence calibration (test split)", ""]
    results = {t: reliability(raw, t) for t in sorted({1.0, configured, best})}
    for t, r in results.items():
        tag = " (configured)" if t == configured else (" (NLL-optimal on this split)" if t == best else "")
        lines.append(f"- temperature {t:.2f}{tag}: ECE {r['ece']:.3f}, NLL {r['nll']:.3f}")
    for t in (1.0, configured):
        lines += ["", f"Reliability, T = {t:.2f}:", "", "| confidence | examples | mean confidence | accuracy |", "|---|---|---|---|"]
        lines += [f"| {name} | {n} | {c:.2f} | {a:.2f} |" for name, n, c, a in results[t]["bins"]]
    return lines


def rescale_back(confidences: list[float], temperature: float) -> list[float]:
    from components.confidence_calibration import rescale

    return rescale(confidences, 1.0 / temperature)


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
    lines += calibration_lines(rankings_of_test_examples(model_dir / "heldout.tar.gz", split_dir / "test_data.yml"))
    summary = "\n".join(lines) + "\n"
    (OUT / "summary.md").write_text(summary)
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
