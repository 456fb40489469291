"""Highlighting, independent of any index: which words are marked, the passage chosen, and
the one place snippet HTML is made."""

from __future__ import annotations

import random

import pytest

from search.highlight import (
    ELLIPSIS,
    SNIPPET_CHARACTERS,
    PageMatcher,
    best_snippet,
    find_matches,
    page_hit,
    snippet_html,
    within_distance,
)
from search.interfaces import WORD, Fuzzy, Prefix, Snippet, Term, words_of
from search.query import parse_query

PROGRESS_NOTE = (
    "PROGRESS NOTE. Chest pain resolved overnight; chest wall tender. Bronchopneumonia on the "
    "x-ray, pneumonla per the OCR, Pneumonia per the attending. Cardiology and cardiothoracic "
    "surgery consulted. Pain score 2/10."
)


def marked(query: str, text: str = PROGRESS_NOTE) -> list[str]:
    matches = find_matches(parse_query(query), text)
    return [text[start:end] for start, end in matches.marks]


def terms(query: str, text: str = PROGRESS_NOTE) -> set[str]:
    return set(find_matches(parse_query(query), text).terms)


# --- which words are marked -----------------------------------------------------------------------


def test_a_word_is_marked_wherever_it_occurs_whatever_its_case():
    assert marked("chest") == ["Chest", "chest"]
    assert terms("CHEST") == {"chest"}


def test_only_whole_words_are_marked():
    assert marked("pneumonia") == ["Pneumonia"]  # not inside "Bronchopneumonia"
    assert marked("ray") == ["ray"]


def test_a_phrase_is_marked_only_where_all_of_it_occurs():
    assert marked('"chest pain"') == ["Chest pain"]
    assert terms('"chest pain"') == {"chest", "pain"}
    assert marked('"pain chest"') == []
    assert terms('"pain chest"') == set()


def test_a_phrase_may_be_separated_by_punctuation_as_in_the_index():
    assert marked("x-ray") == ["x-ray"]
    assert marked('"overnight chest"') == ["overnight; chest"]


def test_a_prefix_marks_the_words_it_expands_to():
    assert marked("cardio*") == ["Cardiology", "cardiothoracic"]
    assert terms("cardio*") == {"cardiology", "cardiothoracic"}


def test_a_fuzzy_word_marks_the_words_within_its_distance():
    assert marked("pneumonia~1") == ["pneumonla", "Pneumonia"]
    assert terms("pneumonia~1") == {"pneumonia", "pneumonla"}


def test_words_under_not_are_never_marked():
    assert marked("pain -chest") == ["pain", "Pain"]
    assert marked("score NOT (pain OR chest)") == ["score"]


def test_every_branch_of_or_is_marked():
    assert marked("tender OR surgery OR absent") == ["tender", "surgery"]


def test_a_word_matched_twice_is_marked_once():
    assert marked("chest chest* ches~1") == ["Chest", "chest"]


def test_offsets_stay_right_when_lowercasing_changes_the_length():
    # "İ" lowercases to two characters; marks must still point into the original text.
    text = "İSTANBUL clinic, İzmir referral: clinic letter"
    assert marked("clinic", text) == ["clinic", "clinic"]
    assert marked("İzmir referral", text) == ["İzmir", "referral"]


def word_marks_by_tokenizing(word: str, text: str) -> list[tuple[int, int]]:
    """The obvious, slow rule the highlighter must agree with."""
    return [match.span() for match in WORD.finditer(text) if match.group().lower() == word]


def test_marks_agree_with_splitting_the_page_into_words():
    generator = random.Random(4)
    alphabet = "ab é_-.'Ü1\n"
    for _ in range(400):
        text = "".join(generator.choice(alphabet) for _ in range(generator.randrange(40)))
        for word in set(words_of(text)) | {"a", "ab", "b1"}:
            found = find_matches(parse_query(word), text).marks
            assert list(found) == word_marks_by_tokenizing(word, text), (word, text)


def test_fuzzy_marks_agree_with_splitting_the_page_into_words():
    generator = random.Random(5)
    for alphabet in ("ab_-. 1\n", "ab_-. é’\n"):  # ASCII pages take a faster path
        for _ in range(300):
            text = "".join(generator.choice(alphabet) for _ in range(generator.randrange(40)))
            for word in ("ab", "aab", "b1a"):
                expected = [
                    match.span()
                    for match in WORD.finditer(text)
                    if restricted_edit_distance(word, match.group().lower()) <= 1
                ]
                found = find_matches(Fuzzy(word, 1), text).marks
                assert list(found) == expected, (word, text)


# --- which pages match (Tantivy keeps no index of single pages) ----------------------------------


def page_score(query: str, text: str = PROGRESS_NOTE) -> int:
    return PageMatcher(parse_query(query)).score(text)


def test_a_page_scores_how_often_its_matching_words_occur():
    assert page_score("chest") == 2
    assert page_score("chest OR pain") == 4
    assert page_score('"chest pain"') == 1
    assert page_score("pneumon*") == 2  # pneumonla, Pneumonia; not Bronchopneumonia
    assert page_score("pneumonia~1") == 2  # pneumonla, Pneumonia


def test_a_page_matches_only_when_the_whole_query_holds_on_it():
    assert page_score("chest cardiology") == 3
    assert page_score("chest sepsis") == 0  # every part of an And
    assert page_score("sepsis OR chest") == 2  # one part of an Or
    assert page_score("chest NOT sepsis") == 2
    assert page_score("chest NOT cardiology") == 0  # nothing a Not leaves out
    assert page_score('"pain chest"') == 0


def test_one_matcher_decides_page_after_page_as_the_word_rule_says():
    # A matcher remembers which words a prefix or fuzzy word expands to across the pages of
    # a search; each page must still be decided by its own words alone.
    generator = random.Random(6)
    queries = [Term("ab"), Prefix("ab"), Fuzzy("aab", 1), Fuzzy("b1a", 2)]
    matchers = [PageMatcher(query) for query in queries]
    for _ in range(500):
        text = "".join(generator.choice("ab_-. 1\né") for _ in range(generator.randrange(40)))
        words = words_of(text)
        expected = [
            words.count("ab"),
            sum(word.startswith("ab") for word in words),
            sum(restricted_edit_distance("aab", word) <= 1 for word in words),
            sum(restricted_edit_distance("b1a", word) <= 2 for word in words),
        ]
        assert [matcher.score(text) for matcher in matchers] == expected, text


def test_a_long_fuzzy_word_finds_every_word_within_one_edit_and_no_other():
    # A fuzzy word of six letters or more judges only the page words that hold one of its
    # halves: every kind of slip, at every place, must still be found.
    generator = random.Random(7)
    word = "pneumonia"
    matcher = PageMatcher(Fuzzy(word, 1))
    for _ in range(300):
        slipped = [randomly_edited(word, generator.randrange(3), generator) for _ in range(3)]
        text = " ".join(slipped + ["pneumothorax", "ammonia"]).upper()
        expected = sum(restricted_edit_distance(word, other) <= 1 for other in slipped)
        assert matcher.score(text) == expected, slipped


def randomly_edited(word: str, edits: int, generator: random.Random) -> str:
    for _ in range(edits):
        at = generator.randrange(len(word) - 1)
        kind = generator.randrange(4)
        letter = generator.choice("aimnoeu")
        if kind == 0:
            word = word[:at] + letter + word[at + 1 :]
        elif kind == 1:
            word = word[:at] + word[at + 1 :]
        elif kind == 2:
            word = word[:at] + letter + word[at:]
        else:
            word = word[:at] + word[at + 1] + word[at] + word[at + 2 :]
    return word


# --- the edit distance of fuzzy words -------------------------------------------------------------


def restricted_edit_distance(word: str, other: str) -> int:
    """The textbook table (optimal string alignment) to check the bounded search against."""
    table = [[0] * (len(other) + 1) for _ in range(len(word) + 1)]
    for i in range(len(word) + 1):
        for j in range(len(other) + 1):
            if min(i, j) == 0:
                table[i][j] = max(i, j)
                continue
            table[i][j] = min(
                table[i - 1][j] + 1,
                table[i][j - 1] + 1,
                table[i - 1][j - 1] + (word[i - 1] != other[j - 1]),
            )
            if i > 1 and j > 1 and word[i - 1] == other[j - 2] and word[i - 2] == other[j - 1]:
                table[i][j] = min(table[i][j], table[i - 2][j - 2] + 1)
    return table[len(word)][len(other)]


@pytest.mark.parametrize(
    ("word", "other", "distance"),
    [
        ("pneumonia", "pneumonia", 0),
        ("pneumonia", "pneumonla", 1),
        ("pneumonia", "pnuemonia", 1),
        ("pneumonia", "pneumonias", 1),
        ("pneumonia", "pneumona", 1),
        ("metoprolol", "metopr0lo1", 2),
        ("ca", "abc", 3),
    ],  # a swapped pair is not edited again: 3, not 2
)
def test_within_distance_counts_a_swap_of_neighbours_as_one_edit(word, other, distance):
    assert within_distance(word, other, distance)
    assert distance == 0 or not within_distance(word, other, distance - 1)


def test_within_distance_agrees_with_the_full_table():
    generator = random.Random(7)
    for _ in range(3000):
        word = "".join(generator.choice("abc") for _ in range(generator.randrange(7)))
        other = "".join(generator.choice("abc") for _ in range(generator.randrange(7)))
        distance = restricted_edit_distance(word, other)
        for limit in (0, 1, 2):
            assert within_distance(word, other, limit) == (distance <= limit), (word, other)


# --- the passage shown ----------------------------------------------------------------------------


def long_page() -> str:
    filler = "The patient rested comfortably and vital signs were stable throughout. " * 12
    return (
        filler
        + "Acute appendicitis confirmed; appendix removed laparoscopically. "
        + filler
        + "Appendix sent to pathology. "
        + filler
    )


def test_a_snippet_centres_on_the_densest_marks_and_is_cut_between_words():
    text = long_page()
    hit = page_hit(parse_query("appendix appendicitis"), 4, text)
    snippet = hit.snippet
    assert hit.number == 4
    assert hit.terms == {"appendix", "appendicitis"}
    # Two marks close together beat the lone one further down the page.
    assert [snippet.text[start:end] for start, end in snippet.marks] == ["appendicitis", "appendix"]
    assert snippet.text.startswith(f"{ELLIPSIS} ") and snippet.text.endswith(f" {ELLIPSIS}")
    passage = snippet.text.removeprefix(f"{ELLIPSIS} ").removesuffix(f" {ELLIPSIS}")
    assert passage in text
    start = text.index(passage)
    assert not text[start - 1].isalnum() and not text[start + len(passage)].isalnum()
    assert SNIPPET_CHARACTERS - 20 <= len(passage) <= SNIPPET_CHARACTERS


def test_a_short_page_is_shown_whole():
    text = "Discharged home on oral amoxicillin."
    snippet = page_hit(parse_query("amoxicillin"), 1, text).snippet
    assert snippet == Snippet(text=text, marks=((24, 35),))


def test_without_marks_the_page_opens_the_snippet():
    text = long_page()
    snippet = best_snippet(text, ())
    assert snippet.marks == ()
    assert snippet.text.startswith("The patient rested")
    assert snippet.text.endswith(f" {ELLIPSIS}")


def test_marks_near_the_end_of_a_page_still_get_a_full_passage():
    text = long_page() + "Final diagnosis: appendicitis"
    snippet = page_hit(parse_query("appendicitis diagnosis"), 1, text).snippet
    assert snippet.text.endswith("Final diagnosis: appendicitis")
    assert len(snippet.text) >= SNIPPET_CHARACTERS - 20
    assert [snippet.text[start:end] for start, end in snippet.marks] == [
        "diagnosis",
        "appendicitis",
    ]


def test_a_page_of_one_overlong_word_is_not_lost():
    text = "x" * 600
    snippet = page_hit(Term("x" * 600), 1, text).snippet
    assert snippet.text == text and snippet.marks == ((0, 600),)


# --- snippet HTML ---------------------------------------------------------------------------------


def test_snippet_html_escapes_everything_and_marks_the_matches():
    text = 'OCR read <script>alert("x")</script> & pneumonia <b>'
    html = snippet_html(page_hit(parse_query("script pneumonia"), 1, text).snippet)
    assert str(html) == (
        "OCR read &lt;<mark>script</mark>&gt;alert(&#34;x&#34;)&lt;/<mark>script</mark>&gt; "
        "&amp; <mark>pneumonia</mark> &lt;b&gt;"
    )
    assert "<script>" not in html


def test_snippet_html_escapes_the_marked_text_too():
    html = snippet_html(Snippet(text="a <i> b", marks=((2, 5),)))
    assert str(html) == "a <mark>&lt;i&gt;</mark> b"
