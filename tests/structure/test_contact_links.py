"""Click-to-contact links (no database)."""

from urllib.parse import parse_qs, urlsplit

from structure.contact import contact_links, whatsapp_number

MESSAGE = "Please pay by 20 March & keep your plan?"


def test_a_phone_gives_call_and_sms_links_in_international_form():
    links = contact_links(phone="+91 98000 00001", email="", messenger="", message=MESSAGE)
    assert links.tel == "tel:+919800000001"
    assert urlsplit(links.sms).path == "+919800000001"
    assert parse_qs(urlsplit(links.sms).query) == {"body": [MESSAGE]}


def test_whatsapp_uses_the_messenger_number_else_the_phone_with_the_message():
    links = contact_links(phone="+91 98000 00001", email="", messenger="", message=MESSAGE)
    assert links.whatsapp.startswith("https://wa.me/919800000001?")
    assert parse_qs(urlsplit(links.whatsapp).query) == {"text": [MESSAGE]}
    assert whatsapp_number("+91 98000 00001", "+977 9800000002") == "9779800000002"


def test_a_telegram_handle_gives_a_telegram_link_and_no_whatsapp_from_it():
    links = contact_links(phone="", email="", messenger="@bina_shah", message=MESSAGE)
    assert links.telegram == "https://t.me/bina_shah"
    assert links.whatsapp == ""


def test_an_email_gives_a_mailto_link_with_the_message():
    links = contact_links(phone="", email="asha@example.com", messenger="", message=MESSAGE)
    assert links.mailto.startswith("mailto:asha@example.com?")
    assert parse_qs(urlsplit(links.mailto).query) == {"body": [MESSAGE]}


def test_no_contact_details_give_no_links():
    links = contact_links(phone="", email="", messenger="", message=MESSAGE)
    assert (links.tel, links.sms, links.mailto, links.whatsapp, links.telegram) == ("",) * 5
