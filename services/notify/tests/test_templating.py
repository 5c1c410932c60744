"""Notify's template language: placeholders, conditionals, lists, text messages, emails, letters."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notify.templating import email, letter, sms
from notify.templating.placeholders import Personalisation, fill, placeholder_names
from notify.templating.render import render, sanitise_personalisation


@pytest.mark.parametrize(
    "key", ["first_name", "First Name", "FIRSTNAME", "first-name", "fIrSt nAmE"]
)
def test_placeholder_names_match_ignoring_case_spaces_underscores_and_hyphens(key):
    assert fill("Hi ((First Name))", Personalisation({key: "Ann"})) == "Hi Ann"


@pytest.mark.parametrize("value", ["yes", "Y", "true", "T", "1", "include", "SHOW"])
def test_a_conditional_shows_its_text_for_each_truthy_value(value):
    assert fill("A((flag??, with extra)).", Personalisation({"flag": value})) == "A, with extra."


@pytest.mark.parametrize("value", ["no", "0", "false", "", "maybe", 0, False])
def test_a_conditional_hides_its_text_for_any_other_value(value):
    assert fill("A((flag??, with extra)).", Personalisation({"flag": value})) == "A."


def test_a_placeholder_inside_a_conditional_is_filled_and_the_conditional_left_as_text():
    text = "Hi ((name))((has_ref?? Your ref is ((ref)).))"
    values = Personalisation({"name": "Ann", "has_ref": "yes", "ref": "X1"})
    assert fill(text, values) == "Hi Ann((has_ref?? Your ref is X1.))"
    assert placeholder_names(text) == ["name", "ref"]


def test_every_placeholder_is_required_the_flag_of_a_conditional_included_and_null_is_missing():
    values = Personalisation({"name": None, "other": "x", "empty": ""})
    assert values.missing("((name)) ((empty)) ((show??text)) ((Name))") == ["name", "show"]


def test_values_of_any_json_type_become_text_as_python_writes_them():
    values = Personalisation({"n": 123, "f": 1.5, "b": True, "d": {"a": 1}})
    assert fill("((n)) ((f)) ((b)) ((d))", values) == "123 1.5 True {'a': 1}"


def test_a_list_is_a_bullet_list_in_emails_and_a_sentence_in_text_messages():
    values = {"items": ["tea", "cake", "jam"]}
    assert render("email", "Bring:((items))", "s", values).body == "Bring:\n\n* tea\n* cake\n* jam"
    assert render("sms", "Bring ((items)).", None, values).body == "Bring tea, cake and jam."


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Привет", "??????"),
        ("façade", "facade"),
        ("\u201cquoted\u201d \u2018single\u2019", "\"quoted\" 'single'"),
        ("en\u2013dash em\u2014dash", "en-dash em-dash"),
        ("wait\u2026", "wait..."),
        ("no\u00a0break\ttab", "no break tab"),
        ("zero\u200bwidth", "zerowidth"),
        ("Łańcut, Łódź", "Lancut, Lódz"),  # ó is a Welsh vowel: kept
        ("emoji 😀", "emoji ?"),
        ("Croeso i Gymru: ŵ ŷ â", "Croeso i Gymru: ŵ ŷ â"),
        ("{curly} [square] ~^|€\\", "{curly} [square] ~^|€\\"),
    ],
)
def test_text_messages_are_sanitised_to_gsm_and_welsh_characters(text, expected):
    assert sms.sanitise(text) == expected


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("€" * 80, 1),
        ("a" * 159 + "€", 2),
        ("ŵ" + "a" * 69, 1),
        ("ŵ" + "a" * 70, 2),
        ("ŵ" + "a" * 133, 2),
        ("ŵ" + "a" * 134, 3),
    ],
)
def test_fragments_are_counted_160_153_for_gsm_and_70_67_for_welsh(text, fragments):
    assert sms.fragment_count(text) == fragments


def test_only_a_welsh_character_outside_gsm_makes_a_message_unicode():
    assert sms.is_unicode("Croeso ŵ")
    assert not sms.is_unicode("café à Zürich")


def test_the_prefix_counts_towards_fragments_but_not_towards_the_shown_body():
    rendered = render("sms", "a" * 155, None, {}, sms_prefix="Agency")
    assert rendered.body == "a" * 155
    assert rendered.sent == "Agency: " + "a" * 155
    assert rendered.length == 155
    assert rendered.fragments == 2


def test_text_messages_lose_whitespace_before_punctuation_and_extra_blank_lines():
    assert render("sms", "Hi ((name)) , done .\n\n\n\nBye  ", None, {"name": "Ann"}).body == (
        "Hi Ann, done.\n\nBye"
    )


def test_an_email_subject_has_its_whitespace_normalised():
    rendered = render("email", "body", "Hello\n((name))   there", {"name": "Ann\nB"})
    assert rendered.subject == "Hello Ann B there"


def test_email_html_has_headings_lists_inset_rules_and_links():
    html = email.to_html(
        "# Title\n## Sub\n### Deeper\n\n* one\n- two\n• three\n\n1. first\n2. second\n\n"
        "^ Note\n\n---\n\nSee [the guide](https://example.gov.uk/guide) or https://example.com/a."
    )
    assert "<h2" in html and ">Title</h2>" in html
    assert ">Sub</h3>" in html
    assert "<h4" not in html and "Deeper" in html
    assert html.count("<li") == 5 and "<ul" in html and "<ol" in html
    assert "<blockquote" in html and "Note" in html
    assert "<hr" in html
    assert 'href="https://example.gov.uk/guide">the guide</a>' in html
    assert 'href="https://example.com/a">https://example.com/a</a>.' in html


def test_email_html_escapes_everything_and_has_no_emphasis():
    html = email.to_html('<script>alert("x")</script> **bold** _it_ [x](javascript:alert(1))')
    assert "<script" not in html
    assert "&lt;script&gt;" in html
    assert "<strong" not in html and "<em" not in html and "**bold**" in html
    assert 'href="javascript' not in html


def test_email_typography_curls_quotes_makes_en_dashes_and_unlinks_gov_uk():
    html = email.to_html('It\'s "here" - on GOV.UK , now')
    assert "It\u2019s \u201chere\u201d \u2013 on GOV.\u200bUK, now" in html


def test_markdown_in_a_value_is_rendered_unless_the_value_is_sanitised():
    values = {"name": "# Big **Ann** see evil.com/x"}
    clean, changed = sanitise_personalisation(values, ["NAME"])
    assert changed["name"]["unsanitised"] == values["name"]
    assert "<h2" in render("email", "((name))", "s", values).html
    rendered = render("email", "((name))", "s", clean).html
    assert "<h2" not in rendered and "evil. com" in rendered and "# Big **Ann**" in rendered


def test_a_letter_renders_to_a_pdf_with_its_pages_counted():
    pdf = letter.render_pdf(
        address_lines=["Ann Ŵ", "1 High Street", "SW1A 1AA"],
        subject="Your application",
        body="# Heading\n\nDear Ann,\n\n" + "A long paragraph. " * 400 + "\n\n* one\n1. two",
        contact_block="Agency\nLondon",
    )
    assert pdf.startswith(b"%PDF-")
    pages = letter.page_count(pdf)
    assert pages >= 2
    assert letter.sheets(pages) == (pages + 1) // 2


def test_something_that_is_not_a_pdf_has_no_page_count():
    with pytest.raises(ValueError):
        letter.page_count(b"%PDF-1.4 not really")


@given(st.text(max_size=300), st.dictionaries(st.text(max_size=10), st.text(max_size=20)))
def test_rendering_never_fails_and_text_messages_keep_only_allowed_characters(body, values):
    rendered = render("sms", body, None, values)
    assert set(rendered.body) <= sms.ALLOWED | {"(", ")"}
    assert rendered.fragments >= 1
    assert isinstance(render("email", body, body, values).html, str)
