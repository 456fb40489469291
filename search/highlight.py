"""Which words of a page a query matched, and the passage shown for it, for every backend.

Whoosh's index says *which* pages match; for Tantivy, ``PageMatcher`` decides it here, over
the pages of the result documents. This module says *where* on the page, from the stored
page text and the query tree alone, so both backends highlight exactly alike. The rules
mirror the index's: words are ``interfaces.WORD`` runs, lowercased; a phrase is marked only
where all of it occurs; a prefix or fuzzy word marks the words it expands to; nothing under
a ``Not`` is ever marked (those words are why a page was *not* left out).

It runs for every page of the result documents (a hundred or more per search, inside the
search's time budget), so it looks words up in the lowercased page rather than splitting
the page into words (see ``_Page``); only a fuzzy word can need the page's distinct words.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property, lru_cache

from markupsafe import Markup, escape

from search.interfaces import (
    WORD,
    And,
    Fuzzy,
    Node,
    Not,
    Or,
    PageHit,
    Phrase,
    Prefix,
    Snippet,
    Term,
    words_of,
)

MIN_PIECE = 3  # shorter pieces of a fuzzy word are found in too many words to help
SNIPPET_CHARACTERS = 240  # about two lines of a results list
ELLIPSIS = "…"

Span = tuple[int, int]  # [start, end) character offsets


@dataclass(frozen=True)
class Matches:
    marks: tuple[Span, ...]  # sorted, never overlapping
    terms: frozenset[str]  # the distinct index terms that matched


def page_hit(query: Node, number: int, text: str) -> PageHit:
    """A matching page as a search result shows it: its best passage and matched terms."""
    matches = find_matches(query, text)
    return PageHit(number=number, snippet=best_snippet(text, matches.marks), terms=matches.terms)


# --- where the query matched ----------------------------------------------------------------------


class _Page:
    """A page's text lowercased once, searched with ``str.find`` (C speed) instead of being
    split into words: a regular-expression pass over a 3 KB page costs more than all the
    look-ups a query needs. A word occurrence is a match of the whole word, so the letters
    or digits on either side must be absent (``[^\\W_]`` is exactly ``str.isalnum``)."""

    def __init__(self, text: str):
        self.lowered = text.lower()
        # Lowercasing keeps offsets except for "İ" (to "i" + a combining dot); only then is
        # a map from lowered offsets back to the text's needed.
        self._origin: list[int] | None = None
        if len(self.lowered) != len(text):
            self.lowered, self._origin = _lowered_with_origin(text)

    def occurrences(self, word: str) -> list[Span]:
        found = []
        start = self.lowered.find(word)
        while start >= 0:
            end = start + len(word)
            if self._starts_word(start) and self._ends_word(end):
                found.append((start, end))
            start = self.lowered.find(word, start + 1)
        return found

    def words_starting(self, stem: str) -> dict[str, list[Span]]:
        found: dict[str, list[Span]] = {}
        start = self.lowered.find(stem)
        while start >= 0:
            whole = WORD.match(self.lowered, start)
            if whole and self._starts_word(start) and whole.group().startswith(stem):
                found.setdefault(whole.group(), []).append(whole.span())
            start = self.lowered.find(stem, start + 1)
        return found

    @cached_property
    def distinct_words(self) -> set[str]:
        return set(words_of(self.lowered))

    def words_holding(self, pieces: Iterable[str]) -> set[str]:
        """The distinct words in which any of ``pieces`` occurs."""
        lowered = self.lowered
        found = set()
        for piece in pieces:
            start = lowered.find(piece)
            while start >= 0:
                while start > 0 and lowered[start - 1].isalnum():
                    start -= 1
                word = WORD.match(lowered, start)
                found.add(word.group())
                start = lowered.find(piece, word.end())
        return found

    def count_word_starts(self, stem: str) -> int:
        """How many words begin with ``stem``."""
        count = 0
        start = self.lowered.find(stem)
        while start >= 0:
            count += self._starts_word(start)
            start = self.lowered.find(stem, start + 1)
        return count

    def phrase_spans(self, words: tuple[str, ...]) -> list[Span]:
        """One span per occurrence of the whole phrase, from its first word to its last;
        like the index, only punctuation or space may separate its words."""
        found = []
        for start, end in self.occurrences(words[0]):
            for word in words[1:]:
                following = WORD.search(self.lowered, end)
                if following is None or following.group() != word:
                    break
                end = following.end()
            else:
                found.append((start, end))
        return found

    def in_text(self, span: Span) -> Span:
        if self._origin is None:
            return span
        return self._origin[span[0]], self._origin[span[1] - 1] + 1

    def _starts_word(self, start: int) -> bool:
        return start == 0 or not self.lowered[start - 1].isalnum()

    def _ends_word(self, end: int) -> bool:
        return end == len(self.lowered) or not self.lowered[end].isalnum()


def _lowered_with_origin(text: str) -> tuple[str, list[int]]:
    parts = []
    origin = []
    for offset, char in enumerate(text):
        lowered = char.lower()
        parts.append(lowered)
        origin.extend([offset] * len(lowered))
    return "".join(parts), origin


def find_matches(query: Node, text: str) -> Matches:
    """The marks and matched terms of ``query`` on a page's ``text``."""
    page = _Page(text)
    spans: list[Span] = []
    terms: set[str] = set()
    for leaf in _positive_leaves(query):
        for words, leaf_spans in _leaf_matches(page, leaf):
            if leaf_spans:
                terms.update(words)
                spans.extend(leaf_spans)
    return Matches(marks=_merged([page.in_text(span) for span in spans]), terms=frozenset(terms))


class PageMatcher:
    """Whether each page of one search matches its query, and how well: for a backend that
    keeps no index of single pages (Tantivy: indexing every page a second time took a third
    of a rebuild's CPU), these few pages are checked here, by the same rules as the index.

    One matcher serves all the pages of a search, so that a fuzzy word is compared with each
    distinct page word once, not once per page."""

    def __init__(self, query: Node):
        self._query = query
        self._fuzzy: dict[Fuzzy, _FuzzyWords] = {}

    def score(self, text: str) -> int:
        """0 if the page does not match the query as a whole (every part of an And, one of
        an Or, nothing a Not leaves out); else how often its positive words occur on it,
        which ranks the pages of a document."""
        counts = _LeafCounts(_Page(text), self._fuzzy)
        if not counts.holds(self._query):
            return 0
        return sum(counts.of(leaf) for leaf in _positive_leaves(self._query))


class _FuzzyWords:
    """The words of each page within a fuzzy word's distance. Each distinct word is judged
    once (a PageMatcher keeps one of these for all the pages of a search, which share most
    of their words), and for a long enough fuzzy word only the words that hold a piece of it
    unchanged are judged at all."""

    def __init__(self, leaf: Fuzzy):
        self._leaf = leaf
        self._lengths = range(len(leaf.word) - leaf.distance, len(leaf.word) + leaf.distance + 1)
        self._pieces = _unchanged_pieces(leaf)
        self._judged: set[str] = set()
        self._near: set[str] = set()

    def on(self, page: _Page) -> set[str]:
        words = page.words_holding(self._pieces) if self._pieces else page.distinct_words
        unjudged = words - self._judged
        if unjudged:
            self._judged |= unjudged
            word, distance = self._leaf.word, self._leaf.distance
            self._near.update(
                other
                for other in unjudged
                if len(other) in self._lengths and _fuzzy_match(word, other, distance)
            )
        return words & self._near


def _unchanged_pieces(leaf: Fuzzy) -> tuple[str, ...]:
    """Strings of which every word within one edit of ``leaf.word`` holds at least one: its
    two halves (one edit changes at most one of them), and the word with the letters either
    side of the middle swapped (the one edit that changes both). Splitting a page into words
    costs seven times as much as finding these. Empty (split the page) for two edits, and
    for words too short for their halves to be rare."""
    word = leaf.word
    if leaf.distance != 1 or len(word) < MIN_PIECE * 2:
        return ()
    half = len(word) // 2
    swapped = word[: half - 1] + word[half] + word[half - 1] + word[half + 1 :]
    return word[:half], word[half:], swapped


class _LeafCounts:
    """How often each leaf of a query occurs on one page, counted once however often it is
    asked."""

    def __init__(self, page: _Page, fuzzy: dict[Fuzzy, _FuzzyWords]):
        self._page = page
        self._fuzzy = fuzzy
        self._counts: dict[Node, int] = {}

    def holds(self, node: Node) -> bool:
        if isinstance(node, And):
            return all(self.holds(part) for part in node.parts)
        if isinstance(node, Or):
            return any(self.holds(part) for part in node.parts)
        if isinstance(node, Not):
            return not self.holds(node.part)
        return self.of(node) > 0

    def of(self, leaf: Term | Prefix | Fuzzy | Phrase) -> int:
        if leaf not in self._counts:
            self._counts[leaf] = self._count(leaf)
        return self._counts[leaf]

    def _count(self, leaf: Term | Prefix | Fuzzy | Phrase) -> int:
        page = self._page
        if isinstance(leaf, Term):
            return len(page.occurrences(leaf.word))
        if isinstance(leaf, Phrase):
            return len(page.phrase_spans(leaf.words))
        if isinstance(leaf, Prefix):
            return page.count_word_starts(leaf.stem)
        if leaf not in self._fuzzy:
            self._fuzzy[leaf] = _FuzzyWords(leaf)
        near = self._fuzzy[leaf].on(page)
        return sum(len(page.occurrences(word)) for word in near)


def _positive_leaves(node: Node) -> Iterator[Term | Prefix | Fuzzy | Phrase]:
    if isinstance(node, And | Or):
        for part in node.parts:
            yield from _positive_leaves(part)
    elif not isinstance(node, Not):
        yield node


def _leaf_matches(
    page: _Page,
    leaf: Term | Prefix | Fuzzy | Phrase,
) -> Iterator[tuple[tuple[str, ...], list[Span]]]:
    """(the index terms, their spans on the page) for each way ``leaf`` can match."""
    if isinstance(leaf, Phrase):
        yield leaf.words, page.phrase_spans(leaf.words)
    elif isinstance(leaf, Term):
        yield (leaf.word,), page.occurrences(leaf.word)
    elif isinstance(leaf, Prefix):
        for word, word_spans in page.words_starting(leaf.stem).items():
            yield (word,), word_spans
    else:
        for word in _FuzzyWords(leaf).on(page):
            yield (word,), page.occurrences(word)


def _merged(marks: list[Span]) -> tuple[Span, ...]:
    """Sorted, with overlapping marks joined (a word can match twice: ``chest chest*``)."""
    merged: list[Span] = []
    for start, end in sorted(marks):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return tuple(merged)


# The same few query words meet the same page words on page after page and search after
# search; remembering the answers keeps fuzzy highlighting cheap.
@lru_cache(maxsize=65536)
def _fuzzy_match(word: str, candidate: str, distance: int) -> bool:
    return within_distance(word, candidate, distance)


def within_distance(word: str, other: str, limit: int) -> bool:
    """Whether ``other`` is at most ``limit`` edits from ``word``: insertions, deletions,
    substitutions and swaps of two neighbouring letters, each counting one, no letter edited
    twice (the restricted Damerau-Levenshtein distance the indexes' fuzzy queries use).

    Bounded search instead of a full distance table: shared starts and ends cost nothing,
    and with a limit of one or two only a handful of branches are ever tried."""
    if abs(len(word) - len(other)) > limit:
        return False
    start = 0
    shortest = min(len(word), len(other))
    while start < shortest and word[start] == other[start]:
        start += 1
    end_word, end_other = len(word), len(other)
    while end_word > start and end_other > start and word[end_word - 1] == other[end_other - 1]:
        end_word -= 1
        end_other -= 1
    word, other = word[start:end_word], other[start:end_other]
    if not word or not other:
        return max(len(word), len(other)) <= limit
    if limit == 0:
        return False
    if limit == 1:
        # With the shared start and end gone, one edit leaves one letter on each side (a
        # letter changed) or two swapped neighbours ("ab", "ba"). Deciding that here
        # instead of trying every branch makes highlighting a `~1` word a fifth cheaper.
        return len(word) == len(other) == 1 or (
            len(word) == len(other) == 2 and word == other[::-1]
        )
    left = limit - 1
    return (
        within_distance(word[1:], other[1:], left)  # substitution
        or within_distance(word[1:], other, left)  # deletion
        or within_distance(word, other[1:], left)  # insertion
        or (
            len(word) > 1
            and len(other) > 1
            and word[0] == other[1]
            and word[1] == other[0]
            and within_distance(word[2:], other[2:], left)
        )  # neighbours swapped
    )


# --- the passage shown ----------------------------------------------------------------------------


def best_snippet(text: str, marks: tuple[Span, ...], width: int = SNIPPET_CHARACTERS) -> Snippet:
    """About ``width`` characters around the densest run of marks, cut between words, with
    an ellipsis where the page goes on; the marks inside it re-based to the passage."""
    if marks:
        first, last = _densest_run(marks, width)
        core_start, core_end = marks[first][0], marks[last][1]
    else:  # nothing to show around: the page's opening words
        opening_word = WORD.search(text)
        core_start, core_end = opening_word.span() if opening_word else (0, 0)
    start, end = _window(text, core_start, core_end, width)
    lead = f"{ELLIPSIS} " if start > 0 else ""
    tail = f" {ELLIPSIS}" if end < len(text) else ""
    shift = len(lead) - start
    inside = tuple(
        (mark_start + shift, mark_end + shift)
        for mark_start, mark_end in marks
        if start <= mark_start and mark_end <= end
    )
    return Snippet(text=lead + text[start:end] + tail, marks=inside)


def _densest_run(marks: tuple[Span, ...], width: int) -> tuple[int, int]:
    """Indexes of the first and last mark of the run with the most marks that fits in
    ``width`` (the earliest of equals: the top of the page is read first)."""
    best = (0, 0)
    first = 0
    for last in range(len(marks)):
        while marks[last][1] - marks[first][0] > width and first < last:
            first += 1
        if last - first > best[1] - best[0]:
            best = (first, last)
    return best


def _window(text: str, core_start: int, core_end: int, width: int) -> Span:
    """[start, end) of about ``width`` characters holding [core_start, core_end), centred on
    it, moved to fall between words and stripped of surrounding white space."""
    slack = max(0, width - (core_end - core_start))
    start = max(0, core_start - slack // 2)
    end = min(len(text), max(core_end, start + width))
    start = max(0, min(start, end - width))  # near the end of the page, widen to the left
    if start > 0 and not text[start - 1].isspace():
        while start < core_start and not text[start].isspace():
            start += 1  # skip the cut word
    if end < len(text) and not text[end].isspace():
        while end > core_end and not text[end - 1].isspace():
            end -= 1
    while start < core_start and text[start].isspace():
        start += 1
    while end > core_end and text[end - 1].isspace():
        end -= 1
    return start, end


def snippet_html(snippet: Snippet) -> Markup:
    """The snippet as safe HTML: all of its text escaped (OCR text can hold anything, even
    ``<script>``) and each mark wrapped in ``<mark>``. The only place snippet HTML is made."""
    parts: list[Markup] = []
    shown = 0
    for start, end in snippet.marks:
        parts.append(escape(snippet.text[shown:start]))
        parts.append(Markup("<mark>%s</mark>") % snippet.text[start:end])
        shown = end
    parts.append(escape(snippet.text[shown:]))
    return Markup("").join(parts)
