"""The search box's little language, parsed into the query tree of ``search.interfaces``.

    chest pain              both words (words side by side are ANDed)
    "chest pain"            the exact phrase
    pneumonia OR sepsis     either; ``AND`` may be written out; ``OR`` binds loosest
    sepsis NOT neonatal     leave out (also ``-neonatal``, ``-"chest pain"``, ``-(a OR b)``)
    (mi OR infarction) ecg  parentheses group
    cardio*                 words starting with ``cardio`` (at least 3 letters or digits)
    pneumonia~1             words within 1 (or ``~2``) letters of ``pneumonia``: OCR errors

Operators are recognised only in upper case, so a lowercase ``and``/``or``/``not`` is an
ordinary word. Every word is split and folded by ``interfaces.words_of``: a term such as
``x-ray`` or ``O'Brien`` holds several words and becomes a phrase of them, and a token of
punctuation alone is dropped. A query the parser cannot understand is refused with a message
that says what is wrong and where (positions count characters from 1), so the person at the
search box can fix it; nothing malformed ever reaches an index backend.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from search.interfaces import (
    WORD,
    And,
    Fuzzy,
    InvalidQuery,
    Node,
    Not,
    Or,
    Phrase,
    Prefix,
    Term,
    words_of,
)

# Limits that keep one search from occupying the server (each word is a posting-list walk,
# each prefix or fuzzy word an expansion over the whole term dictionary).
MAX_QUERY_CHARACTERS = 500
MAX_QUERY_WORDS = 50
MIN_PREFIX_LENGTH = 3  # shorter stems expand to a large share of the dictionary
MAX_FUZZY_DISTANCE = 2  # OCR misreads one or two letters; more matches unrelated words

OPERATORS = ("AND", "OR", "NOT")
_FUZZY_SUFFIX = re.compile(r"~(\d*)$")


@dataclass(frozen=True)
class _Token:
    kind: str  # "words", an operator ("AND", "OR", "NOT"), "-", "(" or ")"
    position: int  # 1-based, where the token starts in the query text
    node: Node | None = None  # for "words": what the word or quoted phrase means


def parse_query(text: str) -> Node | None:
    """The query tree of ``text``, or None when it is blank (a search by filters alone)."""
    if not text.strip():
        return None
    if len(text) > MAX_QUERY_CHARACTERS:
        raise InvalidQuery(
            f"This search is {len(text)} characters long; the limit is "
            f"{MAX_QUERY_CHARACTERS}. Keep the words that matter most and search again."
        )
    tokens = _tokenize(text)
    if not tokens:
        raise InvalidQuery(
            "This search has no letters or digits to look for; type at least one word."
        )
    tree = _Parser(tokens).parse()
    _refuse_bare_exclusions(tree, inside_or=False)
    word_count = _count_words(tree)
    if word_count > MAX_QUERY_WORDS:
        raise InvalidQuery(
            f"This search has {word_count} words; the limit is {MAX_QUERY_WORDS}. "
            "Keep the words that matter most and search again."
        )
    return tree


# --- reading the text into tokens -----------------------------------------------------------------


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    index = 0
    while index < len(text):
        char = text[index]
        position = index + 1
        if char.isspace():
            index += 1
        elif char in "()":
            tokens.append(_Token(char, position))
            index += 1
        elif char == '"':
            index = _read_quoted(text, index, tokens)
        elif char == "-" and _starts_exclusion(text, index + 1):
            tokens.append(_Token("-", position))
            index += 1
        else:
            end = _end_of_term(text, index)
            term = text[index:end]
            if term in OPERATORS:
                tokens.append(_Token(term, position))
            else:
                node = _term_node(term, position)
                if node is not None:  # punctuation alone carries nothing to look for
                    tokens.append(_Token("words", position, node))
            index = end
    return tokens


def _starts_exclusion(text: str, index: int) -> bool:
    """A leading ``-`` excludes only when a word, a quote or a group follows it at once;
    otherwise (``- ``, ``-?``) it is punctuation like any other."""
    if index >= len(text):
        return False
    following = text[index]
    return following in '"(' or WORD.match(following) is not None


def _end_of_term(text: str, start: int) -> int:
    end = start
    while end < len(text) and not text[end].isspace() and text[end] not in '()"':
        end += 1
    return end


def _read_quoted(text: str, opening: int, tokens: list[_Token]) -> int:
    """Append the phrase quoted at ``opening``; return the index after its closing quote."""
    closing = text.find('"', opening + 1)
    position = opening + 1
    if closing < 0:
        raise InvalidQuery(
            f'The quote opened at position {position} is never closed; add a closing " '
            "or remove it."
        )
    words = words_of(text[opening + 1 : closing])
    if not words:
        raise InvalidQuery(
            f"The quotes at position {position} have no words inside; put the exact words "
            "between them or remove them."
        )
    tokens.append(_Token("words", position, _words_node(words)))
    return closing + 1


def _words_node(words: list[str]) -> Term | Phrase:
    return Term(words[0]) if len(words) == 1 else Phrase(tuple(words))


def _term_node(term: str, position: int) -> Node | None:
    """What one unquoted term means: a word, a phrase (``x-ray``), a prefix or a fuzzy word;
    None for punctuation alone."""
    fuzzy = _FUZZY_SUFFIX.search(term)
    if fuzzy:
        return _fuzzy_node(term, term[: fuzzy.start()], fuzzy.group(1), position)
    if term.endswith("*"):
        return _prefix_node(term, term.rstrip("*"), position)
    if "~" in term or "*" in term:
        raise _misplaced_wildcard(term, position)
    words = words_of(term)
    return _words_node(words) if words else None


def _prefix_node(term: str, stem_text: str, position: int) -> Prefix:
    if "~" in stem_text or "*" in stem_text:
        raise _misplaced_wildcard(term, position)
    words = words_of(stem_text)
    if len(words) > 1:
        raise InvalidQuery(
            f'"{term}" at position {position}: a * can only end a single word, and this '
            f"holds {len(words)}. Remove the * or shorten it to one word."
        )
    if not words or len(words[0]) < MIN_PREFIX_LENGTH:
        raise InvalidQuery(
            f'"{term}" at position {position}: put at least {MIN_PREFIX_LENGTH} letters or '
            "digits before the * (a shorter start matches too many words), as in cardio*."
        )
    return Prefix(words[0])


def _fuzzy_node(term: str, word_text: str, distance_text: str, position: int) -> Term | Fuzzy:
    if "~" in word_text or "*" in word_text:
        raise _misplaced_wildcard(term, position)
    words = words_of(word_text)
    if not words:
        raise InvalidQuery(
            f'"{term}" at position {position}: a ~ must follow a word, as in pneumonia~1.'
        )
    if len(words) > 1:
        raise InvalidQuery(
            f'"{term}" at position {position}: a ~ can only follow a single word, and this '
            f"holds {len(words)}. Remove the ~ or search for one word."
        )
    distance = int(distance_text) if distance_text else 1
    if distance > MAX_FUZZY_DISTANCE:
        raise InvalidQuery(
            f'"{term}" at position {position} allows {distance} differing letters; use ~1 '
            "or ~2. OCR errors are usually one or two letters, and more would match "
            "unrelated words."
        )
    return Term(words[0]) if distance == 0 else Fuzzy(words[0], distance)


def _misplaced_wildcard(term: str, position: int) -> InvalidQuery:
    return InvalidQuery(
        f'"{term}" at position {position}: * and ~ can only come at the end of a word, '
        "as in cardio* or pneumonia~1."
    )


# --- tokens into a tree ---------------------------------------------------------------------------


class _Parser:
    """Recursive descent, one method per precedence level: OR < AND < NOT < a group."""

    def __init__(self, tokens: list[_Token]):
        self._tokens = tokens
        self._next = 0

    def parse(self) -> Node:
        tree = self._or()
        stray = self._peek()
        if stray is not None:  # only an unmatched ")" stops the loops before the end
            raise _unmatched_close(stray)
        return tree

    def _peek(self) -> _Token | None:
        return self._tokens[self._next] if self._next < len(self._tokens) else None

    def _take(self) -> _Token:
        token = self._tokens[self._next]
        self._next += 1
        return token

    def _peek_kind(self) -> str | None:
        token = self._peek()
        return token.kind if token is not None else None

    def _starts_operand(self) -> bool:
        return self._peek_kind() in ("words", "NOT", "-", "(")

    def _or(self) -> Node:
        parts = [self._and()]
        while self._peek_kind() == "OR":
            token = self._take()
            if not self._starts_operand():
                raise _nothing_after(token)
            parts.append(self._and())
        return _combine(Or, parts)

    def _and(self) -> Node:
        parts = [self._unary()]
        while self._peek_kind() == "AND" or self._starts_operand():
            if self._peek_kind() == "AND":
                token = self._take()
                if not self._starts_operand():
                    raise _nothing_after(token)
            parts.append(self._unary())
        return _combine(And, parts)

    def _unary(self) -> Node:
        if self._peek_kind() in ("NOT", "-"):
            token = self._take()
            if not self._starts_operand():
                raise _nothing_after(token)
            excluded = self._unary()
            # NOT NOT x is x: the tree keeps Not only where something is left out.
            return excluded.part if isinstance(excluded, Not) else Not(excluded)
        return self._operand()

    def _operand(self) -> Node:
        token = self._take()  # every caller has checked that some token is next
        if token.node is not None:
            return token.node
        if token.kind == "(":
            return self._group(token)
        if token.kind == ")":
            raise _unmatched_close(token)
        raise InvalidQuery(  # AND / OR where a word should be
            f"{token.kind} at position {token.position} has nothing before it; put a word "
            f"on each side of {token.kind}, or remove it."
        )

    def _group(self, opening: _Token) -> Node:
        if self._peek_kind() == ")":
            raise InvalidQuery(
                f"The parentheses at position {opening.position} have nothing inside; put "
                "words inside or remove them."
            )
        inner = self._or() if self._peek_kind() is not None else None
        if inner is None or self._peek_kind() != ")":
            raise InvalidQuery(
                f"The parenthesis opened at position {opening.position} is never closed; "
                "add a closing ) or remove it."
            )
        self._take()
        return inner


def _combine(kind: type[And] | type[Or], parts: list[Node]) -> Node:
    """One part stands alone; nested groups of the same kind are flattened, so that
    ``a (b -c)`` is one And whose exclusion sits beside the words it narrows."""
    if len(parts) == 1:
        return parts[0]
    flat: list[Node] = []
    for part in parts:
        flat.extend(part.parts if isinstance(part, kind) else (part,))
    return kind(tuple(flat))


def _nothing_after(token: _Token) -> InvalidQuery:
    if token.kind in ("NOT", "-"):
        name = "NOT" if token.kind == "NOT" else "The -"
        return InvalidQuery(
            f"{name} at position {token.position} has nothing after it; put the word to "
            "leave out right after it, as in NOT smoker or -smoker."
        )
    return InvalidQuery(
        f"{token.kind} at position {token.position} has nothing after it; put a word on each "
        f"side of {token.kind}, or remove it."
    )


def _unmatched_close(token: _Token) -> InvalidQuery:
    return InvalidQuery(
        f"The ) at position {token.position} has no matching (; remove it or add an "
        "opening ( before it."
    )


# --- checks on the whole tree ---------------------------------------------------------------------


def _refuse_bare_exclusions(node: Node, inside_or: bool) -> None:
    """An exclusion must narrow something: alone (or as one side of OR) it would match
    nearly every record in the archive."""
    if isinstance(node, Not):
        if inside_or:
            raise InvalidQuery(
                "One side of OR only leaves words out (NOT or -); give each side of OR at "
                "least one word to look for."
            )
        raise InvalidQuery(
            "This search only leaves words out (NOT or -); add at least one word to look "
            "for, as in pneumonia NOT smoker."
        )
    if isinstance(node, And):
        if all(isinstance(part, Not) for part in node.parts):
            _refuse_bare_exclusions(node.parts[0], inside_or)
        for part in node.parts:
            _refuse_bare_exclusions(part.part if isinstance(part, Not) else part, False)
    elif isinstance(node, Or):
        for part in node.parts:
            _refuse_bare_exclusions(part, inside_or=True)


def _count_words(node: Node) -> int:
    if isinstance(node, Phrase):
        return len(node.words)
    if isinstance(node, And | Or):
        return sum(_count_words(part) for part in node.parts)
    if isinstance(node, Not):
        return _count_words(node.part)
    return 1
