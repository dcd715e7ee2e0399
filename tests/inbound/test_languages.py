"""Requests in the languages people write to us in (issue 11), and one-letter misspellings.

Each row is a short direct message as a person would write it; the keep and negation rows
must never unsubscribe.
"""

from __future__ import annotations

import pytest

from newsletter.inbound import phrasebook
from newsletter.inbound.classify import Kind, classify
from tests.inbound.mails import plain

U, A, E, H = Kind.unsubscribe, Kind.access_request, Kind.erasure_request, Kind.human
REQUIRED = ("bg cs da de el en es et fi fr ga hr hu it lt lv mt nl pl pt ro sk sl sv "
            "no is ru uk tr ar he hi zh ja ko vi id").split()

ROWS = [
    # Czech
    ("cs", "Dobrý den, prosím odhlaste mě z odběru. Děkuji, Jana", U),
    ("cs", "Dobrý den, jaké osobní údaje o mně zpracováváte?", A),
    ("cs", "Žádám o výmaz mých osobních údajů, které o mně vedete.", E),
    ("cs", "Prosím neodhlašujte mě, chci dál dostávat váš zpravodaj.", H),
    # Danish
    ("da", "Hej, afmeld mig venligst nyhedsbrevet. Mvh Lars", U),
    ("da", "Hvilke personoplysninger har I om mig?", A),
    ("da", "Slet venligst mine oplysninger fra jeres system.", E),
    ("da", "Hvis jeg vil afmelde mig, hvordan gør jeg? Jeg vil fortsat modtage det.", H),
    # Russian
    ("ru", "Здравствуйте! Отпишите меня, пожалуйста, от рассылки.", U),
    ("ru", "Какие персональные данные вы обо мне храните?", A),
    ("ru", "Прошу удалить мои персональные данные из вашей базы.", E),
    ("ru", "Не отписывайте меня, я хочу и дальше получать письма.", H),
    # Turkish
    ("tr", "Merhaba, lütfen beni listeden çıkarın. Teşekkürler.", U),
    ("tr", "Hangi kişisel verilerimi işliyorsunuz?", A),
    ("tr", "Kişisel verilerimin silinmesini talep ediyorum.", E),
    # Greek
    ("el", "Καλησπέρα, θα ήθελα να διαγραφώ από τη λίστα σας.", U),
    ("el", "Ποια προσωπικά δεδομένα έχετε για μένα;", A),
    ("el", "Παρακαλώ διαγράψτε τα προσωπικά δεδομένα μου.", E),
    ("el", "ΘΕΛΩ ΝΑ ΔΙΑΓΡΑΦΩ ΑΠΟ ΤΗ ΛΙΣΤΑ", U),  # capitals carry no accents
    ("cs", "Neposílejte mi prosím nic jiného než zpravodaj.", H),  # "nothing but the newsletter"
    ("el", "Δεν θέλω να διαγραφώ, θέλω να συνεχίσω να λαμβάνω το ενημερωτικό.", H),
    # Everyday requests written for this test in each language (stop 20): short, no quote.
    ('en', 'Please take me off your mailing list.', U),
    ('en', 'Stop emailing me.', U),
    ('en', 'I no longer wish to receive these emails.', U),
    ('en', 'What personal data do you hold about me?', A),
    ('en', 'Please send me a copy of all the data you have on me.', A),
    ('en', 'Please delete all my data.', E),
    ('en', 'I want my account and all information about me erased.', E),
    ('de', 'Bitte nehmen Sie mich aus Ihrem Verteiler.', U),
    ('de', 'Ich möchte keine E-Mails mehr von Ihnen erhalten.', U),
    ('de', 'Welche Daten haben Sie über mich gespeichert?', A),
    ('de', 'Bitte löschen Sie alle meine Daten.', E),
    ('fr', 'Merci de me retirer de votre liste de diffusion.', U),
    ('fr', 'Je ne souhaite plus recevoir vos emails.', U),
    ('fr', 'Quelles données personnelles détenez-vous sur moi ?', A),
    ('fr', 'Merci de supprimer toutes mes données.', E),
    ('es', 'Por favor, quítenme de su lista de correo.', U),
    ('es', 'No quiero recibir más correos.', U),
    ('es', '¿Qué datos personales tienen sobre mí?', A),
    ('es', 'Por favor, borren todos mis datos.', E),
    ('pt', 'Por favor, retirem-me da vossa lista.', U),
    ('pt', 'Não quero receber mais emails.', U),
    ('pt', 'Que dados pessoais têm sobre mim?', A),
    ('pt', 'Por favor apaguem todos os meus dados.', E),
    ('nl', 'Haal me alstublieft van jullie mailinglijst.', U),
    ('nl', 'Ik wil geen e-mails meer ontvangen.', U),
    ('nl', 'Welke persoonsgegevens hebben jullie van mij?', A),
    ('nl', 'Verwijder al mijn gegevens alstublieft.', E),
    ('pl', 'Proszę usunąć mnie z listy mailingowej.', U),
    ('pl', 'Nie chcę już otrzymywać tych wiadomości.', U),
    ('pl', 'Jakie dane osobowe na mój temat przetwarzacie?', A),
    ('pl', 'Proszę usunąć wszystkie moje dane.', E),
    ('sv', 'Ta bort mig från er e-postlista.', U),
    ('sv', 'Vilka personuppgifter har ni om mig?', A),
    ('sv', 'Radera alla mina uppgifter.', E),
    ('da', 'Fjern mig fra jeres mailliste.', U),
    ('no', 'Fjern meg fra e-postlisten deres.', U),
    ('fi', 'Poistakaa minut postituslistalta.', U),
    ('cs', 'Vyřaďte mě prosím z mailing listu.', U),
    ('ru', 'Пожалуйста, удалите меня из списка рассылки.', U),
    ('ru', 'Больше не присылайте мне письма.', U),
    ('ru', 'Удалите все мои данные.', E),
    ('uk', 'Відпишіть мене від розсилки.', U),
    ('tr', 'Lütfen beni e-posta listenizden çıkarın.', U),
    ('tr', 'Artık e-posta almak istemiyorum.', U),
    ('ja', 'メールの配信を停止してください。', U),
    ('ja', '私の個人情報を削除してください。', E),
    ('ar', 'الرجاء إلغاء اشتراكي من القائمة البريدية.', U),
    ('he', 'נא להסיר אותי מרשימת התפוצה.', U),
    ('vi', 'Vui lòng hủy đăng ký cho tôi.', U),
    ('id', 'Tolong berhenti kirim email ke saya.', U),
    ('ro', 'Vă rog să mă dezabonați.', U),
    ('hu', 'Kérem, iratkoztassanak le a hírlevélről.', U),
    ('el', 'Παρακαλώ αφαιρέστε με από τη λίστα.', U),
    ('bg', 'Моля, отпишете ме от бюлетина.', U),
    ('sk', 'Prosím, odhláste ma z odberu.', U),
    ('sl', 'Prosim, odjavite me z novic.', U),
    ('hr', 'Molim vas, maknite me s liste.', U),
    ('et', 'Palun eemaldage mind meililistist.', U),
    ('lv', 'Lūdzu, atrakstiet mani no jaunumiem.', U),
    ('mt', 'Jekk jogħġbok neħħini mil-lista.', U),
    ('is', 'Vinsamlegast takið mig af póstlistanum.', U),
    # ... and the same asked not to be done: never an unsubscribe. In en de es pt nl no id ru
    # it the request phrase matches and the language's negation word cancels it (deleting
    # that word fails the row); elsewhere the negation breaks the phrase's word order, and
    # the row guards against a looser phrase.
    ('en', "Please don't take me off your mailing list, I love it.", H),
    ('en', 'I do not want to unsubscribe, please keep sending.', H),
    ('en', "Don't delete my data, I only changed my address.", H),
    ('de', 'Bitte nehmen Sie mich nicht aus dem Verteiler.', H),
    ('fr', "Ne me retirez pas de la liste, s'il vous plaît.", H),
    ('es', 'Por favor, no me quiten de la lista.', H),
    ('pt', 'Por favor, não me retirem da lista.', H),
    ('nl', 'Haal me alstublieft niet van de lijst.', H),
    ('da', 'Fjern mig ikke fra jeres mailliste.', H),
    ('no', 'Ikke fjern meg fra e-postlisten.', H),
    ('sv', 'Ta inte bort mig från listan.', H),
    ('is', 'Ekki taka mig af póstlistanum.', H),
    ('hr', 'Nemojte me maknuti s liste.', H),
    ('id', 'Jangan berhenti kirim email ke saya, saya suka.', H),
    ('pl', 'Proszę nie usuwać mnie z listy.', H),
    ('ru', 'Пожалуйста, не удаляйте меня из списка рассылки.', H),
    ('it', 'Non cancellatemi dalla lista, per favore.', H),
    ('tr', 'Lütfen beni listeden çıkarmayın.', H),
    ('cs', 'Prosím, neodhlašujte mě z odběru.', H),
    ('ja', '配信停止しないでください。', H),
    # Serbian, in both of its scripts
    ("sr", "Поштовани, молим вас да ме одјавите са листе. Хвала, Марко", U),
    ("sr", "Pozdrav, molim vas da me uklonite sa liste. Jelena", U),
    ("sr", "Које податке о мени чувате?", A),
    ("sr", "Molim vas da obrišete moje podatke iz vaše baze.", E),
    ("sr", "Како да се одјавим? Не желим да пропустим следећи број.", H),
    # Croatian
    ("hr", "Poštovani, molim vas odjavite me s newslettera.", U),
    ("hr", "Koje osobne podatke imate o meni?", A),
    ("hr", "Molim vas da izbrišite moje osobne podatke.", E),
    # Romanian (cedilla and comma letters both)
    ("ro", "Bună ziua, vă rog să mă dezabonaţi de la newsletter.", U),
    ("ro", "Ce date personale aveți despre mine?", A),
    ("ro", "Vă rog ştergeţi datele mele din baza dumneavoastră.", E),
    ("ro", "Nu vreau să mă dezabonez, vreau să primesc în continuare.", H),
    # Other EU languages and more
    ("bg", "Здравейте, моля отпишете ме от бюлетина.", U),
    ("et", "Tere, palun eemaldage mind uudiskirja nimekirjast.", U),
    ("fi", "Hei, poistakaa minut postituslistalta, kiitos.", U),
    ("fi", "Poistakaa kaikki henkilötietoni järjestelmästänne.", E),
    ("hu", "Üdvözlöm, szeretnék leiratkozni a hírlevélről.", U),
    ("lv", "Labdien, lūdzu atrakstiet mani no jaunumiem.", U),
    ("lt", "Laba diena, prašau išregistruoti mane iš naujienlaiškio.", U),
    ("sk", "Dobrý deň, prosím o odhlásenie z odberu noviniek.", U),
    ("sl", "Pozdravljeni, ne želim več prejemati vaših novic.", U),
    ("sl", "Prosim za izbris mojih osebnih podatkov.", E),
    ("mt", "Jekk jogħġbok neħħuni mil-lista.", U),
    ("ga", "Dia duit, bain mé den liosta, le do thoil.", U),
    ("no", "Hei, vennligst meld meg av nyhetsbrevet.", U),
    ("no", "Slett mine personopplysninger, takk.", E),
    ("is", "Góðan dag, vinsamlegast afskráið mig af póstlistanum.", U),
    ("uk", "Добрий день, будь ласка, відпишіть мене від розсилки.", U),
    ("uk", "Прошу видалити мої персональні дані.", E),
    ("ar", "مرحبا، أرجو إلغاء اشتراكي في النشرة البريدية.", U),
    ("ar", "الرجاء حذف بياناتي الشخصية من قاعدة بياناتكم.", E),
    ("he", "שלום, הסירו אותי מרשימת התפוצה בבקשה.", U),
    ("hi", "नमस्ते, कृपया मेरी सदस्यता रद्द करें।", U),
    ("zh", "你好，请取消我的订阅，谢谢。", U),
    ("zh", "请不要取消我的订阅，我想继续接收。", H),
    ("zh", "请问如果我想退订，该怎么办？", H),  # "if I want to unsubscribe, what do I do?"
    ("zh", "请删除我的个人信息。", E),
    ("ko", "안녕하세요, 수신 거부해 주세요.", U),
    ("vi", "Xin chào, vui lòng hủy đăng ký email của tôi.", U),
    ("id", "Halo, saya ingin berhenti berlangganan newsletter ini.", U),
    ("id", "Tolong hapus semua data pribadi saya.", E),
    # Short formal requests (item 4 of issue 11)
    ("es", "Por medio de la presente solicito la supresión de mis datos personales.", E),
    ("es", "Solicito ejercer mi derecho de acceso a mis datos personales.", A),
    ("nl", "Hierbij verzoek ik u om inzage in mijn persoonsgegevens.", A),
    ("nl", "Hierbij verzoek ik u mijn persoonsgegevens te verwijderen.", E),
    ("pt", "Venho por este meio solicitar o apagamento dos meus dados pessoais.", E),
    ("pt", "Solicito o acesso aos meus dados pessoais que tratam.", A),
    # One-letter misspellings in words of seven letters or more
    ("en", "Please unsubscrible me", U),
    ("en", "unsubcribe", U),
    ("de", "Bitte abbestelen, danke", U),
    ("en", "You unsubscribed me without asking! Why?", H),
    ("en", "Your system unsubscribes me every month, please fix it.", H),  # not a misspelling
    # One letter away but the opposite request: the prefix is never corrected.
    ("pl", "Dzień dobry, proszę o wpisanie mnie na listę.", H),  # "please sign me up"
    ("de", "Ich möchte mich gerne anmelden, bitte.", H),
]


@pytest.mark.parametrize("language, text, expected", ROWS,
                         ids=[f"{row[0]}-{i}" for i, row in enumerate(ROWS)])
def test_request_in_many_languages(language, text, expected):
    raw = plain("Ann <ann@example.net>", "news@news.example.org", "Newsletter", text,
                message_id="<lang@example.net>")
    verdict = classify(raw)
    assert verdict.kind is expected, verdict.reasons
    if expected is not H:
        assert verdict.language == language, verdict.reasons


@pytest.mark.parametrize("code", REQUIRED)
def test_every_language_has_request_and_negation_phrases(code):
    [language] = [lang for lang in phrasebook.load().languages if lang.code == code]
    for section in ("unsubscribe", "access", "erasure"):
        assert language.patterns.get(section), f"{code}: no [{section}]"
    assert language.words.get("negation") or language.words.get("negation_after")
    assert language.patterns.get("keep") or code == "ja" and language.patterns.get("keep")


def test_no_request_phrase_is_a_single_common_word():
    for language in phrasebook.load().languages:
        for section in ("unsubscribe", "access", "erasure"):
            for phrase, _ in language.patterns.get(section, []):
                # Scripts without spaces: three characters make a phrase ("请退订").
                spaced = " " in phrase.strip() or "-" in phrase or ord(phrase[0]) >= 0x2E80 \
                    and len(phrase) >= 3
                assert spaced or len(phrase) >= 10, f"{language.code} [{section}] {phrase!r}"


def test_indexed_find_agrees_with_trying_every_phrase():
    # The index (phrasebook.PhraseBook.find) is a fast path: it must answer as the plain path,
    # on each phrase of a section in Latin and in Chinese surroundings, and on the table rows.
    book = phrasebook.load()
    for section in ("unsubscribe", "access", "erasure", "keep", "formal", "notice",
                    "auto_reply_subject", "auto_reply_body"):
        texts = [text for _, text, _ in ROWS]
        for language in book.languages:
            for phrase, _ in language.patterns.get(section, []):
                filled = phrase.replace("*", "really ")
                texts += [f"Hello. {filled}, thanks!", f"你好{filled}谢谢"]
        for text in texts:
            assert book.find(section, text) == book.find(section, text, plain=True), \
                (section, text)
