"""A reply's new text ends where the quoted original begins, in the header styles of the mail
clients people use in each language we read: Outlook's localised header block ("Kimden: ...
Gönderildi: ..."), Gmail's attribution line ("... <news@x.org> şunu yazdı:"), with or without
'>' quoting. A request in the quoted newsletter must never unsubscribe the person replying;
a request written above the header is still read."""

from __future__ import annotations

import pytest

from newsletter.inbound.classify import Kind, classify

FOOT = {
 "it": "Per annullare l'iscrizione clicca qui: annulla iscrizione. Cancellami dalla lista.",
 "es": "Para darte de baja haz clic aquí. Darme de baja de la lista.",
 "nl": "Afmelden voor deze nieuwsbrief? Klik hier om je af te melden. Meld mij af.",
 "pl": "Aby wypisać się z listy, kliknij tutaj. Wypisz mnie.",
 "cs": "Pro odhlášení klikněte zde. Odhlaste mě z odběru.",
 "ru": "Чтобы отписаться от рассылки, нажмите здесь. Отпишите меня.",
 "ja": "配信停止はこちら。配信停止をお願いします。",
 "zh": "如需退订，请点击这里。请取消订阅。",
 "ko": "수신거부를 원하시면 여기를 클릭하세요. 수신 거부합니다.",
 "tr": "Abonelikten çıkmak için tıklayın. Beni listeden çıkarın.",
 "hu": "Leiratkozáshoz kattintson ide. Kérem, töröljenek a listáról.",
 "sv": "Avsluta prenumerationen genom att klicka här. Avregistrera mig.",
 "da": "Afmeld nyhedsbrevet ved at klikke her. Afmeld mig.",
 "fi": "Peru tilaus klikkaamalla tästä. Poistakaa minut listalta.",
 "el": "Για να διαγραφείτε κάντε κλικ εδώ. Διαγράψτε με από τη λίστα.",
 "pt": "Para cancelar a subscrição clique aqui. Cancelem a minha subscrição.",
 "fr": "Pour vous désabonner cliquez ici. Désabonnez-moi.",
 "de": "Zum Abmelden hier klicken. Bitte melden Sie mich ab.",
}
# Outlook's header block above the quoted original, one line per field.
OUTLOOK = {
    'it': "\n".join(('Da: News <news@x.org>', 'Inviato: lunedì 1 gennaio 2024 10:00',
                        'A: anna@example.net', 'Oggetto: Newsletter')),
    'es': "\n".join(('De: News <news@x.org>', 'Enviado el: lunes, 1 de enero de 2024 10:00',
                        'Para: anna@example.net', 'Asunto: Newsletter')),
    'nl': "\n".join(('Van: News <news@x.org>', 'Verzonden: maandag 1 januari 2024 10:00',
                        'Aan: anna@example.net', 'Onderwerp: Newsletter')),
    'pl': "\n".join(('Od: News <news@x.org>', 'Wysłano: poniedziałek, 1 stycznia 2024 10:00',
                        'Do: anna@example.net', 'Temat: Newsletter')),
    'cs': "\n".join(('Od: News <news@x.org>', 'Odesláno: pondělí 1. ledna 2024 10:00',
                        'Komu: anna@example.net', 'Předmět: Newsletter')),
    'ru': "\n".join(('От: News <news@x.org>', 'Отправлено: 1 января 2024 г. 10:00',
                        'Кому: anna@example.net', 'Тема: Newsletter')),
    'ja': "\n".join(('差出人: News <news@x.org>', '送信日時: 2024年1月1日 10:00',
                        '宛先: anna@example.net', '件名: Newsletter')),
    'zh': "\n".join(('发件人: News <news@x.org>', '发送时间: 2024年1月1日 10:00',
                        '收件人: anna@example.net', '主题: Newsletter')),
    'ko': "\n".join(('보낸 사람: News <news@x.org>', '보낸 날짜: 2024년 1월 1일 월요일 오전 10:00',
                        '받는 사람: anna@example.net', '제목: Newsletter')),
    'tr': "\n".join(('Kimden: News <news@x.org>', 'Gönderildi: 1 Ocak 2024 Pazartesi 10:00',
                        'Kime: anna@example.net', 'Konu: Newsletter')),
    'hu': "\n".join(('Feladó: News <news@x.org>', 'Elküldve: 2024. január 1. 10:00',
                        'Címzett: anna@example.net', 'Tárgy: Newsletter')),
    'sv': "\n".join(('Från: News <news@x.org>', 'Skickat: den 1 januari 2024 10:00',
                        'Till: anna@example.net', 'Ämne: Newsletter')),
    'da': "\n".join(('Fra: News <news@x.org>', 'Sendt: 1. januar 2024 10:00',
                        'Til: anna@example.net', 'Emne: Newsletter')),
    'fi': "\n".join(('Lähettäjä: News <news@x.org>', 'Lähetetty: maanantai 1. tammikuuta 2024 10.00',
                        'Vastaanottaja: anna@example.net', 'Aihe: Newsletter')),
    'el': "\n".join(('Από: News <news@x.org>', 'Στάλθηκε: Δευτέρα, 1 Ιανουαρίου 2024 10:00',
                        'Προς: anna@example.net', 'Θέμα: Newsletter')),
    'pt': "\n".join(('De: News <news@x.org>', 'Enviado: 1 de janeiro de 2024 10:00',
                        'Para: anna@example.net', 'Assunto: Newsletter')),
    'fr': "\n".join(('De : News <news@x.org>', 'Envoyé : lundi 1 janvier 2024 10:00',
                        'À : anna@example.net', 'Objet : Newsletter')),
    'de': "\n".join(('Von: News <news@x.org>', 'Gesendet: Montag, 1. Januar 2024 10:00',
                        'An: anna@example.net', 'Betreff: Newsletter')),
}
GMAIL = {
 "it": "Il giorno lun 1 gen 2024 alle ore 10:00 News <news@x.org> ha scritto:",
 "es": "El lun, 1 ene 2024 a las 10:00, News (<news@x.org>) escribió:",
 "nl": "Op ma 1 jan. 2024 om 10:00 schreef News <news@x.org>:",
 "pl": "pon., 1 sty 2024 o 10:00 News <news@x.org> napisał(a):",
 "cs": "po 1. 1. 2024 v 10:00 odesílatel News <news@x.org> napsal:",
 "ru": "пн, 1 янв. 2024 г. в 10:00, News <news@x.org>:",
 "ja": "2024年1月1日(月) 10:00 News <news@x.org>:",
 "zh": "News <news@x.org> 于2024年1月1日周一 10:00写道：",
 "ko": "2024년 1월 1일 (월) 오전 10:00, News <news@x.org>님이 작성:",
 "tr": "1 Oca 2024 Pzt, 10:00 tarihinde News <news@x.org> şunu yazdı:",
 "hu": "News <news@x.org> ezt írta (időpont: 2024. jan. 1., H, 10:00):",
 "sv": "Den mån 1 jan. 2024 kl 10:00 skrev News <news@x.org>:",
 "da": "Den man. 1. jan. 2024 kl. 10.00 skrev News <news@x.org>:",
 "fi": "ma 1. tammik. 2024 klo 10.00 News <news@x.org> kirjoitti:",
 "el": "Στις Δευ 1 Ιαν 2024 στις 10:00, ο/η News <news@x.org> έγραψε:",
 "pt": "Em seg., 1 de jan. de 2024 às 10:00, News <news@x.org> escreveu:",
 "fr": "Le lun. 1 janv. 2024 à 10:00, News <news@x.org> a écrit :",
 "de": "Am Mo., 1. Jan. 2024 um 10:00 Uhr schrieb News <news@x.org>:",
}


def _reply(new_text: str, header: str, quoted: str, key: str) -> bytes:
    body = f"{new_text}\n\n{header}\n\n{quoted}\n"
    return ("From: Anna <anna@example.net>\r\nTo: reply+r1.abc.def@news.example.org\r\n"
            f"Subject: Re: Newsletter\r\nMessage-ID: <q-{key}@example.net>\r\n"
            "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
            + body.replace("\n", "\r\n")).encode()


CASES = [(style, lang, header) for style, headers in (("outlook", OUTLOOK), ("gmail", GMAIL))
         for lang, header in headers.items()]


@pytest.mark.parametrize("style, lang, header", CASES, ids=[f"{s}-{c}" for s, c, _ in CASES])
@pytest.mark.parametrize("quoting", ["plain", "angle"])
def test_a_request_in_the_quoted_newsletter_is_not_the_readers(style, lang, header, quoting):
    quoted = f"Weekly news\n\n{FOOT[lang]}"
    if quoting == "angle":
        quoted = "\n".join("> " + line for line in quoted.split("\n"))
    verdict = classify(_reply("Thanks, nice issue!", header, quoted, f"{style}-{lang}"))
    assert verdict.kind is Kind.human, verdict.reasons


@pytest.mark.parametrize("lang, asked", [
    ("ru", "Отпишите меня, пожалуйста."), ("tr", "Lütfen beni listeden çıkarın."),
    ("el", "Διαγράψτε με από τη λίστα σας."), ("hu", "Kérem, töröljenek a listáról."),
])
def test_a_request_above_the_header_is_read(lang, asked):
    raw = _reply(asked, OUTLOOK[lang], "Weekly news\n\nHello.", f"above-{lang}")
    assert classify(raw).kind is Kind.unsubscribe


# The separator lines above an original ("-----Original Message-----") or a forwarded message
# ("---------- Forwarded message ---------") as Outlook and Gmail write them in each language.
SEPS = {
 "de": ["-----Ursprüngliche Nachricht-----", "---------- Weitergeleitete Nachricht ---------"],
 "fr": ["-----Message d'origine-----", "---------- Message transféré ---------"],
 "es": ["-----Mensaje original-----", "---------- Mensaje reenviado ---------"],
 "it": ["-----Messaggio originale-----", "---------- Messaggio inoltrato ---------"],
 "nl": ["-----Oorspronkelijk bericht-----", "---------- Doorgestuurd bericht ---------"],
 "pt": ["-----Mensagem original-----", "---------- Mensagem encaminhada ---------"],
 "pl": ["-----Wiadomość oryginalna-----", "---------- Wiadomość przekazana dalej ---------"],
 "cs": ["-----Původní zpráva-----", "---------- Přeposlaná zpráva ---------"],
 "ru": ["-----Исходное сообщение-----", "---------- Пересылаемое сообщение ---------"],
 "da": ["-----Oprindelig meddelelse-----", "---------- Videresendt meddelelse ---------"],
 "sv": ["-----Ursprungligt meddelande-----", "---------- Vidarebefordrat meddelande ---------"],
 "fi": ["-----Alkuperäinen viesti-----", "---------- Välitetty viesti ---------"],
 "hu": ["-----Eredeti üzenet-----", "---------- Továbbított üzenet ---------"],
 "el": ["-----Αρχικό μήνυμα-----", "---------- Προωθημένο μήνυμα ---------"],
 "tr": ["-----Orijinal İleti-----", "---------- İletilen ileti ---------"],
 "zh": ["-----原始邮件-----", "---------- 转发的邮件 ---------"],
 "ja": ["-----元のメッセージ-----", "---------- 転送されたメッセージ ---------"],
 "ko": ["-----원본 메시지-----", "---------- 전달된 메시지 ---------"],
}
SEPARATED = [(lang, sep) for lang, pair in SEPS.items() for sep in pair]


@pytest.mark.parametrize("lang, separator", SEPARATED, ids=[s for _, s in SEPARATED])
def test_what_follows_a_separator_is_not_the_readers(lang, separator):
    raw = _reply("Thanks, nice issue!", separator, f"Weekly news\n\n{FOOT[lang]}", f"s-{lang}")
    verdict = classify(raw)
    assert verdict.kind is Kind.human, verdict.reasons


@pytest.mark.parametrize("lang", list(OUTLOOK))
def test_an_html_only_outlook_reply_ends_at_its_header_block(lang):
    fields = [line.split(":", 1) for line in OUTLOOK[lang].split("\n")]
    header = "<br>".join(f"<b>{name}:</b>{value.replace('<', '&lt;').replace('>', '&gt;')}"
                         for name, value in fields)
    html = (f"<html><body><p>Thanks, nice issue!</p><div style=\"border-top:solid #E1E1E1 1pt\">"
            f"<p class=MsoNormal>{header}</p></div><p>Weekly news</p><p>{FOOT[lang]}</p>"
            "</body></html>")
    raw = ("From: Anna <anna@example.net>\r\nTo: reply+r1.abc.def@news.example.org\r\n"
           f"Subject: Re: Newsletter\r\nMessage-ID: <h-{lang}@example.net>\r\n"
           "Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
           + html).encode()
    verdict = classify(raw)
    assert verdict.kind is Kind.human, verdict.reasons
