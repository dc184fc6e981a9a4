"""Reply extraction on a public mail corpus: the project vs three maintained parsers.

Scores ``connectors/gmail/normalise.py`` (``parse_raw(raw).text``, what a guest's
mail becomes before Rasa sees it) on every sample of a corpus directory laid
out like ../shared/corpora/mail (``index.json`` with ``id``, ``source``,
``expected``, ``also_ok``, ``eml_file``), side by side with the anchors:

- talon 1.4.4 (mailgun): ``quotations.extract_from`` + ``signature.extract``
  (its ML signature model); it needs an old scientific stack, so its venv is
  made with Python 3.8 (pyenv's, or ``--talon-python``) and numpy 1.21.6,
  scipy 1.7.3, scikit-learn 0.22.2.post1 (``sklearn.externals.joblib``);
- email-reply-parser 0.5.12 (zapier/github port): ``EmailReplyParser.parse_reply``;
- mail-parser-reply 1.36: ``EmailReplyParser(languages=<all it knows>).parse_reply``.

Each anchor lives in its own venv that this script makes on first use under
``--venvs`` (never a project dependency) and runs in a subprocess. Every
parser gets the same input: the message's first text/plain part decoded by
its charset, or for HTML-only mail the HTML (talon reads HTML itself; the two
plain-text parsers get it flattened by a neutral HTML-to-text converter that
drops nothing). The project reads the raw message itself.

A result is exact when, after collapsing whitespace, it equals ``expected``
or one of ``also_ok``; "empty" counts outputs with no text where the
expected reply has some.

    .venv/bin/python benchmarks/mail_corpus.py [CORPUS_DIR] [--failures] [--only project]
"""
from __future__ import annotations

import argparse
import email
import email.policy
import glob
import json
import os
import subprocess
import sys
import venv
from collections import defaultdict
from html.parser import HTMLParser
from pathlib import Path
from typing import Dict, List, Optional

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from connectors.gmail import normalise  # noqa: E402

DEFAULT_CORPUS = ROOT.parent / "shared" / "corpora" / "mail"
DEFAULT_VENVS = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "hotel-mail-anchors"

ANCHORS = {
    "talon": {
        "packages": ["talon==1.4.4", "numpy==1.21.6", "scipy==1.7.3", "scikit-learn==0.22.2.post1"],
        "python": "3.8",
        "code": """
import json, sys, warnings
warnings.filterwarnings("ignore")
import talon
talon.init()
from talon import quotations, signature
from talon.utils import html_to_text
out = {}
for s in json.load(sys.stdin):
    try:
        if s["html"]:
            reply = quotations.extract_from_html(s["body"])
            reply = html_to_text(reply) or b""
            reply = reply.decode("utf-8") if isinstance(reply, bytes) else reply
        else:
            reply = quotations.extract_from_plain(s["body"])
        text, _sig = signature.extract(reply, sender=s["sender"] or "someone@example.com")
        out[s["id"]] = text
    except Exception as exc:
        out[s["id"]] = {"error": repr(exc)}
json.dump(out, sys.stdout)
""",
    },
    "email-reply-parser": {
        "packages": ["email-reply-parser==0.5.12"],
        "python": None,
        "code": """
import json, sys
from email_reply_parser import EmailReplyParser
out = {}
for s in json.load(sys.stdin):
    try:
        out[s["id"]] = EmailReplyParser.parse_reply(s["flat"])
    except Exception as exc:
        out[s["id"]] = {"error": repr(exc)}
json.dump(out, sys.stdout)
""",
    },
    "mail-parser-reply": {
        "packages": ["mail-parser-reply==1.36"],
        "python": None,
        "code": """
import json, sys
from mailparser_reply import EmailReplyParser
from mailparser_reply.constants import MAIL_LANGUAGES
parser = EmailReplyParser(languages=[l for l in MAIL_LANGUAGES if l != "david"])
out = {}
for s in json.load(sys.stdin):
    try:
        out[s["id"]] = parser.parse_reply(s["flat"]) or ""
    except Exception as exc:
        out[s["id"]] = {"error": repr(exc)}
json.dump(out, sys.stdout)
""",
    },
}


class _Flatten(HTMLParser):
    """All text of an HTML document, block tags as line breaks (nothing hidden)."""

    BLOCKS = {"p", "div", "br", "li", "tr", "table", "blockquote", "hr", "h1", "h2", "h3", "h4", "h5", "h6"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: List[str] = []
        self.skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style", "head", "title"):
            self.skip += 1
        if tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in ("script", "style", "head", "title"):
            self.skip = max(0, self.skip - 1)
        if tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(data)


def flatten_html(html: str) -> str:
    parser = _Flatten()
    parser.feed(html)
    parser.close()
    return "\n".join(" ".join(line.split()) for line in "".join(parser.parts).splitlines()).strip()


def anchor_input(sample_id: str, raw: bytes) -> Dict[str, object]:
    """The first text/plain part (else the first text/html part), decoded by its charset."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    plain = html = None
    for part in message.walk():
        if part.is_multipart() or part.get_content_disposition() == "attachment":
            continue
        kind = part.get_content_type()
        if kind == "text/plain" and plain is None:
            plain = str(part.get_content())
        elif kind == "text/html" and html is None:
            html = str(part.get_content())
    sender = email.utils.parseaddr(str(message.get("From") or ""))[1]
    if plain is not None:
        return {"id": sample_id, "html": False, "body": plain, "flat": plain, "sender": sender}
    html = html or ""
    return {"id": sample_id, "html": True, "body": html, "flat": flatten_html(html), "sender": sender}


def squash(text: Optional[str]) -> str:
    return " ".join((text or "").split())


def find_python(version: Optional[str], override: Optional[str]) -> str:
    if override:
        return override
    if not version:
        return sys.executable if sys.version_info >= (3, 8) else "python3"
    candidates = [f"python{version}"] + sorted(glob.glob(str(Path.home() / f".pyenv/versions/{version}*/bin/python")))
    for candidate in candidates:
        try:
            subprocess.run([candidate, "--version"], check=True, capture_output=True)
            return candidate
        except (OSError, subprocess.CalledProcessError):
            continue
    raise RuntimeError(f"no Python {version} found (give --talon-python)")


def ensure_venv(name: str, spec: dict, venvs: Path, talon_python: Optional[str]) -> Path:
    """The anchor's venv, made and filled on first use; a marker records the pins."""
    home = venvs / name
    marker = home / ".installed"
    python = home / "bin" / "python"
    pins = " ".join(spec["packages"])
    if marker.exists() and marker.read_text() == pins:
        return python
    base = find_python(spec["python"], talon_python if name == "talon" else None)
    print(f"[setup] {name}: venv with {base}: {pins}", file=sys.stderr)
    if base == sys.executable:
        venv.EnvBuilder(with_pip=True, clear=True).create(home)
    else:
        subprocess.run([base, "-m", "venv", "--clear", str(home)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", *spec["packages"]], check=True)
    marker.write_text(pins)
    return python


def run_anchor(name: str, python: Path, inputs: List[dict]) -> Dict[str, object]:
    done = subprocess.run([str(python), "-c", ANCHORS[name]["code"]], input=json.dumps(inputs),
                          capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"{name} failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout)


def project_output(raw: bytes) -> str:
    return normalise.parse_raw(raw).text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("corpus", nargs="?", default=str(DEFAULT_CORPUS))
    parser.add_argument("--venvs", default=str(DEFAULT_VENVS), help="where the anchors' venvs are made")
    parser.add_argument("--talon-python", help="a Python 3.8 interpreter for talon's venv")
    parser.add_argument("--only", choices=["project", *ANCHORS], action="append", help="score only these")
    parser.add_argument("--failures", action="store_true", help="print the project's misses")
    args = parser.parse_args()

    corpus = Path(args.corpus)
    samples = json.loads((corpus / "index.json").read_text())
    raws = {s["id"]: (corpus / s["eml_file"]).read_bytes() for s in samples}
    names = args.only or ["project", *ANCHORS]

    outputs: Dict[str, Dict[str, object]] = {}
    if "project" in names:
        outputs["project"] = {sid: project_output(raw) for sid, raw in raws.items()}
    inputs = [anchor_input(sid, raw) for sid, raw in raws.items()]
    for name in names:
        if name == "project":
            continue
        try:
            python = ensure_venv(name, ANCHORS[name], Path(args.venvs), args.talon_python)
            outputs[name] = run_anchor(name, python, inputs)
        except (RuntimeError, subprocess.CalledProcessError, OSError) as exc:
            print(f"[skip] {name}: could not be installed or run: {exc}", file=sys.stderr)

    exact: Dict[str, Dict[str, int]] = defaultdict(lambda: defaultdict(int))
    empty: Dict[str, int] = defaultdict(int)
    errors: Dict[str, int] = defaultdict(int)
    totals: Dict[str, int] = defaultdict(int)
    misses: List[str] = []
    for sample in samples:
        sid, source = sample["id"], sample["source"]
        totals[source] += 1
        accepted = {squash(sample["expected"])} | {squash(a["text"] if isinstance(a, dict) else a) for a in sample.get("also_ok") or []}
        for name, out in outputs.items():
            value = out.get(sid, "")
            if isinstance(value, dict):
                errors[name] += 1
                value = ""
            got = squash(value)
            if got in accepted:
                exact[name][source] += 1
                exact[name]["overall"] += 1
            elif name == "project":
                misses.append(f"--- {sid}\nexpected: {sample['expected']!r}\n     got: {value!r}")
            if not got and squash(sample["expected"]):
                empty[name] += 1

    columns = list(outputs)
    sources = sorted(totals)
    print("| source | samples | " + " | ".join(columns) + " |")
    print("|---|---|" + "---|" * len(columns))
    for source in sources + ["overall"]:
        n = sum(totals.values()) if source == "overall" else totals[source]
        cells = [f"{exact[c][source]}/{n} ({100 * exact[c][source] / n:.0f} %)" for c in columns]
        label = f"**{source}**" if source == "overall" else source
        print(f"| {label} | {n} | " + " | ".join(cells) + " |")
    print("| empty where text was expected | | " + " | ".join(str(empty[c]) for c in columns) + " |")
    if any(errors.values()):
        print("| parser errors | | " + " | ".join(str(errors[c]) for c in columns) + " |")
    if args.failures:
        print("\n".join(misses))
    return 0


if __name__ == "__main__":
    sys.exit(main())
