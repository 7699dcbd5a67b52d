"""Retrieval for the Deep Research pipeline: a ``Retriever`` protocol, offline BM25, a web adapter.

A retriever turns one search query into at most ``k`` :class:`Source` objects (text the compressor
or, in the baseline, the predictor reads). Two implementations:

* :class:`BM25Retriever` (offline default): BM25 (the ``bm25s`` library) over a local collection of
  :class:`Document` objects cut into overlapping character chunks (:func:`chunk_text`). A chunk is
  one source. Collections: :func:`financebench_documents` (the FinanceBench filing pages, read
  through the data path settings of :mod:`mi_utils.data.paths`), :func:`passage_documents` (the
  bundled public-domain passages) and :func:`text_folder_documents` (a folder of your own ``.txt``
  / ``.md`` files, e.g. text extracted from PDFs).
* :class:`WebSearchRetriever`: the adapter for a web search provider (query -> top results ->
  page text). A provider is anything with ``name`` and ``search(query, k) -> list[SearchHit]``
  (:class:`SearchProvider`); :class:`TavilySearch` is one, reading its key from an environment
  variable at request time and calling the API through the shared HTTP layer
  (:class:`mi_utils.backends.http.ServerPool`: retries with backoff, ``Retry-After``, redaction).
  Hits without page text are fetched with a page fetcher (:class:`HTTPPageFetcher`: one plain
  ``GET`` + :func:`html_to_text`, no retries); a fetch that fails falls back to the hit's snippet
  and says so in ``Source.metadata["fetch_error"]``. Tests use a fake provider and a fake
  fetcher: nothing here opens a connection until ``search`` is called on a real provider.

Every retriever has a ``name`` that identifies it in results keys (the BM25 name includes a
fingerprint of the collection and the chunking), so cached retrievals are never mixed across
collections.

Web text is data: it is truncated, stored and shown to models, never executed. API keys are read
from environment variables when a request is made and never stored on objects, in sources or in
error messages.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from ..backends.http import ServerError, ServerPool

__all__ = [
    "Document",
    "Chunk",
    "Source",
    "Retriever",
    "chunk_text",
    "chunk_documents",
    "BM25Retriever",
    "financebench_documents",
    "passage_documents",
    "text_folder_documents",
    "SearchHit",
    "SearchProvider",
    "WebSearchRetriever",
    "TavilySearch",
    "HTTPPageFetcher",
    "WebSearchError",
    "html_to_text",
]


# =============================================================================== data types
@dataclass(frozen=True)
class Document:
    """One document of a local collection (a filing page, a passage, a text file)."""

    id: str
    text: str
    title: str = ""
    url: str | None = None
    metadata: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Chunk:
    """A character window of a document: the unit BM25 ranks."""

    doc_id: str
    index: int  # chunk number within the document
    start: int  # character offset in the document
    text: str
    title: str = ""
    url: str | None = None

    @property
    def id(self) -> str:
        return f"{self.doc_id}#{self.index}"


@dataclass
class Source:
    """One retrieved source, as the pipeline stores and reads it.

    Attributes:
      id: stable id (``doc#chunk`` offline, the URL on the web).
      title: document title or page title.
      url: the page's URL (``None`` offline).
      text: the source text, cut at the retriever's ``max_chars`` when one is set.
      score: the retriever's relevance score (BM25 score; the provider's score or ``None`` on the web).
      rank: 0-based rank within its query's results.
      retriever: the retriever's ``name``.
      chars_total: characters before truncation.
      metadata: anything else (``fetch_error``, the provider's snippet, document metadata).
    """

    id: str
    title: str
    text: str
    url: str | None = None
    score: float | None = None
    rank: int = 0
    retriever: str = ""
    chars_total: int = 0
    metadata: dict = field(default_factory=dict)

    @property
    def truncated(self) -> bool:
        return self.chars_total > len(self.text)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Source:
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in d.items() if k in names})


@runtime_checkable
class Retriever(Protocol):
    """What the pipeline needs from retrieval: ``search(query, k)`` -> at most ``k`` sources."""

    name: str

    def search(self, query: str, k: int) -> list[Source]: ...


# =============================================================================== chunking
def chunk_text(text: str, chunk_chars: int = 2000, overlap_chars: int = 200) -> list[tuple[int, str]]:
    """Cut ``text`` into windows of at most ``chunk_chars`` characters that overlap by about ``overlap_chars``.

    A window ends at the last paragraph break, else line break, else space, in its second half, so
    words are not cut; the next window starts ``overlap_chars`` before that end (moved forward to a
    word start). Whitespace-only windows are dropped.

    Returns:
      ``[(start_offset, chunk_text), ...]`` in document order.

    Raises:
      ValueError: ``chunk_chars < 1`` or ``overlap_chars`` not in ``[0, chunk_chars / 2]``.
    """
    if chunk_chars < 1:
        raise ValueError(f"chunk_chars must be >= 1, got {chunk_chars}")
    if not 0 <= overlap_chars <= chunk_chars // 2:
        raise ValueError(
            f"overlap_chars must be in [0, chunk_chars/2], got {overlap_chars} for chunk_chars={chunk_chars}"
        )
    out: list[tuple[int, str]] = []
    n, start = len(text), 0
    while start < n:
        end = min(n, start + chunk_chars)
        if end < n:
            window = text[start:end]
            half = len(window) // 2
            for sep in ("\n\n", "\n", " "):
                cut = window.rfind(sep, half)
                if cut > 0:
                    end = start + cut + len(sep)
                    break
        piece = text[start:end]
        if piece.strip():
            out.append((start, piece.strip()))
        if end >= n:
            break
        nxt = max(start + 1, end - overlap_chars)
        while 0 < nxt < end and not text[nxt - 1].isspace():  # start on a word boundary
            nxt += 1
        start = nxt
    return out


def chunk_documents(documents: Iterable[Document], chunk_chars: int = 2000, overlap_chars: int = 200) -> list[Chunk]:
    """:func:`chunk_text` over every document."""
    chunks = []
    for doc in documents:
        for i, (start, piece) in enumerate(chunk_text(doc.text, chunk_chars, overlap_chars)):
            chunks.append(Chunk(doc.id, i, start, piece, doc.title, doc.url))
    return chunks


def _truncate(text: str, max_chars: int | None) -> str:
    return text if max_chars is None or len(text) <= max_chars else text[:max_chars]


# =============================================================================== offline BM25
class BM25Retriever:
    """BM25 over a chunked local collection (``bm25s``, Lucene variant, English stopwords).

    Args:
      documents: the collection.
      chunk_chars, overlap_chars: chunking (:func:`chunk_text`).
      max_chars: cut every returned source's text at this many characters (``None``: whole chunk).
      k1, b: BM25 parameters.
      name: identifier in results keys; default ``"bm25:<fingerprint>"`` of the collection
        (document ids and lengths) and the settings, so a different collection never reuses
        cached retrievals.

    Chunks that share no term with the query (BM25 score 0) are never returned, so a query can
    yield fewer than ``k`` sources.
    """

    def __init__(
        self,
        documents: Sequence[Document],
        *,
        chunk_chars: int = 2000,
        overlap_chars: int = 200,
        max_chars: int | None = None,
        k1: float = 1.5,
        b: float = 0.75,
        name: str | None = None,
    ) -> None:
        import bm25s

        docs = list(documents)
        if not docs:
            raise ValueError("BM25Retriever needs at least one document")
        ids = [d.id for d in docs]
        if len(set(ids)) != len(ids):
            dup = sorted({i for i in ids if ids.count(i) > 1})[:5]
            raise ValueError(f"document ids must be unique; repeated: {dup}")
        self.chunks = chunk_documents(docs, chunk_chars, overlap_chars)
        if not self.chunks:
            raise ValueError("the collection has no text to index (every document is empty)")
        self.max_chars = max_chars
        self.n_documents = len(docs)
        h = hashlib.sha256()
        for d in docs:
            h.update(f"{d.id}\x00{len(d.text)}\x00{hashlib.sha256(d.text.encode()).hexdigest()[:12]}\n".encode())
        h.update(f"{chunk_chars}:{overlap_chars}:{k1}:{b}".encode())
        self.fingerprint = h.hexdigest()[:12]
        self.name = name or f"bm25:{self.fingerprint}"
        self._bm25s = bm25s
        self._index = bm25s.BM25(k1=k1, b=b)
        tokens = bm25s.tokenize([c.text for c in self.chunks], stopwords="en", show_progress=False)
        self._index.index(tokens, show_progress=False)

    def __repr__(self) -> str:
        return f"BM25Retriever({self.n_documents} documents, {len(self.chunks)} chunks, name={self.name!r})"

    def search(self, query: str, k: int) -> list[Source]:
        """The top ``k`` chunks for ``query`` with a positive BM25 score, best first."""
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        q = self._bm25s.tokenize([query], stopwords="en", show_progress=False, return_ids=False)
        if not q or not q[0]:
            return []
        kk = min(k, len(self.chunks))
        docs, scores = self._index.retrieve(q, k=kk, show_progress=False)
        out = []
        for idx, score in zip(np.asarray(docs)[0], np.asarray(scores)[0]):
            if float(score) <= 0:
                continue
            c = self.chunks[int(idx)]
            out.append(
                Source(
                    id=c.id,
                    title=c.title or c.doc_id,
                    text=_truncate(c.text, self.max_chars),
                    url=c.url,
                    score=float(score),
                    rank=len(out),
                    retriever=self.name,
                    chars_total=len(c.text),
                    metadata={"doc_id": c.doc_id, "chunk": c.index, "start": c.start},
                )
            )
        return out


# =============================================================================== local collections
def financebench_documents(doc_names: Sequence[str] | None = None, path: str | Path | None = None) -> list[Document]:
    """FinanceBench filing pages as documents, one per page (``"<doc_name>:p<page>"``).

    Reads ``financebench_doc_pages.jsonl.gz`` through :func:`mi_utils.data.paths.find_data_file`
    (``path=``, ``$MI_UTILS_DATA_DIR/financebench/``, ``$MI_UTILS_TEAM_DATA/financebench/``).

    Args:
      doc_names: filings to keep (e.g. ``["NIKE_2019_10K"]``); ``None`` keeps all.
      path: explicit file or folder.

    Raises:
      DataNotFoundError: the pages file is not found.
      KeyError: a requested filing is not in the file (the message lists the missing ones).
    """
    from ..data.financebench import PAGES_FILE
    from ..data.paths import find_data_file, not_found_error

    found, searched = find_data_file("financebench", [PAGES_FILE], path)
    if found is None:
        raise not_found_error(
            "financebench pages",
            searched,
            f"The page text of the FinanceBench filings ({PAGES_FILE}: one JSON line per filing with "
            "doc_name, num_pages, pages) is needed for the offline Deep Research collection; or use "
            "passage_documents() / text_folder_documents().",
            subdir="financebench",
        )
    wanted = set(doc_names) if doc_names is not None else None
    docs: list[Document] = []
    seen: set[str] = set()
    opener = gzip.open if found.suffix == ".gz" else open
    with opener(found, "rt", encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            if wanted is not None:
                m = re.search(r'"doc_name"\s*:\s*"([^"]*)"', line[:500])
                if m and m.group(1) not in wanted:
                    continue
            rec = json.loads(line)
            name = rec["doc_name"]
            if wanted is not None and name not in wanted:
                continue
            seen.add(name)
            for i, page in enumerate(rec["pages"]):
                if page.strip():
                    docs.append(
                        Document(
                            f"{name}:p{i}", page, title=f"{name} page {i + 1}", metadata={"doc_name": name, "page": i}
                        )
                    )
    if wanted is not None and wanted - seen:
        raise KeyError(f"filings not in {found}: {sorted(wanted - seen)}")
    return docs


def passage_documents(path: str | Path | None = None) -> list[Document]:
    """The bundled public-domain passages (:func:`mi_utils.data.load_passages`) as documents."""
    from ..data import load_passages

    return [
        Document(r.id, r.context, title=r.metadata.get("source", r.id), metadata={"licence": r.metadata.get("licence")})
        for r in load_passages(path)
    ]


def text_folder_documents(folder: str | Path, patterns: Sequence[str] = ("*.txt", "*.md")) -> list[Document]:
    """Every matching file under ``folder`` (recursively) as one document (id: relative path).

    For PDFs, extract their text first (e.g. PyMuPDF ``page.get_text()``) into ``.txt`` files.

    Raises:
      FileNotFoundError: ``folder`` does not exist or holds no matching file.
    """
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a folder")
    files = sorted({p for pat in patterns for p in root.rglob(pat) if p.is_file()})
    if not files:
        raise FileNotFoundError(f"no files matching {list(patterns)} under {root}")
    return [
        Document(str(p.relative_to(root)), p.read_text(encoding="utf-8", errors="replace"), title=p.stem) for p in files
    ]


# =============================================================================== the web
class WebSearchError(ServerError):
    """A web search or page fetch failed (messages never contain the API key).

    A :class:`~mi_utils.backends.http.ServerError`, so ``except ServerError`` catches search API
    failures as it catches model server ones; ``status`` is the HTTP status when there was one.
    """


@dataclass(frozen=True)
class SearchHit:
    """One result of a web search provider; ``content`` is the page text when the provider returns it."""

    url: str
    title: str = ""
    snippet: str = ""
    content: str | None = None
    score: float | None = None


@runtime_checkable
class SearchProvider(Protocol):
    """A web search API: ``search(query, k)`` -> at most ``k`` hits, best first."""

    name: str

    def search(self, query: str, k: int) -> list[SearchHit]: ...


class _TextExtractor(HTMLParser):
    _SKIP = {"script", "style", "noscript", "template", "svg", "head"}
    _BLOCK = {
        "p",
        "div",
        "br",
        "li",
        "tr",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "section",
        "article",
        "header",
        "footer",
        "table",
        "ul",
        "ol",
        "pre",
        "blockquote",
    }

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in self._SKIP:
            self.skip += 1
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in self._SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """Visible text of an HTML page (scripts, styles and the head dropped; blocks on their own lines)."""
    p = _TextExtractor()
    p.feed(html)
    p.close()
    text = "".join(p.parts)
    lines = [re.sub(r"[ \t\r\f\v]+", " ", ln).strip() for ln in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


class HTTPPageFetcher:
    """``fetch(url) -> text``: ``GET`` the page, HTML to text (plain text passed through).

    Args:
      timeout: seconds per request.
      max_bytes: read at most this many bytes of a page.
      user_agent: the ``User-Agent`` header.
    """

    def __init__(
        self, timeout: float = 20.0, max_bytes: int = 2_000_000, user_agent: str = "mi_utils-deep-research/0.1"
    ) -> None:
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.user_agent = user_agent

    def __call__(self, url: str) -> str:
        import requests

        if not url.startswith(("http://", "https://")):
            raise WebSearchError(f"not an http(s) URL: {url[:200]!r}")
        try:
            with requests.get(url, timeout=self.timeout, stream=True, headers={"User-Agent": self.user_agent}) as r:
                r.raise_for_status()
                ctype = r.headers.get("Content-Type", "")
                if ctype and not any(t in ctype for t in ("text/", "html", "xml", "json")):
                    raise WebSearchError(f"{url}: not a text page (Content-Type {ctype!r})")
                raw = r.raw.read(self.max_bytes, decode_content=True)
                text = raw.decode(r.encoding or "utf-8", errors="replace")
        except WebSearchError:
            raise
        except Exception as e:  # requests' errors, decoding: one error type for the adapter
            raise WebSearchError(f"fetching {url} failed: {type(e).__name__}: {e}") from None
        return html_to_text(text) if "<" in text[:2000] else text


class WebSearchRetriever:
    """Web search as a :class:`Retriever`: provider hits -> page text -> sources.

    Args:
      provider: a :class:`SearchProvider` (e.g. :class:`TavilySearch`, or your own).
      fetcher: ``url -> text`` for hits that carry no page text; default :class:`HTTPPageFetcher`.
      max_chars: cut each page's text at this many characters (``None``: keep all).
      snippet_fallback: when a fetch fails (or returns nothing), use the hit's snippet and record
        the error in ``Source.metadata["fetch_error"]``; ``False`` drops the hit instead.
    """

    def __init__(
        self,
        provider: SearchProvider,
        fetcher: Callable[[str], str] | None = None,
        *,
        max_chars: int | None = None,
        snippet_fallback: bool = True,
    ) -> None:
        self.provider = provider
        self.fetcher = fetcher if fetcher is not None else HTTPPageFetcher()
        self.max_chars = max_chars
        self.snippet_fallback = snippet_fallback
        self.name = f"web:{provider.name}"

    def __repr__(self) -> str:
        return f"WebSearchRetriever(provider={self.provider.name!r})"

    def search(self, query: str, k: int) -> list[Source]:
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        out: list[Source] = []
        seen: set[str] = set()
        for hit in list(self.provider.search(query, k))[:k]:
            if not hit.url or hit.url in seen:
                continue
            seen.add(hit.url)
            meta: dict = {"snippet": hit.snippet[:500]} if hit.snippet else {}
            text = hit.content
            if not text:
                try:
                    text = self.fetcher(hit.url)
                except Exception as e:  # one bad page never sinks the search
                    meta["fetch_error"] = f"{type(e).__name__}: {e}"[:300]
                    text = None
                if not text and "fetch_error" not in meta:
                    meta["fetch_error"] = "the page had no text"
                if not text:
                    if not self.snippet_fallback or not hit.snippet:
                        continue
                    text = hit.snippet
            out.append(
                Source(
                    id=hit.url,
                    title=hit.title or hit.url,
                    text=_truncate(text, self.max_chars),
                    url=hit.url,
                    score=hit.score,
                    rank=len(out),
                    retriever=self.name,
                    chars_total=len(text),
                    metadata=meta,
                )
            )
        return out


class TavilySearch:
    """Tavily's search API as a :class:`SearchProvider` (page text included, no fetching needed).

    ``POST {endpoint}`` with ``{"query", "max_results", "search_depth", "include_raw_content": true}``
    and ``Authorization: Bearer <key>``; the key is read from ``api_key_env`` at each request and
    never stored. Results ``[{url, title, content, raw_content, score}]`` become hits whose page
    text is ``raw_content`` (``content``, the provider's extract, when the page had none).
    Requests go through the shared :class:`~mi_utils.backends.http.ServerPool` (retries on
    connection errors, timeouts, 408/409/429 and 5xx, ``Retry-After`` honoured; 4xx not retried).

    Args:
      api_key_env: environment variable holding the key.
      endpoint: the search URL.
      search_depth: ``"basic"`` or ``"advanced"``.
      timeout: seconds per request.
      max_retries: extra attempts after the first on retryable failures.
      backoff: first retry delay in seconds (doubles on each retry).
      session: a ``requests``-like object with ``post`` (tests pass a fake).
    """

    name = "tavily"

    def __init__(
        self,
        api_key_env: str = "TAVILY_API_KEY",
        *,
        endpoint: str = "https://api.tavily.com/search",
        search_depth: str = "basic",
        timeout: float = 60.0,
        max_retries: int = 3,
        backoff: float = 1.0,
        session=None,
    ) -> None:
        self.api_key_env = api_key_env
        self.endpoint = endpoint
        self.search_depth = search_depth
        self.timeout = timeout
        self.pool = ServerPool(
            endpoint,
            timeout=timeout,
            max_retries=max_retries,
            backoff=backoff,
            concurrency=1,
            api_key_env=api_key_env,
            require_api_key=True,
            missing_key_hint="with your Tavily key",
            kind="Tavily",
            strip_v1=False,
            honour_env=True,
            session=session,
        )

    def __repr__(self) -> str:
        return f"TavilySearch(api_key_env={self.api_key_env!r}, endpoint={self.endpoint!r})"

    def search(self, query: str, k: int) -> list[SearchHit]:
        """At most ``k`` hits for ``query``, best first.

        Raises:
          WebSearchError: the key is not set, the API refused or kept failing, or it answered
            without a ``results`` list (the message names the cause, never the key).
        """
        payload = {
            "query": query,
            "max_results": int(k),
            "search_depth": self.search_depth,
            "include_raw_content": True,
        }
        try:
            body = self.pool.post("", payload)
        except ServerError as e:
            raise WebSearchError(str(e), e.status) from e
        results = body.get("results") if isinstance(body, dict) else None
        if not isinstance(results, list):
            raise WebSearchError(f"{self.endpoint} answered without a 'results' list")
        hits = []
        for r in results[:k]:
            if not isinstance(r, dict) or not r.get("url"):
                continue
            hits.append(
                SearchHit(
                    url=str(r["url"]),
                    title=str(r.get("title") or ""),
                    snippet=str(r.get("content") or ""),
                    content=(r.get("raw_content") or r.get("content") or None),
                    score=float(r["score"]) if isinstance(r.get("score"), (int, float)) else None,
                )
            )
        return hits
