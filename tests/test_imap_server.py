"""The Dovecot fixture is real: a message APPENDed is there to SEARCH, and each test starts empty."""

from imapclient import IMAPClient


def _client(server):
    client = IMAPClient("127.0.0.1", port=server.port, ssl=False)
    client.login(server.user, server.password)
    return client


def test_dovecot_keeps_appended_mail(imap):
    with _client(imap) as client:
        client.append("INBOX", b"From: a@example.com\r\nSubject: hi\r\n\r\nbody\r\n")
        client.select_folder("INBOX")
        assert len(client.search()) == 1


def test_each_test_gets_an_empty_inbox(imap):
    with _client(imap) as client:
        client.select_folder("INBOX")
        assert client.search() == []
