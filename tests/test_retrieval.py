"""Retrieval: chunking, offline BM25, local collections, and the web adapter against fake providers (no network)."""

from __future__ import annotations

import json

import pytest

from mi_utils.backends.http import ServerError
from mi_utils.deep_research.retrieval import (
    BM25Retriever,
    Document,
    SearchHit,
    Source,
    TavilySearch,
    WebSearchError,
    WebSearchRetriever,
    chunk_text,
    financebench_documents,
    html_to_text,
    passage_documents,
    text_folder_documents,
)

from conftest import team_data_dir
from fakes import FakeResponse, FakeSession


# ------------------------------------------------------------------------------- chunking
def test_chunks_cover_the_text_within_the_size_and_overlap():
    words = [f"w{i}" for i in range(900)]
    text = " ".join(words)
    chunks = chunk_text(text, chunk_chars=300, overlap_chars=60)
    assert all(len(c) <= 300 for _, c in chunks)
    # every word is in some chunk, no word is cut, and windows overlap
    seen = {w for _, c in chunks for w in c.split()}
    assert seen == set(words)
    starts = [s for s, _ in chunks]
    assert starts == sorted(starts) and starts[0] == 0
    for (s0, c0), (s1, _) in zip(chunks, chunks[1:]):
        assert s1 < s0 + len(c0)  # overlap
        assert text[s1 - 1] == " "  # next window starts at a word


def test_chunking_prefers_paragraph_breaks_and_rejects_bad_settings():
    text = "A" * 150 + "\n\n" + "B" * 150
    chunks = chunk_text(text, chunk_chars=200, overlap_chars=0)
    assert [c for _, c in chunks] == ["A" * 150, "B" * 150]
    assert chunk_text("   ", 100, 0) == []
    with pytest.raises(ValueError):
        chunk_text("x", 0)
    with pytest.raises(ValueError):
        chunk_text("x", 100, 80)


# ------------------------------------------------------------------------------- BM25
def test_bm25_ranks_the_matching_passage_first_and_drops_non_matches():
    r = BM25Retriever(passage_documents(), chunk_chars=2000, overlap_chars=100, max_chars=120)
    hits = r.search("naval and air forces attacked", 3)
    assert hits and hits[0].id.startswith("infamy#")
    assert all(isinstance(h, Source) and h.retriever == r.name for h in hits)
    assert [h.rank for h in hits] == list(range(len(hits)))
    assert all(len(h.text) <= 120 and h.chars_total >= len(h.text) for h in hits)
    assert hits[0].truncated
    assert r.search("zzzzqqq", 5) == []  # shares no term: no sources, not random ones
    assert r.search("the of and", 5) == []  # stopwords only
    with pytest.raises(ValueError):
        r.search("war", 0)


def test_bm25_name_fingerprints_the_collection():
    docs = [Document("a", "alpha beta gamma"), Document("b", "delta epsilon")]
    same = BM25Retriever(docs).name
    assert BM25Retriever(list(docs)).name == same
    assert BM25Retriever(docs + [Document("c", "zeta")]).name != same
    assert BM25Retriever(docs, chunk_chars=500, overlap_chars=10).name != same
    with pytest.raises(ValueError, match="unique"):
        BM25Retriever([Document("a", "x y"), Document("a", "z")])
    with pytest.raises(ValueError):
        BM25Retriever([])


def test_text_folder_collection(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "one.txt").write_text("Lighthouses guide ships past the reef.")
    (tmp_path / "sub" / "two.md").write_text("Bakeries open before dawn.")
    (tmp_path / "skip.pdf").write_bytes(b"%PDF")
    docs = text_folder_documents(tmp_path)
    assert sorted(d.id for d in docs) == ["one.txt", "sub/two.md"]
    assert BM25Retriever(docs).search("reef ships", 1)[0].id == "one.txt#0"
    with pytest.raises(FileNotFoundError):
        text_folder_documents(tmp_path / "nope")


@pytest.mark.skipif(
    not (team_data_dir() / "financebench" / "financebench_doc_pages.jsonl.gz").exists(),
    reason="FinanceBench pages not available",
)
def test_financebench_pages_become_documents():
    docs = financebench_documents(["NIKE_2019_10K"])
    assert docs and all(d.id.startswith("NIKE_2019_10K:p") for d in docs)
    assert {d.metadata["doc_name"] for d in docs} == {"NIKE_2019_10K"}
    with pytest.raises(KeyError, match="NOT_A_FILING"):
        financebench_documents(["NIKE_2019_10K", "NOT_A_FILING"])


# ------------------------------------------------------------------------------- the web adapter
class FakeProvider:
    name = "fake"

    def __init__(self, hits):
        self.hits = hits
        self.queries = []

    def search(self, query, k):
        self.queries.append((query, k))
        return self.hits[:k]


def test_web_adapter_fetches_pages_truncates_and_falls_back_to_snippets():
    hits = [
        SearchHit("https://a.example/1", "A", "snippet a", content="Full text of page A. " * 20, score=0.9),
        SearchHit("https://a.example/1", "A again", "dup"),  # same URL: dropped
        SearchHit("https://b.example/2", "B", "snippet b"),  # fetched
        SearchHit("https://c.example/3", "C", "snippet c"),  # fetch fails -> snippet
        SearchHit("https://d.example/4", "D", ""),  # fetch fails, no snippet -> dropped
    ]
    pages = {
        "https://b.example/2": "<html><head><title>t</title><script>x=1</script></head><body><p>Page B text.</p></body></html>"
    }

    def fetcher(url):
        if url not in pages:
            raise WebSearchError(f"{url}: HTTP 404")
        return html_to_text(pages[url])

    provider = FakeProvider(hits)
    r = WebSearchRetriever(provider, fetcher, max_chars=50)
    out = r.search("what is it", 5)
    assert provider.queries == [("what is it", 5)]
    assert r.name == "web:fake"
    assert [s.id for s in out] == ["https://a.example/1", "https://b.example/2", "https://c.example/3"]
    assert [s.rank for s in out] == [0, 1, 2]
    a, b, c = out
    assert len(a.text) == 50 and a.truncated and a.score == 0.9
    assert b.text == "Page B text." and "x=1" not in b.text and "fetch_error" not in b.metadata
    assert c.text == "snippet c" and "404" in c.metadata["fetch_error"]
    strict = WebSearchRetriever(FakeProvider(hits), fetcher, snippet_fallback=False).search("q", 5)
    assert [s.id for s in strict] == ["https://a.example/1", "https://b.example/2"]


def test_html_to_text_keeps_visible_text_only():
    html = "<html><head><style>p{}</style></head><body><h1>Title</h1><p>One &amp; two</p><div>Three<br>Four</div></body></html>"
    assert html_to_text(html) == "Title\n\nOne & two\n\nThree\nFour"


def test_tavily_request_and_response_mapping(monkeypatch):
    monkeypatch.setenv("TAVILY_API_KEY", "tvly-SECRET123")
    body = {
        "results": [
            {
                "url": "https://x.example",
                "title": "X",
                "content": "short",
                "raw_content": "long page text",
                "score": 0.7,
            },
            {"url": "https://y.example", "title": "Y", "content": "only the extract", "raw_content": None},
            {"title": "no url"},
        ]
    }
    session = FakeSession(FakeResponse(200, body))
    provider = TavilySearch(session=session)
    hits = provider.search("nike revenue", 3)
    req = session.requests[0]
    assert req["json"] == {
        "query": "nike revenue",
        "max_results": 3,
        "search_depth": "basic",
        "include_raw_content": True,
    }
    assert req["headers"]["Authorization"] == "Bearer tvly-SECRET123"
    assert [h.url for h in hits] == ["https://x.example", "https://y.example"]
    assert hits[0].content == "long page text" and hits[0].score == 0.7
    assert hits[1].content == "only the extract"
    assert "SECRET" not in repr(provider)
    # as a retriever: no fetch needed, the key never reaches a source
    sources = WebSearchRetriever(
        TavilySearch(session=FakeSession(FakeResponse(200, body))), fetcher=lambda u: 1 / 0
    ).search("q", 3)
    assert [s.text for s in sources] == ["long page text", "only the extract"]
    assert "SECRET" not in json.dumps([s.to_dict() for s in sources])


def test_tavily_errors_name_the_variable_and_never_the_key(monkeypatch):
    monkeypatch.delenv("TAVILY_API_KEY", raising=False)
    with pytest.raises(WebSearchError, match="TAVILY_API_KEY"):
        TavilySearch(session=FakeSession(FakeResponse(200, {}))).search("q", 1)
    monkeypatch.setenv("TAVILY_API_KEY", "tvly-SECRET123")
    with pytest.raises(WebSearchError) as e:
        TavilySearch(session=FakeSession(FakeResponse(401, "invalid key tvly-SECRET123"))).search("q", 1)
    assert "401" in str(e.value) and "SECRET" not in str(e.value)
    with pytest.raises(WebSearchError, match="results"):
        TavilySearch(session=FakeSession(FakeResponse(200, {"oops": 1}))).search("q", 1)


def test_tavily_retries_through_the_shared_http_layer(monkeypatch):
    monkeypatch.setenv("TAVILY_API_KEY", "tvly-SECRET123")
    ok = FakeResponse(200, {"results": [{"url": "https://x.example", "content": "extract"}]})
    slow_down = FakeResponse(429, {"error": "slow down"}, {"Retry-After": "0"})
    session = FakeSession(slow_down, FakeResponse(503, "busy"), ok)
    hits = TavilySearch(session=session, backoff=0.001).search("q", 1)
    assert [h.url for h in hits] == ["https://x.example"] and len(session.requests) == 3
    assert all(r["headers"]["Authorization"] == "Bearer tvly-SECRET123" for r in session.requests)
    session = FakeSession(FakeResponse(503, "down for tvly-SECRET123"))
    with pytest.raises(WebSearchError, match="after 2 attempts.*HTTP 503") as e:
        TavilySearch(session=session, max_retries=1, backoff=0.001).search("q", 1)
    assert isinstance(e.value, ServerError) and e.value.status == 503 and "SECRET" not in str(e.value)
    assert len(session.requests) == 2
