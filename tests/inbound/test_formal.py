"""Formal data-protection letters are read whatever their length (issue 11).

The letters are our own, written the way people and request generators write them: a formal
opening, the article, what is asked, the legal deadline, the identifying details. Each is well
over the 1,200 characters a casual request may have.
"""

from __future__ import annotations

import pytest

from newsletter.inbound.classify import MAX_NEW_TEXT_CHARS, Kind, classify
from tests.inbound.mails import plain

A, E, H = Kind.access_request, Kind.erasure_request, Kind.human

DETAILS = {
    "en": ("For identification: I am subscribed with this e-mail address and have received your "
           "newsletter since the spring of 2023. I do not know a customer number. Please send "
           "your reply to this address; I will not accept a reply by post only. "),
    "de": ("Zu meiner Identifikation: Ich bin mit dieser E-Mail-Adresse angemeldet und erhalte "
           "Ihren Newsletter seit dem Frühjahr 2023. Eine Kundennummer ist mir nicht bekannt. "
           "Bitte antworten Sie an diese Adresse. "),
    "fr": ("Pour m'identifier : je suis inscrite avec cette adresse électronique et reçois votre "
           "lettre d'information depuis le printemps 2023. Je ne connais pas de numéro client. "
           "Merci de répondre à cette adresse. "),
    "es": ("Para mi identificación: estoy suscrito con esta dirección de correo y recibo su "
           "boletín desde la primavera de 2023. No dispongo de número de cliente. Les ruego "
           "respondan a esta misma dirección. "),
    "nl": ("Ter identificatie: ik ben met dit e-mailadres ingeschreven en ontvang uw nieuwsbrief "
           "sinds het voorjaar van 2023. Een klantnummer heb ik niet. Graag ontvang ik uw "
           "antwoord op dit adres. "),
    "pl": ("W celu identyfikacji: jestem zapisany tym adresem e-mail i otrzymuję Państwa "
           "newsletter od wiosny 2023 roku. Nie znam numeru klienta. Proszę o odpowiedź na ten "
           "adres. "),
}

LETTERS = [
    ("en", "Data subject access request", A,
     "Dear Sir or Madam,\n\nI am writing to exercise my right of access under Article 15 GDPR. "
     "Please confirm whether or not you process personal data concerning me, and if so, "
     "provide me with a copy of that data together with the purposes of the processing, the "
     "recipients, the storage period, the source of the data and whether automated decisions "
     "are made. "),
    ("en", "Erasure request", E,
     "Dear Sir or Madam,\n\nI hereby request that you erase all personal data concerning me "
     "without undue delay, as is my right under Article 17(1) of the General Data Protection "
     "Regulation (EU) 2016/679. I withdraw any consent on which the processing is based. "
     "Please also inform any recipients to whom my data were disclosed, as Article 19 "
     "requires, and confirm the erasure in writing. "),
    ("de", "Auskunftsersuchen nach Art. 15 DSGVO", A,
     "Sehr geehrte Damen und Herren,\n\nhiermit beantrage ich Auskunft gemäß Art. 15 DSGVO "
     "darüber, ob Sie personenbezogene Daten zu meiner Person verarbeiten. Falls ja, bitte ich "
     "um eine Kopie dieser Daten sowie um Angaben zu Verarbeitungszwecken, Empfängern, "
     "Speicherdauer und Herkunft der Daten. "),
    ("de", "Löschung meiner Daten", E,
     "Sehr geehrte Damen und Herren,\n\nhiermit fordere ich Sie auf, sämtliche mich "
     "betreffenden personenbezogenen Daten nach Art. 17 Abs. 1 DSGVO unverzüglich zu löschen. "
     "Meine Einwilligung widerrufe ich hiermit. Bitte bestätigen Sie mir die Löschung "
     "schriftlich innerhalb der gesetzlichen Frist von einem Monat. "),
    ("fr", "Demande d'accès", A,
     "Madame, Monsieur,\n\nEn application de l'article 15 du RGPD, je vous prie de bien vouloir "
     "m'indiquer si des données me concernant sont traitées par votre organisme et, le cas "
     "échéant, de m'en communiquer une copie avec les finalités du traitement, les "
     "destinataires et la durée de conservation. "),
    ("es", "Ejercicio del derecho de supresión", E,
     "Muy señores míos:\n\nPor medio de la presente, y de conformidad con el artículo 17 del "
     "RGPD y la LOPDGDD, solicito la supresión de todos mis datos personales de sus ficheros, "
     "así como la confirmación por escrito de que se ha llevado a cabo en el plazo de un mes. "),
    ("nl", "Inzageverzoek", A,
     "Geachte heer/mevrouw,\n\nHierbij verzoek ik u op grond van artikel 15 van de AVG om "
     "inzage in de persoonsgegevens die u van mij verwerkt, met de doeleinden, de ontvangers "
     "en de bewaartermijn. "),
    ("pl", "Żądanie usunięcia danych", E,
     "Szanowni Państwo,\n\nna podstawie art. 17 RODO żądam niezwłocznego usunięcia wszystkich "
     "moich danych osobowych oraz potwierdzenia tego faktu na piśmie. "),
]


def letter(language: str, opening: str, words: int = 1800) -> str:
    text = opening + "\n\n"
    while len(text) < words:
        text += DETAILS[language]
    return text + "\n\nKind regards / Mit freundlichen Grüßen\nJana Novak\nLindenweg 4, 1010 Town"


@pytest.mark.parametrize("language, subject, expected, opening", LETTERS,
                         ids=[f"{row[0]}-{i}" for i, row in enumerate(LETTERS)])
def test_long_formal_letter_is_the_request_it_makes(language, subject, expected, opening):
    text = letter(language, opening)
    assert len(text) > MAX_NEW_TEXT_CHARS
    verdict = classify(plain("Jana Novak <jana@example.net>", "privacy@news.example.org",
                             subject, text, message_id="<formal@example.net>"))
    assert verdict.kind is expected, verdict.reasons


@pytest.mark.parametrize("opening", [
    # A long letter that mentions deleting data in passing, without a formal request: a person.
    "Hello,\n\nI loved last week's issue about compost. I wanted to delete my data from my old "
    "laptop before giving it to my nephew and your tips on backups helped. ",
    # A long formal letter that asks to unsubscribe: unsubscribing acts at once, so it needs a
    # short, clear request; this one waits for a person.
    "Dear Sir or Madam,\n\nI hereby request that you unsubscribe me from your newsletter and "
    "stop sending me e-mails. ",
])
def test_long_letter_without_a_formal_access_or_erasure_request_waits(opening):
    verdict = classify(plain("Jana Novak <jana@example.net>", "news@news.example.org",
                             "Your newsletter", letter("en", opening),
                             message_id="<long@example.net>"))
    assert verdict.kind is H, verdict.reasons
