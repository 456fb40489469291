"""The search box's language: every construct, and every refusal with a message that says
what is wrong and where."""

from __future__ import annotations

import pytest

from search.interfaces import And, Fuzzy, InvalidQuery, Not, Or, Phrase, Prefix, Term
from search.query import MAX_QUERY_CHARACTERS, MAX_QUERY_WORDS, parse_query


def refusal(text: str) -> str:
    with pytest.raises(InvalidQuery) as refused:
        parse_query(text)
    assert refused.value.http_status == 400
    return refused.value.message


# --- what is understood ---------------------------------------------------------------------------


@pytest.mark.parametrize("blank", ["", "   ", "\t\n"])
def test_a_blank_query_searches_by_filters_alone(blank):
    assert parse_query(blank) is None


def test_one_word_is_a_term_folded_to_lower_case():
    assert parse_query("Pneumonia") == Term("pneumonia")


def test_words_side_by_side_must_all_match():
    assert parse_query("chest  pain") == And((Term("chest"), Term("pain")))


def test_quotes_make_a_phrase():
    assert parse_query('"Right Lower Lobe"') == Phrase(("right", "lower", "lobe"))


def test_a_quoted_single_word_is_a_term_and_operators_inside_quotes_are_words():
    assert parse_query('"sepsis"') == Term("sepsis")
    assert parse_query('"salt AND pepper"') == Phrase(("salt", "and", "pepper"))


def test_a_phrase_sits_beside_words():
    assert parse_query('fever "chest pain"x') == And(
        (Term("fever"), Phrase(("chest", "pain")), Term("x"))
    )


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("x-ray", ("x", "ray")),
        ("T98.6", ("t98", "6")),
        ("O'Brien", ("o", "brien")),
        ("under_score", ("under", "score")),
    ],
)
def test_a_term_holding_several_words_is_a_phrase_of_them(text, words):
    assert parse_query(text) == Phrase(words)


def test_punctuation_alone_is_dropped():
    assert parse_query("chest - pain & ?") == And((Term("chest"), Term("pain")))
    assert parse_query("chest -? pain") == And((Term("chest"), Term("pain")))


def test_non_ascii_letters_are_word_letters():
    assert parse_query("MÜLLER naïve") == And((Term("müller"), Term("naïve")))


def test_or_binds_looser_than_and():
    assert parse_query("mi AND ecg OR infarction troponin") == Or(
        (And((Term("mi"), Term("ecg"))), And((Term("infarction"), Term("troponin"))))
    )


def test_not_binds_tighter_than_and():
    assert parse_query("sepsis NOT neonatal shock") == And(
        (Term("sepsis"), Not(Term("neonatal")), Term("shock"))
    )


@pytest.mark.parametrize(
    "text",
    ["sepsis -neonatal", "sepsis NOT neonatal", "sepsis AND NOT neonatal", "-neonatal sepsis"],
)
def test_every_way_of_leaving_a_word_out(text):
    assert set(parse_query(text).parts) == {Term("sepsis"), Not(Term("neonatal"))}


def test_leaving_out_a_phrase_or_a_group():
    assert parse_query('fever -"chest pain"') == And(
        (Term("fever"), Not(Phrase(("chest", "pain"))))
    )
    assert parse_query("fever -(flu OR covid)") == And(
        (Term("fever"), Not(Or((Term("flu"), Term("covid")))))
    )


def test_a_dash_inside_a_word_is_not_an_exclusion():
    assert parse_query("follow-up") == Phrase(("follow", "up"))


def test_parentheses_group_and_nested_ands_are_flattened():
    assert parse_query("(mi OR infarction) ecg") == And(
        (Or((Term("mi"), Term("infarction"))), Term("ecg"))
    )
    assert parse_query("fever (cough -covid)") == And(
        (Term("fever"), Term("cough"), Not(Term("covid")))
    )


def test_a_double_negation_cancels():
    assert parse_query("fever NOT NOT cough") == And((Term("fever"), Term("cough")))


def test_lowercase_operators_are_ordinary_words():
    assert parse_query("salt and pepper or not") == And(
        (Term("salt"), Term("and"), Term("pepper"), Term("or"), Term("not"))
    )


def test_a_star_ends_a_prefix():
    assert parse_query("Cardio*") == Prefix("cardio")
    assert parse_query("t98*") == Prefix("t98")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("pneumonia~", Fuzzy("pneumonia", 1)),
        ("pneumonia~1", Fuzzy("pneumonia", 1)),
        ("Pneumonia~2", Fuzzy("pneumonia", 2)),
        ("pneumonia~0", Term("pneumonia")),
    ],
)
def test_a_tilde_makes_a_fuzzy_word(text, expected):
    assert parse_query(text) == expected


def test_at_the_limits_a_query_is_still_accepted():
    words = " ".join(f"w{number}" for number in range(MAX_QUERY_WORDS))
    assert len(parse_query(words).parts) == MAX_QUERY_WORDS
    assert parse_query("a" * MAX_QUERY_CHARACTERS) == Term("a" * MAX_QUERY_CHARACTERS)


# --- what is refused, and how the message helps ---------------------------------------------------


def test_an_unclosed_quote_names_its_position():
    assert refusal('chest "pain') == (
        'The quote opened at position 7 is never closed; add a closing " or remove it.'
    )


@pytest.mark.parametrize("text", ['"" fever', 'fever " - "'])
def test_empty_quotes(text):
    assert "have no words inside" in refusal(text)


@pytest.mark.parametrize(("text", "position"), [("(fever", 1), ("fever (", 7), ("((a)", 1)])
def test_an_unclosed_parenthesis(text, position):
    assert f"parenthesis opened at position {position} is never closed" in refusal(text)


@pytest.mark.parametrize(("text", "position"), [("fever)", 6), ("(a)) b", 4)])
def test_a_closing_parenthesis_without_its_opening(text, position):
    assert f"The ) at position {position} has no matching (" in refusal(text)


def test_empty_parentheses():
    assert "parentheses at position 7 have nothing inside" in refusal("fever ( - )")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("OR fever", "OR at position 1 has nothing before it"),
        ("fever OR", "OR at position 7 has nothing after it"),
        ("AND fever", "AND at position 1 has nothing before it"),
        ("fever AND", "AND at position 7 has nothing after it"),
        ("fever AND OR cough", "AND at position 7 has nothing after it"),
        ("(OR fever)", "OR at position 2 has nothing before it"),
        ("fever NOT", "NOT at position 7 has nothing after it"),
        ("fever -OR cough", "The - at position 7 has nothing after it"),
    ],
)
def test_an_operator_with_nothing_on_one_side(text, message):
    assert message in refusal(text)


@pytest.mark.parametrize(
    "text", ["NOT smoker", "-smoker", "-smoker -alcohol", '-"chest pain"', "NOT (a OR b)"]
)
def test_a_query_of_only_exclusions(text):
    assert "add at least one word to look for" in refusal(text)


def test_an_exclusion_alone_on_one_side_of_or():
    assert "give each side of OR at least one word" in refusal("pneumonia OR -smoker")
    assert "give each side of OR" in refusal("fever (pneumonia OR NOT smoker)")


def test_an_exclusion_nested_in_an_exclusion_is_checked_too():
    assert "each side of OR" in refusal("fever NOT (flu OR -covid)")


@pytest.mark.parametrize("text", ["ca*", "*", "x*"])
def test_a_prefix_needs_three_letters(text):
    message = refusal(text)
    assert f'"{text}" at position 1' in message
    assert "at least 3 letters or digits before the *" in message


def test_a_prefix_of_several_words():
    assert "a * can only end a single word" in refusal("x-ra*")


@pytest.mark.parametrize("text", ["car*io", "pneu~monia", "cardio*~1", "pneumonia~1*"])
def test_wildcards_only_at_the_end_of_a_word(text):
    assert "can only come at the end of a word" in refusal(text)


def test_fuzzy_beyond_two_letters_explains_ocr_errors():
    message = refusal("pneumonia~3")
    assert "allows 3 differing letters; use ~1 or ~2" in message
    assert "OCR errors are usually one or two letters" in message


def test_fuzzy_needs_one_word():
    assert "a ~ must follow a word" in refusal("fever ~1")
    assert "a ~ can only follow a single word" in refusal("x-ray~1")


def test_an_overlong_query_protects_the_server():
    message = refusal("fever " * 100)
    assert "600 characters long; the limit is 500" in message


def test_too_many_words():
    words = " ".join(f"w{number}" for number in range(MAX_QUERY_WORDS + 1))
    assert "51 words; the limit is 50" in refusal(words)
    assert "51 words" in refusal('"' + words + '"')  # phrase words count one by one


def test_a_query_of_punctuation_alone():
    assert "no letters or digits to look for" in refusal("?! -- &&")
