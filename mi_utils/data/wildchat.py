"""WildChat (Zhao et al. 2024): query-agnostic compression of a user's chat history.

The paper groups 10 English WildChat conversations (4-8 turns) into one pseudo-user, has an LM
write a question/answer pair about them, and scores the predictor's perplexity of that answer
given the compressor's summary (task ``"perplexity"``). Those QA pairs are not published.

* **Local file** (``wildchat/`` under a data root, or ``path=``): ``.jsonl`` / ``.json`` /
  ``.csv`` / ``.feather`` rows with ``context`` (or the paper's ``conversations`` column),
  ``query`` (or ``question``) and ``answer``; optional ``id`` / ``user_id``.
* **Hugging Face** (``allenai/WildChat-1M``, optional ``datasets`` package, network): raw
  conversations grouped as in the paper. As there is no published QA, a *proxy* pair is used:
  the query is the last user turn of the last conversation, the answer is the assistant's
  reply, and the context is everything before that turn (``metadata["qa_source"]``).
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import islice
from pathlib import Path
from typing import Any

from ._table import format_conversations, read_rows, rows_to_records
from .paths import find_data_file, hf_load_dataset, not_found_error
from .records import Record

__all__ = ["HF_REPO", "LOCAL_FILES", "wildchat_records_from_hf", "load_wildchat"]

HF_REPO = "allenai/WildChat-1M"
LOCAL_FILES = ("wildchat.jsonl", "wildchat_questions.jsonl", "wildchat_questions.feather", "wildchat.csv")
_HOW_TO_GET = (
    f"Put a table of (context, query, answer) rows as one of {LOCAL_FILES} into <data dir>/wildchat/ "
    f"(the paper's wildchat_questions.feather works), or install `datasets` and go online to build proxy "
    f"QA from {HF_REPO}."
)


def _messages(conv: Any) -> list[dict[str, str]]:
    return [{"role": str(m["role"]), "content": str(m["content"])} for m in conv]


def wildchat_records_from_hf(
    rows: Iterable[dict[str, Any]],
    *,
    n_users: int = 100,
    conversations_per_user: int = 10,
    min_turns: int = 4,
    max_turns: int = 8,
) -> list[Record]:
    """Group raw WildChat rows into pseudo-users with a last-turn proxy QA pair.

    Args:
        rows: WildChat-1M rows (``conversation``, ``turn``, ``language``, ``conversation_hash``).
        n_users: Pseudo-users to build.
        conversations_per_user: Conversations per pseudo-user (paper: 10).
        min_turns: Minimum ``turn`` (paper: 4).
        max_turns: Maximum ``turn`` (paper: 8).

    Returns:
        ``"perplexity"`` records, one per pseudo-user.
    """

    def keep(r: dict[str, Any]) -> bool:
        msgs = r.get("conversation") or []
        return (
            r.get("language") == "English"
            and min_turns <= int(r.get("turn", 0)) <= max_turns
            and len(msgs) >= 2
            and msgs[-1].get("role") == "assistant"
            and msgs[-2].get("role") == "user"
        )

    it = (r for r in rows if keep(r))
    records = []
    for u in range(n_users):
        group = list(islice(it, conversations_per_user))
        if len(group) < conversations_per_user:
            break
        chats = [_messages(r["conversation"]) for r in group]
        question, reply = chats[-1][-2], chats[-1][-1]
        chats[-1] = chats[-1][:-2]  # the context stops before the held-out turn
        context = format_conversations([c for c in chats if c])
        records.append(
            Record(
                id=f"wildchat_user_{u}",
                context=context,
                query=question["content"],
                answer=reply["content"],
                task="perplexity",
                dataset="wildchat",
                metadata={
                    "user_id": u,
                    "conversation_hashes": [r.get("conversation_hash") for r in group],
                    "qa_source": "last_turn_proxy",
                },
            )
        )
    return records


def load_wildchat(
    path: str | Path | None = None,
    *,
    limit: int | None = None,
    hf: bool = True,
    n_users: int = 100,
    conversations_per_user: int = 10,
) -> list[Record]:
    """Load WildChat records for query-agnostic compression (task ``"perplexity"``).

    Args:
        path: A local table file or a folder holding one of :data:`LOCAL_FILES`.
        limit: Keep the first ``limit`` records.
        hf: Build proxy records from ``allenai/WildChat-1M`` when no local file is found.
        n_users: Pseudo-users to build from the hub (ignored for local files).
        conversations_per_user: Conversations per pseudo-user from the hub.

    Returns:
        ``"perplexity"`` records.

    Raises:
        DataNotFoundError: If no local file is found and the Hugging Face fallback fails.
    """
    found, searched = find_data_file("wildchat", LOCAL_FILES, path)
    if found is not None:
        records = rows_to_records(read_rows(found), "wildchat", found.name)
    else:
        ds, reason = hf_load_dataset(HF_REPO, split="train", streaming=True) if hf else (None, "disabled (hf=False)")
        if ds is None:
            raise not_found_error("wildchat", searched, _HOW_TO_GET, reason)
        records = wildchat_records_from_hf(ds, n_users=n_users, conversations_per_user=conversations_per_user)
    return records if limit is None else records[:limit]
