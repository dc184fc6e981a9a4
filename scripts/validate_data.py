"""`rasa data validate`, failing on every warning except two that Rasa 3.6
raises for correct projects, each checked here instead:

* "duplicated intents ... faq": Rasa merges the retrieval intent found in the
  NLU data into the domain that already lists it (it must be listed there).
* "The utterance 'utter_x' is not used in any story or rule": accepted only when
  a custom action sends that response (``response="utter_x"`` in actions/, or a
  form's ``not_understood(..., "utter_x")``) or
  it is a form question (utter_ask_<slot> for a slot some form requires).
* "The intent 'EXTERNAL_x' is listed in the domain file, but is not found in
  the NLU training data": guests never say EXTERNAL_ intents, the action server
  triggers them through Rasa's HTTP API (EXTERNAL_saved_request), so they have
  no examples by design; accepted only when a rule in data/rules.yml handles it.

It also fails when an action sends a response that domain.yml does not define.
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
WARNING = re.compile(r"UserWarning: (.*?)(?:\n\s+More info at|\n\x1b|\n\d{4}-|\Z)", re.S)
UNUSED = re.compile(r"The utterance '([^']+)' is not used in any story or rule\.")
EXTERNAL_WITHOUT_EXAMPLES = re.compile(
    r"The intent '(EXTERNAL_\w+)' is listed in the domain file, but is not found in the NLU training data\."
)
RETRIEVAL_MERGE = "The following duplicated intents have been found across multiple domain files: faq"


def responses_sent_by_actions() -> set[str]:
    sent = set()
    for path in [*(ROOT / "actions").rglob("*.py"), *(ROOT / "connectors").rglob("*.py")]:  # connectors/safeguards.py too
        source = path.read_text(encoding="utf-8")
        sent.update(re.findall(r"response=\"(utter_[a-z0-9_/]+)\"", source))
        # a form's answer to a failed slot (actions/stay_form.not_understood(dispatcher, tracker, slot, "utter_x"))
        sent.update(re.findall(r"not_understood\([^()]*?\"(utter_[a-z0-9_/]+)\"", source))
    return sent


def form_questions() -> set[str]:
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    slots = {slot for form in domain.get("forms", {}).values() for slot in form.get("required_slots", [])}
    return {f"utter_ask_{slot}" for slot in slots}


def intents_handled_by_rules() -> set[str]:
    rules = yaml.safe_load((ROOT / "data" / "rules.yml").read_text(encoding="utf-8")).get("rules", [])
    return {step["intent"] for rule in rules for step in rule.get("steps", []) if "intent" in step}


def main() -> int:
    proc = subprocess.run(
        [str(ROOT / ".venv/bin/rasa"), "data", "validate"], cwd=ROOT, capture_output=True, text=True
    )
    output = proc.stdout + proc.stderr
    if proc.returncode != 0:
        print(output)
        print(f"rasa data validate exited with {proc.returncode}")
        return 1
    allowed = responses_sent_by_actions() | form_questions()
    problems = []
    for warning in (w.strip() for w in WARNING.findall(output)):
        if warning == RETRIEVAL_MERGE:
            continue
        unused = UNUSED.fullmatch(warning)
        if unused and unused.group(1) in allowed:
            continue
        external = EXTERNAL_WITHOUT_EXAMPLES.fullmatch(warning)
        if external and external.group(1) in intents_handled_by_rules():
            continue
        problems.append(warning)
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    for missing in sorted(responses_sent_by_actions() - set(domain.get("responses", {}))):
        problems.append(f"actions send {missing!r}, which domain.yml does not define")
    if problems:
        print("rasa data validate warnings:")
        for problem in problems:
            print(f"  - {problem}")
        return 1
    print("rasa data validate: clean (responses sent only by actions checked against actions/)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
