"""Whatever the user types into a search is safe, and matching follows Unicode case folding, with the marks on the
characters that matched: in the library's search (FTS5 trigram index and the scan without it) and in match_spans,
which the live transcript's Ctrl+F uses too."""

from __future__ import annotations

import sqlite3

import pytest

from app.library import Library, LibraryError, schema
from app.library.index import INDEX_FILE
from app.library.search import MAX_TERMS, query_terms
from app.transcript import LiveTranscript, match_spans
from tests.app.library.sessions import event, make_session

TEXTS = [
    "Die Straße ist lang.",  # 0: ß folds to ss
    "STRASSE und Strasse.",  # 1
    "İstanbul'da buluşalım.",  # 2: İ folds to i + a combining dot
    "Ελληνικά: ΣΊΣΥΦΟΣ και σίσυφος.",  # 3: final sigma
    "Office ﬃ ligature, MASSE.",  # 4: ﬃ folds to ffi
    'Quotes "here", NEAR(a b), col:umn, a*b, -x, ^y, AND OR NOT.',  # 5: FTS5 syntax
]


@pytest.fixture(params=[True, False], ids=["fts5", "scan-fallback"])
def library(request, tmp_path, monkeypatch):
    if not request.param:
        monkeypatch.setattr(schema, "has_fts5", lambda conn: False)
    make_session(tmp_path, "Wörter", [event("mic", text, 3.0 * i) for i, text in enumerate(TEXTS)])
    lib = Library(tmp_path)
    assert lib.full_text is request.param
    lib.scan()
    yield lib
    lib.close()


def found(library: Library, query: str) -> list[tuple[int, list[str]]]:
    """Each hit's line and the text its marks cover."""
    return [(h.line_index, [h.snippet[a:b] for a, b in h.marks]) for h in library.search(query)]


@pytest.mark.parametrize(("query", "expected"), [
    ("strasse", [(0, ["Straße"]), (1, ["STRASSE", "Strasse"])]),
    ("STRASSE", [(0, ["Straße"]), (1, ["STRASSE", "Strasse"])]),
    ("straße", [(0, ["Straße"]), (1, ["STRASSE", "Strasse"])]),
    ("STRAẞE", [(0, ["Straße"]), (1, ["STRASSE", "Strasse"])]),  # capital sharp s
    ("ss", [(0, ["ß"]), (1, ["SS", "ss"]), (4, ["SS"])]),
    ("i̇stanbul", [(2, ["İstanbul"])]),
    ("σίσυφος", [(3, ["ΣΊΣΥΦΟΣ", "σίσυφος"])]),
    ("ffi", [(4, ["ffi", "ﬃ"])]),
    ("OFFICE", [(4, ["Office"])]),
    ('"near(a b)"', [(5, ["NEAR(a b)"])]),
    ("col:umn a*b", [(5, ["col:umn", "a*b"])]),
    ("-x ^y", [(5, ["-x", "^y"])]),
    ("AND OR NOT", [(5, ["AND", "OR", "NOT"])]),
    ('"here"', [(5, ["here"])]),
])
def test_search_matches_under_case_folding_and_marks_what_matched(library, query, expected):
    assert found(library, query) == expected


@pytest.mark.parametrize("query", [
    "\x00", "stra\x00sse", "\x00\x00\x00 strasse", "\ud800", "stra\udfffsse", "\ud83d", "\x01\x1f\x7f",
    '"\x00"', '"""', "\\", "'", "%", "_", "\t\n\r", "​", "\ufffd",
])
def test_any_text_typed_is_safe(library, query):
    hits = library.search(query)  # never an exception
    assert all(h.session_id for h in hits)


def test_control_characters_and_lone_surrogates_only_separate_words(library):
    assert found(library, "stra\x00sse") == found(library, "stra sse") == [(0, ["Straße"]), (1, ["STRASSE", "Strasse"])]
    assert found(library, "lang\x00\x00ist") == [(0, ["ist", "lang"])]
    assert found(library, "\x00strasse\ud800") == found(library, "strasse")
    assert found(library, "lang\x00straße") == [(0, ["Straße", "lang"])]


def test_very_long_input_is_safe(library):
    assert library.search("strasse " * 20000) == library.search("strasse")  # one word, said many times
    assert library.search("x" * 200_000) == []
    assert library.search('"' + "Straße " * 10000 + '"') == []
    many = " ".join(f"word{n}" for n in range(MAX_TERMS + 1))
    with pytest.raises(LibraryError, match=f"at most {MAX_TERMS} words"):
        library.search(many)
    assert library.search(" ".join(f"word{n}" for n in range(MAX_TERMS))) == []


def test_query_terms_are_casefolded_and_deduplicated():
    assert query_terms('STRASSE Straße "Die  Straße" x\x00y') == ["strasse", "die  strasse", "x", "y"]


def test_an_old_index_without_folded_text_is_made_again(tmp_path):
    folder = make_session(tmp_path, "Alt", [event("mic", "Die Straße", 0.0)])
    with sqlite3.connect(tmp_path / INDEX_FILE) as conn:  # what the first schema version made
        conn.executescript(
            "CREATE TABLE schema (version INTEGER NOT NULL, full_text INTEGER NOT NULL);"
            "INSERT INTO schema VALUES (1, 1);"
            "CREATE TABLE lines (id INTEGER PRIMARY KEY, text TEXT NOT NULL);"
        )
    conn.close()
    library = Library(tmp_path)
    try:
        assert library.scan() == [folder.name]
        assert [h.line_index for h in library.search("STRASSE")] == [0]
    finally:
        library.close()


def test_stored_text_with_lone_surrogates_and_nul_is_indexed_and_found(tmp_path):
    folder = make_session(tmp_path, "Odd", [])
    (folder / "transcript.jsonl").write_text(
        '{"source_id": "mic", "text": "bad \\ud800 surrogate", "start_s": 0, "end_s": 1}\n'
        '{"source_id": "mic", "text": "nul \\u0000 inside", "start_s": 5, "end_s": 6}\n',
        encoding="utf-8",
    )
    library = Library(tmp_path)
    try:
        assert library.scan() == [folder.name]
        assert [(h.line_index, h.snippet) for h in library.search("surrogate")] == [(0, "bad \ufffd surrogate")]
        assert [h.line_index for h in library.search("inside")] == [1]
        assert [x.text for x in library.lines(folder.name)] == ["bad \ufffd surrogate", "nul \x00 inside"]
    finally:
        library.close()


@pytest.mark.parametrize(("text", "query", "spans"), [
    ("Straße", "strasse", [(0, 6)]),
    ("Straße", "STRASSE", [(0, 6)]),
    ("Straße", "s", [(0, 1), (4, 5)]),  # half of "ß" marks all of it
    ("Maße Masse", "ss", [(2, 3), (7, 9)]),
    ("İİ", "i", [(0, 1), (1, 2)]),
    ("aİb", "i̇b", [(1, 3)]),
    ("ﬃx", "fix", [(0, 2)]),
    ("budget? BUDGET!", "budget", [(0, 6), (8, 14)]),
    ("aaaa", "aa", [(0, 2), (2, 4)]),
    ("a.c abc", "a.c", [(0, 3)]),
    ("abc", "", []),
    ("", "a", []),
])
def test_match_spans_lands_on_the_characters_of_the_original_text(text, query, spans):
    assert match_spans(text, query) == spans


def test_the_live_transcript_search_follows_case_folding():
    transcript = LiveTranscript()
    for i, text in enumerate(["Die Straße.", "Nothing here.", "STRASSE!"]):
        transcript.add(event("mic", text, 3.0 * i))
    assert transcript.search("strasse") == [0, 2]
    assert transcript.search("ẞ") == [0, 2]
    assert transcript.search("\x00") == [] and transcript.search("\ud800") == []
