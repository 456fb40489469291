"""The pairs of common words the Tantivy index holds for phrases: cut from a page exactly
as the query's words are (interfaces.words_of), on the fast ASCII path and off it."""

from __future__ import annotations

import pytest

from search.common_pairs import COMMON_WORDS, RUN_BREAK, common_pairs, page_pairs, pair_terms
from search.interfaces import words_of

PAGES = [
    "Pain in the left knee; the patient was seen.",
    "THE,LEFT:knee\n\tthe_patient (was) 2x daily",
    "HISTORY OF PRESENT ILLNESS: no chest pain, no fever.",
    "",
    "   ",
    "a",
    "Dr. Müller examined the left knee – the patient was stable.",
    "naïve the left",
]


@pytest.mark.parametrize("text", PAGES)
def test_a_page_gives_the_pairs_of_its_words_as_the_query_cuts_them(text):
    assert page_pairs(text).split() == pair_terms(words_of(text))


def test_only_two_adjacent_common_words_make_a_pair():
    words = ["the", "left", "knee", "was", "the", "patient"]
    assert {"the", "left", "was", "patient"} <= COMMON_WORDS and "knee" not in COMMON_WORDS
    assert common_pairs(words) == ["the_left", "was_the", "the_patient"]


def test_a_break_stands_between_pairs_that_are_not_adjacent_and_nowhere_else():
    words = words_of("the left knee was the patient x y and the")
    expected = ["the_left", RUN_BREAK, "was_the", "the_patient", RUN_BREAK, "and_the"]
    assert pair_terms(words) == expected
    assert pair_terms(words_of("knee the left")) == ["the_left"]  # none before the first pair
    assert pair_terms(words_of("the left knee")) == ["the_left"]  # nor after the last


def test_words_are_lowercased_and_split_at_every_separator():
    assert page_pairs("THE,LEFT:knee the_patient") == f"the_left {RUN_BREAK} the_patient"
    assert page_pairs("Müller: THE LEFT") == "the_left"


def test_every_ascii_character_separates_or_joins_words_as_the_word_rule_says():
    # The ASCII path translates bytes by a table; each character between two common words
    # must split them exactly when interfaces.WORD does.
    for code in range(128):
        text = f"The{chr(code)}LEFT side"
        assert page_pairs(text).split() == pair_terms(words_of(text)), repr(chr(code))
