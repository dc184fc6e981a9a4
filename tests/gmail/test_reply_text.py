"""What the guest wrote, by kind of mail: our own fixtures, one per kind of case the
public corpus showed (benchmarks/mail_corpus.py measures the corpus itself)."""
from __future__ import annotations

import pytest

from connectors.gmail import normalise
from connectors.gmail.api import b64url_encode
from connectors.gmail.reply_text import reply_text
from tests.gmail.conftest import mail

HOTEL = "Hotel Mirador <reservas@hotel-mirador.example>"


# -- a first line that starts like a quote header -----------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        "El martes llegamos a las 22:00, ¿hay alguien en recepción?\nGracias",
        "On arrival we will need a cot for the baby.\n\nThanks,\nTom",
        "Am Montag kommen wir um 14 Uhr an.\nGibt es Parkplätze?",
        "On Monday 3 March we arrive, my wife wrote the dates below:\n3-6 March",
    ],
)
def test_a_guest_line_that_starts_like_a_header_is_kept(body):
    assert reply_text(body) == body


def test_a_header_never_runs_across_blank_lines_into_the_guest_text():
    body = (
        "On arrival we need parking.\n\nEl lun, 3 mar 2025 a las 10:00, " + HOTEL + " escribió:\n"
        "> ¿Algo más?\n> Gracias"
    )
    assert reply_text(body) == "On arrival we need parking."


# -- bottom-posting and interleaved replies -----------------------------------------------------


def test_a_reply_written_under_the_quote_is_kept():
    body = f"El lun, 3 mar 2025 a las 10:00, {HOTEL} escribió:\n> ¿Cuántas noches?\n>\n\nTres noches, del 3 al 6."
    assert reply_text(body) == "Tres noches, del 3 al 6."


def test_interleaved_answers_are_kept_in_order():
    body = (
        f"On Mon, 3 Mar 2025 at 10:00, {HOTEL} wrote:\n\n"
        "> How many guests?\n\nTwo adults.\n\n> Do you need parking?\n>\n\nYes, one car.\n\n"
        "> Kind regards\n> -- \n> Reception\n"
    )
    assert reply_text(body) == "Two adults.\n\nYes, one car."


def test_a_greeting_above_the_header_and_the_answer_under_the_quote_are_both_kept():
    body = f"Hola,\nOn Mon, 3 Mar 2025 at 10:00, {HOTEL} wrote:\n> How many nights?\n\nThree.\n\n> --\n> Reception"
    assert reply_text(body) == "Hola,\n\nThree."


def test_a_mailing_list_footer_under_the_quote_is_not_the_guest_text():
    body = f"Three nights.\n\nOn Mon, 3 Mar 2025, {HOTEL} wrote:\n> How many?\n\n" + "_" * 40 + "\nlist footer\nhttp://x"
    assert reply_text(body) == "Three nights."


# -- signatures without "-- " --------------------------------------------------------------------


@pytest.mark.parametrize(
    "device",
    [
        "Enviado desde mi Samsung Galaxy",
        "Sent from Outlook for Android",
        "Envoyé depuis mon iPhone",
        "Von meinem iPhone gesendet",
        "Inviato da iPhone",
        "Enviado do meu iPhone",
        "Get Outlook for iOS<https://aka.ms/o0ukef>",
        "Sent from my BlackBerry® wireless device",
        "Skickat från min iPhone",
    ],
)
def test_device_signatures_are_removed(device):
    assert reply_text(f"¿Tenéis cuna para bebé?\n\n{device}") == "¿Tenéis cuna para bebé?"


def test_a_sentence_that_starts_like_a_device_signature_is_kept():
    body = "We booked two nights.\n\nSent from my desk, which is easier than from my phone."
    assert reply_text(body) == body
    assert reply_text("Paid by transfer.\nSent the receipt yesterday") == "Paid by transfer.\nSent the receipt yesterday"


def test_a_name_above_a_device_line_goes_with_it():
    assert reply_text("Can we check in early?\n\nStavros Papas\nvia mobile") == "Can we check in early?"


def test_a_name_and_title_block_is_removed_and_the_closing_kept():
    body = "Necesitamos factura a nombre de la empresa.\n\nUn saludo,\nLucía García\nDirectora de compras\nAcme S.L."
    assert reply_text(body) == "Necesitamos factura a nombre de la empresa.\n\nUn saludo,"


def test_a_contact_block_is_removed():
    body = "Please confirm the booking.\n\nGina Rossi\ngina@example.com\n(555) 346-9947\nwww.example.com"
    assert reply_text(body) == "Please confirm the booking."


def test_a_closing_with_the_guests_name_stays():
    assert reply_text("Hi. All fine.\n\nThanks,\nAlex") == "Hi. All fine.\n\nThanks,\nAlex"


def test_a_dash_name_line_is_removed_but_a_last_bullet_is_not():
    assert reply_text("See you on Friday.\n\n-Abhishek Kona") == "See you on Friday."
    assert reply_text("Necesito:\n- Parking") == "Necesito:\n- Parking"


def test_a_guests_contact_details_alone_are_kept():
    body = "Ana Ruiz\nana@example.com\n+34 600 000 000"
    assert reply_text(body) == body


# -- quote headers of other languages and clients ----------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        f"Em seg., 3 de mar. de 2025 às 10:00, {HOTEL} escreveu:",
        f"Le lun. 3 mars 2025 à 10:00, {HOTEL} a écrit :",
        f"Am Mo., 3. März 2025 um 10:00 Uhr schrieb {HOTEL}:",
        f"Il giorno lun 3 mar 2025 alle ore 10:00 {HOTEL} ha scritto:",
        f"Op ma 3 mrt 2025 om 10:00 schreef {HOTEL}:",
        f"Den 3. mar. 2025 kl. 10.00 skrev {HOTEL}:",
        f"mån 3 mars 2025 kl. 10:00 skrev {HOTEL}:",
        "2025年3月3日(月) 10:00 Hotel Mirador <reservas@hotel-mirador.example>:",
        "03.03.2025, 10:00, \"Hotel Mirador\" <reservas@hotel-mirador.example>:",
        f"lun, 3 mar 2025 a las 10:00, {HOTEL}\nescribió:",
        f"---- On Mon, 03 Mar 2025 10:00:00 +0000 {HOTEL} wrote ----",
        f"--- On Mon, 3/3/25, {HOTEL} wrote:",
    ],
)
def test_quote_headers_of_other_languages_and_clients_cut_the_old_message(header):
    body = f"Llegamos a las 20:00.\n\n{header}\n\nEstimado cliente, ¿a qué hora llegan?\nRecepción"
    assert reply_text(body) == "Llegamos a las 20:00."


@pytest.mark.parametrize(
    "fields",
    [
        "De : Hotel Mirador\nEnvoyé : lundi 3 mars 2025 10:00\nÀ : Lucía\nObjet : Réservation",
        "Von: Hotel Mirador\nGesendet: Montag, 3. März 2025 10:00\nAn: Lucía\nBetreff: Buchung",
        "De: Hotel Mirador\nEnviado el: lunes, 3 de marzo de 2025 10:00\nPara: Lucía\nAsunto: Reserva",
        "Fra: Hotel Mirador\nSendt: 3. marts 2025 10:00\nTil: Lucía\nEmne: Booking",
        "*From:* Hotel Mirador [mailto:reservas@hotel-mirador.example]\n*Sent:* Monday, March 03, 2025 10:00 AM\n*To:* Lucía",
        "From:\nHotel Mirador [mailto:reservas@hotel-mirador.example]\n\nSent: Monday, March 03, 2025 10:00\nAM\n\nTo: Lucía",
    ],
)
def test_outlook_header_blocks_in_several_languages_cut_the_old_message(fields):
    body = f"Perfecto, gracias.\n\n{'_' * 32}\n{fields}\n\nEstimada Lucía:\nSu reserva está confirmada."
    assert reply_text(body) == "Perfecto, gracias."
    assert reply_text(f"Perfecto, gracias.\n\n{fields}\n\nSu reserva.") == "Perfecto, gracias."


def test_outlook_from_after_a_rule_line():
    body = "Outlook reply here\n\n ------------------------------\n\n*From:* Hotel [mailto:h@x.com]\n*Sent:* Monday\n\nold"
    assert reply_text(body) == "Outlook reply here"


def test_a_transfer_request_with_from_and_to_is_not_a_header():
    body = "Necesito un taxi.\nDe: Aeropuerto de Málaga\nA: Hotel Mirador\n\n¿Cuánto cuesta?"
    assert reply_text(body) == body


def test_separator_lines_of_other_clients():
    for separator in ("-----Original Message-----", "-----Mensaje original-----", "-----Oprindelig meddelelse-----",
                      "-------- Message d'origine --------", "-----Ursprüngliche Nachricht-----"):
        assert reply_text(f"Sí, confirmo.\n\n{separator}\nFrom: Hotel\n\nold") == "Sí, confirmo."


# -- forwards ------------------------------------------------------------------------------------


def test_a_pure_forward_gives_the_forwarded_text():
    body = (
        "---------- Forwarded message ---------\nFrom: Ana Ruiz <ana@example.com>\nDate: Mon, 3 Mar 2025 at 10:00\n"
        "Subject: Reserva\nTo: Lucía <lucia@example.com>\n\nQuiero confirmar la reserva HM-1234 para dos personas.\n"
    )
    assert reply_text(body) == "Quiero confirmar la reserva HM-1234 para dos personas."


def test_a_forward_with_a_note_gives_the_note():
    body = "Mira esto, por favor.\n\nBegin forwarded message:\n\nFrom: Ana <ana@example.com>\nSubject: x\n\nold text"
    assert reply_text(body) == "Mira esto, por favor."


# -- HTML-only replies ---------------------------------------------------------------------------


def test_outlook_html_reply_drops_the_original_that_follows_the_reply_header():
    html = (
        "<html><body><div>Perfecto, llegamos el martes.</div><div id='appendonsend'></div>"
        "<hr style='display:inline-block;width:98%'><div id='divRplyFwdMsg'><b>De:</b> Hotel<br><b>Enviado:</b> lunes</div>"
        "<div>Estimada Lucía: ¿a qué hora llegan?</div></body></html>"
    )
    message = mail("x")
    message.set_content(html, subtype="html")
    assert normalise.parse_raw(message.as_bytes()).text == "Perfecto, llegamos el martes."


def test_hotmail_html_reply_with_a_header_block_and_no_markup_for_it():
    html = (
        "<div>Hi. I am fine.<br><br>Thanks,<br>Alex</div><br><div><hr>Date: Mon, 3 Mar 2025 10:00:00 +0000<br>"
        "Subject: Booking<br>From: reservas@hotel-mirador.example<br>To: alex@example.com<br><br>How are you?</div>"
    )
    message = mail("x")
    message.set_content(html, subtype="html")
    assert normalise.parse_raw(message.as_bytes()).text == "Hi. I am fine.\n\nThanks,\nAlex"


def test_thunderbird_html_cite_prefix_starts_the_quote():
    html = "<p>Yes please.</p><div class='moz-cite-prefix'>On 03/03/2025 10:00, Hotel wrote:<br></div><p>old</p>"
    message = mail("x")
    message.set_content(html, subtype="html")
    assert normalise.parse_raw(message.as_bytes()).text == "Yes please."


# -- charsets ------------------------------------------------------------------------------------


def _full(parts):
    """A ``format=full`` resource as Gmail returns it: each part's own headers, its bytes as sent."""
    return {
        "id": "m1", "threadId": "t1",
        "payload": {
            "mimeType": "multipart/alternative", "filename": "", "body": {"size": 0},
            "headers": [{"name": "From", "value": "Lucía <lucia@example.com>"}, {"name": "Subject", "value": "Re: Reserva"}],
            "parts": [
                {"mimeType": mime, "filename": "", "headers": [{"name": "Content-Type", "value": f'{mime}; charset="{charset}"'}],
                 "body": {"size": len(data), "data": b64url_encode(data)}}
                for mime, charset, data in parts
            ],
        },
    }


@pytest.mark.parametrize(
    "charset,text",
    [
        ("ISO-8859-1", "¿Tenéis habitación para el día 5? Llegaré tarde."),
        ("iso-8859-15", "¿El precio de 120 € incluye desayuno?"),
        ("windows-1250", "Dobrý den, přijedeme ve čtvrtek večer."),
        ("windows-1252", "We’ll arrive at 9 — is that “OK”?"),
    ],
)
def test_format_full_bodies_are_decoded_by_the_parts_charset(charset, text):
    body = f"{text}\n\nEl lun, 3 mar 2025 a las 10:00, Hotel Mirador <reservas@hotel-mirador.example> escribió:\n> Algo mas?"
    parsed = normalise.parse_full(_full([("text/plain", charset, body.encode(charset))]))
    assert parsed.text == text


def test_format_full_html_part_in_latin1():
    html = "<p>Llegaré a las 18:00, ¿hay garaje?</p><div class='gmail_quote'>El lun escribió: viejo</div>"
    parsed = normalise.parse_full(_full([("text/html", "iso-8859-1", html.encode("iso-8859-1"))]))
    assert parsed.text == "Llegaré a las 18:00, ¿hay garaje?"


def test_an_unknown_charset_is_a_recorded_defect_and_utf8_is_tried():
    parsed = normalise.parse_full(_full([("text/plain", "x-unknown-9", "Hola, ¿hay sitio?".encode())]))
    assert parsed.text == "Hola, ¿hay sitio?"
    assert any(d.startswith("UnknownCharset") for d in parsed.defects)


def test_raw_mail_in_windows_1252_keeps_the_spanish_header_matching():
    raw = (
        "From: Lucía <lucia@example.com>\r\nTo: reservas@hotel-mirador.example\r\nSubject: Re: Reserva\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=windows-1252\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        "Sí, a las 20:00.\r\n\r\nEl lun, 3 mar 2025 a las 10:00, Hotel <reservas@hotel-mirador.example> escribió:\r\n> ¿Hora?\r\n"
    ).encode("cp1252")
    assert normalise.parse_raw(raw).text == "Sí, a las 20:00."


def test_forwards_nested_deeper_than_the_bound_do_not_recurse_without_end():
    body = "---------- Forwarded message ---------\nFrom: a@example.com\nDate: Mon, 3 Mar 2025\n\n" * 50 + "hola"
    assert reply_text(body) == ""  # read as it stands past MAX_FORWARDS levels, never a RecursionError
    assert reply_text(body.split("\n\n", 47)[-1]) == "hola"


@pytest.mark.parametrize(
    "device",
    ["Verstuurd vanaf mijn iPhone", "Inviato dal mio iPhone", "Envoyé de mon iPhone", "Wysłane z mojego iPhone'a",
     "Отправлено с iPhone", "iPhoneから送信", "Lähetetty iPhonesta", "Enviado desde mi dispositivo Samsung",
     "Sent from Mail for Windows 10", "Sent with ProtonMail Secure Email.", "Baixe o Outlook para Android"],
)
def test_device_signatures_of_more_languages_and_apps(device):
    assert reply_text(f"Llegamos el viernes.\n{device}") == "Llegamos el viernes."


@pytest.mark.parametrize(
    "header",
    ["W dniu 3.03.2025 o 10:00, Hotel <reservas@hotel-mirador.example> pisze:",
     "3.3.2025 10.00 Hotel <reservas@hotel-mirador.example> kirjoitti:",
     "Dne 3. 3. 2025 10:00 napsal(a) Hotel <reservas@hotel-mirador.example>:",
     "2025-03-03 10:00 GMT+01:00 Hotel Mirador <reservas@hotel-mirador.example>:",
     "Hotel <reservas@hotel-mirador.example> 于2025年3月3日周一 10:00写道：",
     "Den 3. mar. 2025 kl. 10.00 skrev Hotel Mirador følgende:"],
)
def test_more_quote_headers_cut_the_old_message(header):
    assert reply_text(f"Perfecto.\n\n{header}\n\nTexto viejo del hotel\nRecepción") == "Perfecto."


def test_a_guest_line_with_an_address_and_a_time_ending_in_a_colon_is_not_a_header():
    body = "Llegamos a las 10:00, escribid a ana@example.com:\nel móvil no funciona."
    assert reply_text(body) == body


def test_an_outlook_header_collapsed_onto_one_line():
    body = "Sí, confirmo.\n\nFrom: Hotel [mailto:h@x.com] Sent: Monday, March 3, 2025 10:00 To: Ana Subject: Reserva\n\nold"
    assert reply_text(body) == "Sí, confirmo."
    assert reply_text("From: Madrid, sent: yesterday\nok") == "From: Madrid, sent: yesterday\nok"


def test_a_long_rule_under_the_guests_text_starts_the_clients_part_but_never_empties_the_message():
    assert reply_text("Gracias.\n\n" + "_" * 32 + "\nDe parte de: Hotel\nviejo") == "Gracias."
    assert reply_text("_" * 32 + "\nQuiero una habitación doble.") == "_" * 32 + "\nQuiero una habitación doble."
    assert reply_text("Primero:\n----------\nSegundo punto") == "Primero:\n----------\nSegundo punto"  # a short rule stays
