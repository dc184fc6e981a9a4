"""Held-out NLU evaluation: train on 80% of the examples, test on the other 20%.

Writes results/nlu/ (Rasa's reports plus summary.md) and prints intent and
response-selector F1, overall and per language.

    make nlu-report
    .venv/bin/python scripts/nlu_report.py --config /tmp/x/config.yml --out /tmp/x/nlu   # an experiment

Two intent macro F1 figures are printed, both over the intents of the test
split (the gold labels):

- Rasa's (``intent_report.json``, sklearn's classification_report): the top
  intent of each example. ``rasa test nlu`` undoes the FallbackClassifier's
  prediction before scoring (rasa.nlu.test.get_eval_data), so ``nlu_fallback``
  never appears there as a zero-support label; an example whose right intent
  was on top but fell back counts as right.
- as the bot acts: the intent the parse returns, so a fallback is a miss of
  the gold intent (a false negative, a false positive of nothing).
"""
from __future__ import annotations

import argparse
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


def languages_of_examples(nlu_dir: Path) -> dict[str, str]:
    """text -> language of the example in the original data (the split's files merge the blocks of an
    intent under one block, so their metadata names one language for all of them)."""
    from rasa.shared.nlu.training_data.loading import load_data

    languages = {}
    for path in sorted(nlu_dir.glob("*.yml")) if nlu_dir.is_dir() else [nlu_dir]:
        for message in load_data(str(path)).intent_examples:
            metadata = message.get("metadata") or {}
            language = (metadata.get("example") or {}).get("language") or (metadata.get("intent") or {}).get("language")
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
    return {
        language: {
            "examples": len(pairs),
            "accuracy": sum(1 for g, p in pairs if g == p) / len(pairs),
            "macro_f1": macro_f1(pairs),
        }
        for language, pairs in sorted(by_language.items())
    }


def macro_f1(pairs: list[tuple[str, str]]) -> float:
    """Macro F1 over the gold intents of (gold, predicted) pairs; a prediction of any other label
    (nlu_fallback) is a miss of the gold intent and a false positive of nothing."""
    scores = []
    for intent in {gold for gold, _ in pairs}:
        tp = sum(1 for g, p in pairs if g == intent and p == intent)
        fp = sum(1 for g, p in pairs if g != intent and p == intent)
        fn = sum(1 for g, p in pairs if g == intent and p != intent)
        scores.append(f1(tp, fp, fn))
    return sum(scores) / len(scores)


def gold_macro_f1(intents: dict, gold_labels: set[str]) -> float:
    """Macro F1 over the gold intents only (a fallback prediction is a miss of the gold intent)."""
    rows = [intents[name]["f1-score"] for name in gold_labels if isinstance(intents.get(name), dict)]
    return sum(rows) / len(rows)


def confusions(pairs: list[tuple[str, str]], top: int = 12) -> list[str]:
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for gold, predicted in pairs:
        if gold != predicted:
            counts[(gold, predicted)] += 1
    rows = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:top]
    return ["", "Most frequent confusions (as the bot acts):", "", "| gold | predicted | examples |", "|---|---|---|"] + [
        f"| {g} | {p} | {n} |" for (g, p), n in rows
    ]


CONFIG = ROOT / "config.yml"


def configured_temperature() -> float:
    import yaml

    config = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    for component in config.get("pipeline", []):
        if component.get("name", "").endswith("TemperatureScaling"):
            return float(component.get("temperature", 1.0))
    return 1.0


def rankings_of_test_examples(model: Path, test_file: Path) -> list[tuple[str, list[tuple[str, float]], str, str]]:
    """(gold intent, full intent ranking, intent the bot acts on, text) for every test example, parsed by
    the trained model; the intent acted on is ``nlu_fallback`` when the fallback classifier fired."""
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
            out.append((gold, ranking, (parsed.get("intent") or {}).get("name"), text))
        return out

    return asyncio.run(parse_all())


def reliability(rankings, temperature: float, bins: int = 10) -> dict:
    """Reliability bins, expected calibration error and NLL of the gold intent at ``temperature``."""
    import math

    from components.confidence_calibration import rescale

    rows, nll = [], 0.0
    for gold, ranking, *_ in rankings:
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


def configured_fallback() -> dict:
    import yaml

    config = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    for component in config.get("pipeline", []):
        if component.get("name", "").endswith("FallbackClassifier"):
            return component
    return {}


def calibration_lines(rankings) -> list[str]:
    """ECE and NLL of the classifier's own confidences (T = 1) and with the configured T; the T that
    minimises the NLL, fitted on half of the test split (every other example) and scored on the other half,
    so the ECE of the fitted T is not measured on the examples it was fitted on."""
    configured = configured_temperature()
    # the model's confidences already carry the configured T: undo it to get the classifier's own
    raw = [(gold, list(zip([n for n, _ in r], rescale_back([p for _, p in r], configured)))) for gold, r, *_ in rankings]
    grid = [round(0.3 + 0.05 * i, 2) for i in range(0, 55)]  # 0.30 .. 3.00
    fit, held = raw[0::2], raw[1::2]
    best = min(grid, key=lambda t: reliability(fit, t)["nll"])
    lines = ["", "## Intent confidence calibration (test split)", ""]
    results = {t: reliability(raw, t) for t in sorted({1.0, configured, best})}
    for t, r in results.items():
        tags = [tag for tag, on in ((" configured", t == configured), (" NLL-optimal on half of the split", t == best)) if on]
        lines.append(
            f"- temperature {t:.2f}{' (' + ','.join(tags).strip() + ')' if tags else ''}: ECE {r['ece']:.3f}, NLL {r['nll']:.3f}; "
            f"on the other half: ECE {reliability(held, t)['ece']:.3f}, NLL {reliability(held, t)['nll']:.3f}"
        )
    for t in sorted({1.0, configured}):
        lines += ["", f"Reliability, T = {t:.2f}:", "", "| confidence | examples | mean confidence | accuracy |", "|---|---|---|---|"]
        lines += [f"| {name} | {n} | {c:.2f} | {a:.2f} |" for name, n, c, a in results[t]["bins"]]
    lines += threshold_lines(rankings, f"the configured T = {configured:.2f}")
    if best != configured:
        from components.confidence_calibration import rescale

        at_best = [(gold, list(zip([n for n, _ in r], rescale([p for _, p in r], best)))) for gold, r in raw]
        lines += threshold_lines(at_best, f"T = {best:.2f}, the NLL-optimal one")
    return lines


def threshold_lines(rankings, temperature: str) -> list[str]:
    """What the configured FlowAwareFallbackClassifier would do at other thresholds, on confidences at
    ``temperature``: fallbacks that catch a wrong intent vs fallbacks on a right one."""
    from rasa.shared.nlu.training_data.message import Message

    from components.intent_fallback import FlowAwareFallbackClassifier

    fallback = configured_fallback()
    if not fallback:
        return []
    base = {**FlowAwareFallbackClassifier.get_default_config(), **{k: v for k, v in fallback.items() if k != "name"}}
    lines = ["", f"Fallback thresholds on this split ({temperature}):", "",
             "| threshold | ambiguity | fallbacks | wrong intents caught | right intents lost | macro F1 as the bot acts |",
             "|---|---|---|---|---|---|"]
    settings = sorted({(base["threshold"], base["ambiguity_threshold"])} | {
        (t, a) for t in (0.3, 0.4, 0.5, 0.6) for a in (base["ambiguity_threshold"], 0.05, 0.2)})
    for threshold, ambiguity in settings:
        classifier = FlowAwareFallbackClassifier({**base, "threshold": threshold, "ambiguity_threshold": ambiguity})
        pairs, caught, lost, fell = [], 0, 0, 0
        for gold, ranking, *_ in rankings:
            if not ranking:
                continue
            intents = [{"name": n, "confidence": c} for n, c in ranking]
            [message] = classifier.process([Message(data={"text": "x", "intent": dict(intents[0]), "intent_ranking": intents})])
            name = message.get("intent")["name"]
            if name == "nlu_fallback":
                fell += 1
                caught += ranking[0][0] != gold
                lost += ranking[0][0] == gold
            pairs.append((gold, name))
        mark = " (configured)" if (threshold, ambiguity) == (base["threshold"], base["ambiguity_threshold"]) else ""
        lines.append(f"| {threshold:.2f}{mark} | {ambiguity:.2f} | {fell} | {caught} | {lost} | {macro_f1(pairs):.3f} |")
    return lines


def rescale_back(confidences: list[float], temperature: float) -> list[float]:
    from components.confidence_calibration import rescale

    return rescale(confidences, 1.0 / temperature)


_AVERAGES = {"accuracy", "macro avg", "weighted avg", "micro avg"}


def main(argv: list[str] | None = None) -> int:
    global CONFIG
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", type=Path, default=CONFIG, help="pipeline to evaluate (default: config.yml)")
    parser.add_argument("--nlu", type=Path, default=ROOT / "data" / "nlu", help="NLU data to split")
    parser.add_argument("--out", type=Path, default=OUT, help="report directory (default: results/nlu)")
    parser.add_argument("--reuse", action="store_true", help="keep the split, model and Rasa report of an earlier run in --out")
    args = parser.parse_args(argv)
    CONFIG = args.config.resolve()
    out = args.out.resolve()
    split_dir, model_dir, report_dir = out / "split", out / "model", out / "report"
    if not args.reuse:
        run(RASA, "data", "split", "nlu", "--nlu", str(args.nlu), "--training-fraction", "0.8",
            "--random-seed", SEED, "--out", str(split_dir))
        run(RASA, "train", "nlu", "--nlu", str(split_dir / "training_data.yml"), "--config", str(CONFIG),
            "--domain", "domain.yml", "--fixed-model-name", "heldout", "--out", str(model_dir), "--quiet")
        run(RASA, "test", "nlu", "--nlu", str(split_dir / "test_data.yml"), "--model", str(model_dir / "heldout.tar.gz"),
            "--out", str(report_dir), "--successes", "--no-plot")
    intents = json.loads((report_dir / "intent_report.json").read_text())
    responses_path = report_dir / "response_selection_report.json"
    responses = json.loads(responses_path.read_text()) if responses_path.exists() else {}
    languages = languages_of_examples(args.nlu)
    by_language = per_language(report_dir, languages)
    parsed = rankings_of_test_examples(model_dir / "heldout.tar.gz", split_dir / "test_data.yml")
    acted = [(gold, name) for gold, _, name, _ in parsed]
    acted_by_language: dict[str, list] = defaultdict(list)
    for gold, _, name, text in parsed:
        acted_by_language[languages.get(text, "?")].append((gold, name))
    gold = {g for g, _ in acted}
    extra = sorted(set(intents) - gold - _AVERAGES)
    fallbacks = sum(1 for _, name in acted if name == "nlu_fallback")
    lines = [
        "# NLU held-out evaluation (80/20 split, seed 42)",
        "",
        f"- pipeline: {CONFIG.relative_to(ROOT) if CONFIG.is_relative_to(ROOT) else CONFIG}",
        f"- intent accuracy (top intent): {intents['accuracy']:.3f}",
        f"- intent F1 of the top intent (Rasa's intent_report.json): **macro {intents['macro avg']['f1-score']:.3f}**, "
        f"weighted {intents['weighted avg']['f1-score']:.3f}; over the {len(gold)} gold intents: "
        f"macro {gold_macro_f1(intents, gold):.3f} (labels only predicted: {', '.join(extra) or 'none'}; "
        "`rasa test nlu` undoes fallback predictions, so nlu_fallback is never one)",
        f"- intent macro F1 as the bot acts (a fallback is a miss of the gold intent): **{macro_f1(acted):.3f}**, "
        f"accuracy {sum(g == p for g, p in acted) / len(acted):.3f}; {fallbacks}/{len(acted)} test examples fell back",
    ]
    if responses:
        lines.append(f"- faq response selection F1 weighted: {responses['weighted avg']['f1-score']:.3f}")
    for language, scores in by_language.items():
        mine = acted_by_language.get(language, [])
        lines.append(
            f"- {language}: {scores['examples']} examples, accuracy {scores['accuracy']:.3f}, macro F1 {scores['macro_f1']:.3f}"
            + (f" (as the bot acts: {macro_f1(mine):.3f})" if mine else "")
        )
    lines.append(f"- trained model (80 % of the data): {(model_dir / 'heldout.tar.gz').stat().st_size / 1e6:.1f} MB")
    lines += ["", "| intent | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    for name, row in sorted(intents.items()):
        if isinstance(row, dict) and "support" in row and name not in _AVERAGES:
            lines.append(f"| {name} | {row['precision']:.2f} | {row['recall']:.2f} | {row['f1-score']:.2f} | {row['support']} |")
    lines += confusions(acted)
    lines += calibration_lines(parsed)
    summary = "\n".join(lines) + "\n"
    (out / "summary.md").write_text(summary)
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
