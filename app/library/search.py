"""Searching the library's lines: the user's words as terms, the SQL that finds lines holding all of them, and where
the matches lie in a line.

Matching follows Unicode case folding on both sides ("strasse" and "STRASSE" find "Straße"): the terms are
casefolded here and the index holds each line's casefolded copy (``app.library.schema``). Terms of at least three
characters use the FTS5 trigram index (found anywhere inside the text, in any script); shorter terms, and all terms
when SQLite has no FTS5, are matched by scanning the folded texts. User input is always taken literally: it never
reaches FTS5's query syntax unquoted, and characters that no text should hold (control characters such as NUL,
lone surrogates) only separate words, in the query as in the indexed text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from app.library.folder import storable
from app.transcript import match_spans

MAX_TERMS = 64  # each term is one more condition in the SQL; nobody searches for more words at once
_TRIGRAM = 3  # the trigram tokenizer cannot match shorter words
_TERM = re.compile(r'"([^"]*)"|(\S+)')
_NOT_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")  # what no caption or correction holds


class TooManyTerms(ValueError):
    """A search with more than MAX_TERMS words."""


@dataclass(frozen=True)
class SearchHit:
    """A line that matches a search; ``marks`` are the (start, end) offsets of the matches in ``snippet``."""

    session_id: str
    title: str
    version: str
    line_index: int
    start_s: float
    label: str
    snippet: str
    marks: tuple[tuple[int, int], ...]


def folded_text(text: str) -> str:
    """What the index matches a line's ``text`` against: casefolded, with what only separates words (a NUL, at
    which SQLite's text functions would stop) made a space."""
    return _NOT_TEXT.sub(" ", text.casefold())


def query_terms(query: str) -> list[str]:
    """The casefolded words of a search, all of which a line must contain: "quoted text" stays one term; stray
    quotes go. TooManyTerms beyond MAX_TERMS."""
    terms: list[str] = []
    for phrase, word in _TERM.findall(folded_text(query)):
        term = phrase.strip() if phrase else word.strip('"')
        if term and term not in terms:
            terms.append(term)
            if len(terms) > MAX_TERMS:
                raise TooManyTerms(f"search for at most {MAX_TERMS} words at a time")
    return terms


def marks(text: str, terms: list[str]) -> tuple[tuple[int, int], ...]:
    """The (start, end) spans of ``terms`` in ``text``, overlapping spans merged."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(s for term in terms for s in match_spans(text, term)):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return tuple(merged)


def search_query(terms: list[str], *, full_text: bool, session_id: str | None, version: str | None
                 ) -> tuple[str, list[Any]]:
    """The SQL (ending in ``LIMIT ?``) and its parameters (all but the limit) for lines containing every term (from
    ``query_terms``), newest session first, then the live version, then by time."""
    where: list[str] = []
    params: list[Any] = []
    indexed = [t for t in terms if len(t) >= _TRIGRAM] if full_text else []
    if indexed:
        where.append("l.id IN (SELECT rowid FROM lines_fts WHERE lines_fts MATCH ?)")
        params.append(" ".join('"' + t.replace('"', '""') + '"' for t in indexed))
    for term in terms:
        if term not in indexed:
            where.append("instr(l.folded, ?) > 0")
            params.append(term)
    for column, value in (("l.session_id", session_id), ("l.version", version)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(storable(value))
    sql = (
        "SELECT l.session_id, s.title, l.version, l.line_index, l.start_s, l.label, l.text "
        "FROM lines l JOIN sessions s ON s.id = l.session_id WHERE " + " AND ".join(where) + " "
        "ORDER BY s.started_at DESC, s.id DESC, l.version != 'live', l.version, l.line_index LIMIT ?"
    )
    return sql, params
