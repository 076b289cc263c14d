"""Searching the library's lines: the user's words as terms, the SQL that finds lines holding all of them, and where
the matches lie in a line.

Terms of at least three characters use the FTS5 trigram index (found anywhere inside the text, in any script);
shorter terms, and all terms when SQLite has no FTS5, are matched by scanning the line texts case-insensitively.
User input is always taken literally: it never reaches FTS5's query syntax unquoted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from app.transcript import match_spans

_TRIGRAM = 3  # the trigram tokenizer cannot match shorter words
_TERM = re.compile(r'"([^"]*)"|(\S+)')


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


def query_terms(query: str) -> list[str]:
    """The words of a search, all of which a line must contain: "quoted text" stays one term; stray quotes go."""
    terms: list[str] = []
    for phrase, word in _TERM.findall(query):
        term = phrase.strip() if phrase else word.strip('"')
        if term and term.casefold() not in (t.casefold() for t in terms):
            terms.append(term)
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
    """The SQL (ending in ``LIMIT ?``) and its parameters (all but the limit) for lines containing every term,
    newest session first, then the live version, then by time."""
    where: list[str] = []
    params: list[Any] = []
    indexed = [t for t in terms if len(t) >= _TRIGRAM] if full_text else []
    if indexed:
        where.append("l.id IN (SELECT rowid FROM lines_fts WHERE lines_fts MATCH ?)")
        params.append(" ".join('"' + t.replace('"', '""') + '"' for t in indexed))
    for term in terms:
        if term not in indexed:
            where.append("instr(casefold(l.text), ?) > 0")
            params.append(term.casefold())
    for column, value in (("l.session_id", session_id), ("l.version", version)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    sql = (
        "SELECT l.session_id, s.title, l.version, l.line_index, l.start_s, l.label, l.text "
        "FROM lines l JOIN sessions s ON s.id = l.session_id WHERE " + " AND ".join(where) + " "
        "ORDER BY s.started_at DESC, s.id DESC, l.version != 'live', l.version, l.line_index LIMIT ?"
    )
    return sql, params
