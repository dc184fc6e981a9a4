"""A mail body (plain text) -> what the guest wrote in it: quoted history and signatures removed.

Why our own rules and not a library: measured on the shared public corpus
(benchmarks/mail_corpus.py, figures in docs/gmail.md) none of talon,
email-reply-parser or mail-parser-reply is good on every kind of mail, talon
needs a 2019 scikit-learn, and none knows Spanish clients well.

How a body is read, line by line:

- A *quote header* ("On … wrote:", "El … escribió:", "Den … skrev:",
  "26.06.2014, 14:41, "Ana" <a@x>:", "---- On … wrote ----"…) is one line, or
  at most four lines with no blank line between them that end with the
  header's verb or a colon after an address. A guest's own first line that
  merely starts like one ("On arrival we…", "El martes llegamos…") never ends
  like one, so it stays.
- If the lines under a header are ``>``-quoted, the header and the quote are
  dropped and the guest's text between and after the quoted blocks is kept
  (bottom-posting and interleaved replies).
- If they are not quoted (Outlook, Gmail's HTML turned into text), everything
  from the header on is the old message: cut. So are a block of two or more
  "From:/Sent:/To:/Subject:" lines in any of the languages below, an
  "-----Original Message-----" style separator, and a rule of 20 or more
  characters under the guest's text (clients' separators, list footers).
- Signatures: a "-- " line and what follows; a short trailing
  "Sent from my iPhone" / "Enviado desde mi Samsung" / "Envoyé depuis mon
  iPhone" / "Get Outlook for Android" line (with a name line just above it);
  a trailing contact block (name, then e-mail/phone/web lines); a trailing
  "-Name" line. Closings such as "Thanks,\\nAlex" are the guest's and stay.
- A pure forward (nothing written above "Forwarded message") gives the
  forwarded text, so the hotel still reads what the guest sent.
"""
from __future__ import annotations

import re
from typing import List, Optional, Tuple

# Verbs that end "<someone> wrote:" in the languages our guests and their clients use.
WROTE = (
    r"wrote|writes|escribi[óo]|escreveu|a\s+[ée]crit|schrieb|ha\s+scritto|scrisse|schreef|skrev(?:\s+følgende)?|følgende"
    r"|skrifaði|kirjoitti|napisa[łl](?:a|\(a\))?|napsal(?:a|\(a\))?|pisze|написал(?:а|и|\(а\))?|пишет|yazd[ıi]"
    r"|írta|va\s+escriure|έγραψε|写道|寫道|のメッセージ|작성"
)
HEADER_END = re.compile(rf"(?:{WROTE})\s*[:：]?\s*(?:-{{2,}})?\s*$|[\w.+-]+@[\w-]+(?:\.[\w-]+)+\s*>?\s*\)?\s*[:：]\s*$", re.I)
WROTE_END = re.compile(rf"(?:{WROTE})\s*[:：]?\s*(?:-{{2,}})?\s*$", re.I)
HEADER_START = re.compile(
    r"^[\s>*\-]*(?:On|Am|El|Em|Le|Il|Op|Den|Dne|På|Pe|W\s+dniu|\d|\(?\w{2,4}\.?,?\s+\d|[月火水木金土日]|\w+\s+\d{1,2})", re.I
)
DATE_OR_TIME = re.compile(r"\d{1,2}[:.]\d{2}|\d{4}|\d{1,2}[./-]\d{1,2}[./-]\d{2}", re.I)
ADDRESS = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")

FIELD_NAMES = (
    r"From|Sent|Date|To|Cc|Subject|Reply-To"
    r"|De|Enviado(?:\s+el)?|Fecha|Para|Asunto|Envoy[ée]|[ÀA]|Objet|Date\s+d'envoi"
    r"|Von|Gesendet|An|Betreff|Datum|Da|Inviato|Oggetto|Data"
    r"|Van|Verzonden|Aan|Onderwerp|Fra|Sendt|Til|Emne|Från|Skickat|Till|Ämne"
    r"|Od|Wys[łl]ano|Do|Temat|От|Отправлено|Дата|Кому|Тема|差出人|送信日時|宛先|件名"
)
FIELD_LINE = re.compile(rf"^\s*[*_]?(?:{FIELD_NAMES})[*_]?\s?[:：][*_]?(?:\s|$)", re.I)
DATE_OR_SUBJECT_FIELD = re.compile(
    r"^\s*[*_]?(?:Sent|Date|Subject|Enviado(?:\s+el)?|Fecha|Asunto|Envoy[ée]|Objet|Date\s+d'envoi|Gesendet|Betreff"
    r"|Datum|Inviato|Oggetto|Data|Verzonden|Onderwerp|Sendt|Emne|Skickat|Ämne|Wys[łl]ano|Temat|Отправлено|Дата"
    r"|Тема|送信日時|件名)[*_]?\s?[:：]",
    re.I,
)
INLINE_DATE_FIELD = re.compile(
    r"\s[*_]?(?:Sent|Date|Enviado(?:\s+el)?|Fecha|Envoy[ée]|Gesendet|Datum|Inviato|Verzonden|Sendt|Skickat)[*_]?\s?:\s*\S"
    r".*\s[*_]?(?:To|Para|[ÀA]|An|Aan|Til|Till|Subject|Asunto|Objet|Betreff|Oggetto|Onderwerp|Emne|Ämne)[*_]?\s?:",
    re.I,
)
FROM_FIELD = re.compile(r"^\s*[*_]?(?:From|De|Von|Van|Fra|Från|Da|Od|От|差出人)[*_]?\s?[:：]", re.I)

FORWARD_NAMES = (
    r"Forwarded message|Forwarded|Mensaje reenviado|Message transf[ée]r[ée]|Weitergeleitete Nachricht"
    r"|Doorgestuurd bericht|Videresendt meddelelse|Vidarebefordrat meddelande|Messaggio inoltrato"
    r"|Mensagem encaminhada|Mensaje original|Original Message|Message d'origine|Ursprüngliche Nachricht"
    r"|Messaggio originale|Oorspronkelijk bericht|Oprindelig meddelelse|Ursprungligt meddelande"
    r"|Opprinnelig melding|Mensagem original|Исходное сообщение|Пересылаемое сообщение|元のメッセージ"
)
SEPARATOR = re.compile(rf"^\s*[-=_*]{{2,}}\s*(?:{FORWARD_NAMES})\s*[-=_*]{{2,}}\s*$", re.I)
FORWARD = re.compile(r"(?:Forward|reenviado|transf[ée]r|Weitergeleitet|Doorgestuurd|Videresendt|Vidarebefordrat"
                     r"|inoltrato|encaminhada|Пересылаемое)|^\s*Begin forwarded message\s*:", re.I)
BEGIN_FORWARD = re.compile(r"^\s*(?:Begin forwarded message|Inicio del mensaje reenviado|Début du message réexpédié)\s*:\s*$", re.I)
RULE = re.compile(r"^\s*(?:[-_=]\s?){8,}\s*$")
LONG_RULE = re.compile(r"^\s*(?:-{20,}|_{20,}|={20,}|\*{20,})\s*$")
SIG_DASHES = re.compile(r"^(?:--|-- |—|__)\s*$")

DEVICE_TAIL = r"[\w®™'’. -]{2,40}"
DEVICE = re.compile(
    r"^\s*(?:"
    r"(?:Sent|Enviado|Envoy[ée]|Inviato|Verzonden|Verstuurd|Sendt|Skickat|Gesendet|Wys[łl]ane|Отправлено|Lähetetty|Odesláno)"
    r"\s+(?:from|with|via|using|on|desde|con|do|de|pelo|depuis|avec|à\s+partir\s+de|da|dal|dall'|vanaf|met|fra|från"
    r"|von|z|с|из)\s+(?:my|mi|meu|o\s+meu|el|la|mon|ma|il\s+mio|mio|mijn|min|meinem|mojego|moje)?\s*" + DEVICE_TAIL +
    r"|Get\s+Outlook\s+for\s+\w+|Obtener\s+Outlook\s+para\s+\w+|Télécharger\s+Outlook\s+pour\s+\w+"
    r"|Outlook\s+für\s+\w+\s+herunterladen|Scarica\s+Outlook\s+per\s+\w+|Baixe\s+o\s+Outlook\s+para\s+\w+"
    r"|Von\s+meinem\s+" + DEVICE_TAIL + r"\s+gesendet|Lähetetty\s+\w+(?:sta|stä)|\w+\s*から送信"
    r"|via\s+(?:mobile|iPhone|Android|BlackBerry)"
    r")\s*(?:<[^<>\s]+>)?\s*$",
    re.I,
)
NAME_LINE = re.compile(r"^\s*[-/–—]?\s*[A-ZÀ-Ý][\w'’.-]*(?:\s+[A-ZÀ-Ý][\w'’.-]*){0,3}\s*$")
DASH_NAME = re.compile(r"^\s*[-–—][A-ZÀ-Ý][\w'’.-]*(?:\s+[\w'’.-]+){0,3}\s*$")  # "-Abhishek Kona"
TITLE = re.compile(
    r"\b(?:Director|Directora|Manager|Gerente|CEO|CFO|CTO|COO|Founder|Fundador|Owner|Head|Jefe|Jefa|Responsable"
    r"|Coordinador|Coordinadora|Assistant|Asistente|Secretar[iy]a?|Consultant|Consultor|Consultora|Engineer"
    r"|Ingeniero|Ingeniera|Sales|Ventas|Marketing|Compras|Purchasing|Recursos Humanos|HR|Abogad[oa]|Lawyer"
    r"|Dr\.|Prof\.|S\.L\.U?|S\.A\.|Ltd\.?|GmbH|Inc\.?|LLC|B\.V\.|S\.r\.l\.|SAS|Dpto\.|Department|Departamento)\b",
)
CONTACT = re.compile(
    r"[\w.+-]+@[\w-]+\.\w+|(?:https?://|www\.)\S+|^\s*(?:[a-z]{1,6}\.?\s*:?\s*)?\+?\(?\d[\d ()./-]{6,}\d\s*$"
    r"|^\s*(?:t|f|m|tel|phone|fax|mobile|móvil|skype)\b",
    re.I,
)


# Bodies longer than this get the channel's "please write it shorter" answer
# (GMAIL_MAX_BODY_CHARS, 20,000 by default) and Rasa never sees them: only this
# much is read, so a 10 MiB body costs no more than a long one.
MAX_CHARS = 200_000
MAX_FORWARDS = 3  # a forward of a forward of a forward: deeper nesting is read as it stands


def reply_text(body: str) -> str:
    """What the guest wrote in ``body`` (plain text)."""
    body = (body or "")[:MAX_CHARS]
    for _ in range(MAX_FORWARDS + 1):
        lines = body.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ").replace("\ufeff", "").split("\n")
        kept, forwarded = _without_history(lines)
        text = _tidy(_without_signature(kept))
        if text or forwarded is None:
            return text
        body = "\n".join(_after_fields(forwarded))  # a pure forward: what was forwarded
    return text


# -- quoted history --------------------------------------------------------------------


def _without_history(lines: List[str]) -> Tuple[List[str], Optional[List[str]]]:
    """The guest's lines; and, when the cut was a forward, the forwarded lines."""
    kept: List[str] = []
    index, wrote = 0, False
    while index < len(lines):
        line = lines[index]
        if _quoted(line):
            index += 1
            continue
        if SIG_DASHES.match(line):
            kept.extend(lines[index:])  # the signature step removes it; a header inside stays out of reach
            break
        header_end = _quote_header(lines, index)
        if header_end is not None:
            after = _next_text(lines, header_end)
            if after is not None and _quoted(lines[after]):
                index = after  # a quoted block follows: the guest may write under it
                continue
            if _dated(lines[index:header_end]):  # an unquoted old message follows: cut, on firm evidence only
                return kept, (lines[header_end:] if _is_forward(lines[index:header_end]) else None)
        if SEPARATOR.match(line) or BEGIN_FORWARD.match(line):
            return kept, (lines[index + 1:] if FORWARD.search(line) else None)
        if _field_block(lines, index):
            return kept, None
        if RULE.match(line) and _contact_rows(_rows_after(lines, index + 1, 13), at_least=1):
            return kept, None  # a rule, then a short block with an address or a link: a signature or list footer
        if wrote and LONG_RULE.match(line) and _next_text(lines, index + 1) is not None:
            return kept, None  # a client's separator (Outlook's 32 underscores, list footers) under the guest's text
        kept.append(line)
        wrote = wrote or bool(line.strip())
        index += 1
    return kept, None


def _rows_after(lines: List[str], index: int, limit: int) -> List[str]:
    """Up to ``limit`` non-blank lines from ``index`` on (bounded work on huge bodies)."""
    rows: List[str] = []
    while index < len(lines) and len(rows) < limit:
        if lines[index].strip():
            rows.append(lines[index])
        index += 1
    return rows


def _quoted(line: str) -> bool:
    return line.lstrip().startswith(">")


def _next_text(lines: List[str], index: int) -> Optional[int]:
    while index < len(lines) and not lines[index].strip():
        index += 1
    return index if index < len(lines) else None


def _quote_header(lines: List[str], index: int) -> Optional[int]:
    """End (exclusive) of a quote header starting at ``index``, or None."""
    first = lines[index]
    if not first.strip():
        return None
    if not HEADER_START.match(first):  # "Ana <a@x> 于2025年3月3日 10:00写道：": a name first, all on one line
        one_line = WROTE_END.search(first) and ADDRESS.search(first) and DATE_OR_TIME.search(first)
        return index + 1 if one_line and len(first) <= 300 else None
    joined = ""
    for end in range(index, min(index + 4, len(lines))):
        line = lines[end]
        if not line.strip() or (end > index and _quoted(line)):
            return None
        joined = f"{joined} {line.strip()}".strip()
        if len(joined) > 300:
            return None
        if HEADER_END.search(line) and _header_like(joined):
            return end + 1
    return None


def _header_like(joined: str) -> bool:
    """Ends with "wrote" (any language), or names a date or time and an address before its colon."""
    if WROTE_END.search(joined):
        return len(joined.split()) <= 40
    return bool(DATE_OR_TIME.search(joined) and ADDRESS.search(joined))


def _dated(header_lines: List[str]) -> bool:
    """Firm evidence that a header is one: a date, a time or an address in it."""
    joined = " ".join(line.strip() for line in header_lines)
    return bool(DATE_OR_TIME.search(joined) or ADDRESS.search(joined))


def _is_forward(header_lines: List[str]) -> bool:
    return any(FORWARD.search(line) for line in header_lines)


def _field_block(lines: List[str], index: int) -> bool:
    """Two or more header fields in a row: "From" and a date or subject ("De: Madrid / A: Sevilla" is
    a guest's transfer, not a header); blank lines and one
    wrapped continuation line per field (Outlook's HTML) are allowed between them."""
    fields, has_from, has_date, cursor, continued = 0, False, False, index, True
    while cursor < len(lines) and fields < 6:
        line = lines[cursor]
        if not line.strip():
            if fields == 0:
                return False
        elif FIELD_LINE.match(line):
            fields += 1
            has_from = has_from or bool(FROM_FIELD.match(line))
            has_date = has_date or bool(DATE_OR_SUBJECT_FIELD.match(line))
            if FROM_FIELD.match(line) and INLINE_DATE_FIELD.search(line):  # "From: X Sent: Monday… To: …" on one line
                return True
            continued = False
        elif fields and not continued and len(line) <= 100:
            continued = True
        else:
            break
        cursor += 1
    return fields >= 2 and has_from and has_date


def _after_fields(lines: List[str]) -> List[str]:
    """A forwarded message without its From:/Date:/Subject: lines."""
    index = _next_text(lines, 0) or 0
    while index < len(lines) and (FIELD_LINE.match(lines[index]) or not lines[index].strip()):
        index += 1
    return lines[index:]


# -- signatures ------------------------------------------------------------------------


def _without_signature(lines: List[str]) -> List[str]:
    for index, line in enumerate(lines):
        if SIG_DASHES.match(line):
            lines = lines[:index]
            break
    lines = _trim(lines)
    if not lines:
        return lines
    last = len(lines) - 1
    if DEVICE.match(lines[last]) and len(lines[last].split()) <= 8:
        start = last
        if start > 0 and NAME_LINE.match(lines[start - 1]) and not _ends_sentence(lines[start - 1]):
            start -= 1
        if start > 0 or last == 0:
            return _trim(lines[:start]) if start > 0 else lines
    block = _signature_block(lines)
    if block is not None:
        return _trim(lines[:block])
    if last > 0 and DASH_NAME.match(lines[last]) and not _bullet(_previous_text(lines, last)):
        return _trim(lines[:last])
    return lines


def _previous_text(lines: List[str], index: int) -> str:
    for line in reversed(lines[:index]):
        if line.strip():
            return line
    return ""


def _bullet(line: str) -> bool:
    return bool(re.match(r"^\s*[-*•–]\s", line))


def _ends_sentence(line: str) -> bool:
    return line.rstrip().endswith((".", "!", "?", ",", ":"))


def _signature_block(lines: List[str]) -> Optional[int]:
    """Start of a trailing name + title/company/contact block, or None. It starts
    at a name line inside the last paragraph (a closing such as "Un saludo," above
    it stays); every line under the name is short and unpunctuated, and one names a
    title or company, or two are an address, a phone or a web address."""
    start = len(lines)
    while start > 0 and lines[start - 1].strip():
        start -= 1
    for name in range(start, len(lines) - 1):
        if not NAME_LINE.match(lines[name]) or _ends_sentence(lines[name]):
            continue
        under = [line for line in lines[name + 1:] if line.strip()]
        if not under or len(under) > 10 or any(len(line) > 80 for line in under):
            return None
        if name == 0 and start == 0:
            return None  # nothing but the block: keep it, it is all the guest wrote
        titled = any(TITLE.search(line) and not _ends_sentence(line) and len(line) <= 60 for line in under)
        if titled or _contact_rows(under):
            return name
        return None
    return None


def _contact_rows(block: List[str], at_least: int = 2) -> bool:
    """Short lines (at most 12), ``at_least`` of them an address, a phone number or a web address."""
    rows = [line for line in block if line.strip()]
    if not rows or len(rows) > 12 or any(len(row) > 80 for row in rows):
        return False
    return sum(1 for row in rows if CONTACT.search(row)) >= at_least


# -- layout --------------------------------------------------------------------------------


def _trim(lines: List[str]) -> List[str]:
    end = len(lines)
    while end and (not lines[end - 1].strip() or RULE.match(lines[end - 1])):
        end -= 1
    return lines[:end]


def _tidy(lines: List[str]) -> str:
    text = "\n".join(line.rstrip() for line in _trim(lines))
    return re.sub(r"\n{3,}", "\n\n", text).strip()
