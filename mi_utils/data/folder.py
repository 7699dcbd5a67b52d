"""A user's own documents: every text file of a folder becomes one :class:`Record`.

For label-free ranking of compressors (:mod:`mi_utils.rank`, notebook 08): there are no questions
and no answers, only documents. Each record's ``query`` is the one instruction passed in (the same
for all, so the MI estimate is the clean shared-question case) and its ``answer`` is empty, so these
records are for ranking by MI, not for ``run``'s prediction stage.

Rules, each with a message that names the fix:

* the folder must exist and be a folder (:class:`DataNotFoundError`);
* files are read in sorted order, top level only; hidden files (``.name``) are skipped;
* a file that is not UTF-8 text (binary, NUL bytes, another encoding) or holds only whitespace
  stops the load (:class:`DataFormatError` naming the file), rather than being skipped silently;
* at least two documents (MI compares a summary's document with the others).
"""

from __future__ import annotations

from pathlib import Path

from .records import DataFormatError, DataNotFoundError, Record

__all__ = ["load_text_folder"]


def _read_text(path: Path) -> str:
    data = path.read_bytes()
    if b"\x00" in data:
        raise DataFormatError(f"{path} is not a text file (it holds NUL bytes): remove it from the folder")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataFormatError(
            f"{path} is not UTF-8 text ({e.reason} at byte {e.start}): convert it to UTF-8 or remove it"
        ) from None
    if not text.strip():
        raise DataFormatError(f"{path} is empty (only whitespace): remove it or put the document's text in it")
    return text.strip()


def load_text_folder(folder: str | Path, query: str, *, limit: int | None = None) -> list[Record]:
    """One record per text file of ``folder`` (id: the file name without its suffix).

    Args:
      folder: the folder of documents (``.txt``, ``.md``, any UTF-8 text file).
      query: the instruction every record carries as its query (query-agnostic compression).
      limit: keep the first ``limit`` documents (sorted by file name).

    Raises:
      DataNotFoundError: the folder is missing or not a folder.
      DataFormatError: a file is not UTF-8 text or is empty; fewer than two documents; two files
        with the same name but different suffixes.
    """
    p = Path(folder).expanduser()
    if not p.exists():
        raise DataNotFoundError(f"folder {p} does not exist: pass a folder of text files (one document per file)")
    if not p.is_dir():
        raise DataNotFoundError(f"{p} is a file, not a folder: pass the folder that holds the text files")
    files = sorted(f for f in p.iterdir() if f.is_file() and not f.name.startswith("."))
    if limit is not None:
        if limit < 2:
            raise ValueError(f"limit must be >= 2 (MI needs two documents to compare), got {limit}")
        files = files[:limit]
    if len(files) < 2:
        raise DataFormatError(
            f"folder {p} holds {len(files)} text file(s); MI needs at least 2 documents: put one document per file there"
        )
    records, seen = [], {}
    for f in files:
        if f.stem in seen:
            raise DataFormatError(f"{seen[f.stem].name} and {f.name} in {p} share the id {f.stem!r}: rename one")
        seen[f.stem] = f
        records.append(
            Record(
                id=f.stem,
                context=_read_text(f),
                query=query,
                answer="",
                task="free_form",
                dataset="folder",
                metadata={"path": str(f)},
            )
        )
    return records
