"""Eight short public-domain passages with a question each (``data/public_domain_passages.jsonl``).

Real English text that ships with the repository and the wheel (found through :mod:`mi_utils.paths`) (speeches, founding documents, Darwin), for the
quickstart, the golden scoring tests and the real-text MI demo. Free-form answers, stated
verbatim in each passage.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..paths import bundled_file
from .records import DataNotFoundError, Record

__all__ = ["PASSAGES_PATH", "load_passages"]

PASSAGES_PATH = bundled_file("public_domain_passages.jsonl")


def load_passages(path: str | Path | None = None, *, limit: int | None = None) -> list[Record]:
    """The bundled passages as free-form :class:`Record` objects (source in ``metadata``)."""
    p = Path(path) if path else PASSAGES_PATH
    if not p.exists():
        raise DataNotFoundError(
            f"{p} not found: it ships in the repository's data/ folder and in the wheel (reinstall mi_utils, or pass path=)"
        )
    out = [
        Record(
            id=d["id"],
            context=d["context"],
            query=d["query"],
            answer=d["answer"],
            task="free_form",
            dataset="passages",
            metadata={"source": d["source"], "licence": d["licence"]},
        )
        for d in map(json.loads, p.read_text(encoding="utf-8").splitlines())
    ]
    return out[:limit] if limit else out
