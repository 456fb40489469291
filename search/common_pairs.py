"""Pairs of common words, the Tantivy backend's help for phrases (what Lucene calls common
grams).

A phrase is slow when all its words are common: Tantivy reads their positions in every
document that holds them all ("the left" is in two thirds of the benchmark's charts). So each
document record also indexes, as one term, every two adjacent words of a page that are both
in ``COMMON_WORDS``, with positions. A phrase of such words is then a phrase of their pairs:
"the patient was" is "the_patient" followed by "patient_was", whose positions are far fewer
than those of "the". Where two successive pairs are not adjacent on the page, a ``RUN_BREAK``
stands between them; the index drops it but keeps the gap, so that "the patient X patient
was" never matches "the patient was". A phrase with a less common word first requires the
pairs it has and is then checked on word positions: that word keeps the documents to check
fewer.

Only common words pair up, because indexing every pair cost more than all the rest of the
indexing (bench/README.md, search run 3); these are about a quarter of the pairs of a chart
page. An ASCII page (nearly every page) is cut in one pass over its bytes, since a rebuild
cuts them on every page of the archive. The list is fixed: changing it changes what the
index holds, so it is part of the schema version (``TantivyIndex.SCHEMA_VERSION``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import AnyStr

from search.interfaces import ASCII_WORD_BYTES, words_of

# English function words and the words of clinical writing that are in most charts.
COMMON_WORDS = frozenset(
    """
    a about above after again against all also am an and any are as at be because been
    before being below between both but by can could did do does done down during each
    either few for from further had has have having he her here hers him his how i if in
    into is it its may me more most must my no nor not now of off on once one only or
    other our out over own per same she should since so some such than that the their them
    then there these they this those three through to too two under until up upon very was
    we were what when where which while who whom why will with within without would you
    your given made well
    abdomen allergies anesthesia anterior area back bilateral blood chest clear closed
    complications condition daily diagnosis dr exam examination follow general good head
    heart history illness incision lateral left lower medial medications negative neck
    normal noted old operating pain past patient performed physical placed positive post
    posterior postoperative preoperative present pressure prior procedure rate recovery
    removed right room side skin stable status surgery tissue tolerated upper used using
    year
    """.split()  # noqa: SIM905 - a word list reads better as text
)
PAIR_JOINER = "_"  # never inside a word
RUN_BREAK = "."  # never a word: stands between two pairs that are not adjacent on the page
_COMMON_WORD_BYTES = frozenset(word.encode() for word in COMMON_WORDS)
_BYTE_JOINER = PAIR_JOINER.encode()
_BYTE_BREAK = RUN_BREAK.encode()


def page_pairs(text: str) -> str:
    """The terms one page gives ``document_pairs``, whitespace-separated: ``pair_terms`` of
    its words."""
    if text.isascii():
        words = text.encode().translate(ASCII_WORD_BYTES).split()  # the words, as bytes
        return b" ".join(_pairs(words, _COMMON_WORD_BYTES, _BYTE_JOINER, _BYTE_BREAK)).decode()
    return " ".join(pair_terms(words_of(text)))


def pair_terms(words: Sequence[str]) -> list[str]:
    """The pair of each two adjacent ``words`` that are both common, in order, with a
    ``RUN_BREAK`` between two pairs that are not adjacent."""
    return _pairs(words, COMMON_WORDS, PAIR_JOINER, RUN_BREAK)


def common_pairs(words: Sequence[str]) -> list[str]:
    """The pair of each two adjacent ``words`` that are both common, in order."""
    return [term for term in pair_terms(words) if term != RUN_BREAK]


def _pairs(
    words: Sequence[AnyStr], common: frozenset[AnyStr], joiner: AnyStr, run_break: AnyStr
) -> list[AnyStr]:
    # One pass that remembers the previous word while it is common: each word is looked
    # up once, which matters at some 340 words a page on every page of a rebuild.
    terms = []
    previous = None
    in_run = False  # the last term is the pair that ends with ``previous``
    for word in words:
        if word in common:
            if previous is not None:
                if terms and not in_run:
                    terms.append(run_break)
                terms.append(previous + joiner + word)
                in_run = True
            previous = word
        else:
            previous = None
            in_run = False
    return terms
