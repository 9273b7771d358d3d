"""BM25 retrieval over an in-memory list of texts: the `Retriever` flow node and knowledge tools.

Lexical BM25 (the `bm25s` package) needs no embedding model, so it runs offline with no weights.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import bm25s
from bm25s.stopwords import STOPWORDS_EN
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, PrivateAttr

DEFAULT_K = 4
MAX_K = 50
SEPARATOR = "\n\n"

# Words of letters/digits; CJK ideographs and kana one per token (those scripts have no spaces).
_TOKEN = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]|[^\W_]+")
_STOPWORDS = frozenset(STOPWORDS_EN)


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens without English stop words (CJK characters are single tokens)."""
    return [t for t in _TOKEN.findall(text.lower()) if t not in _STOPWORDS]


def documents_problem(value: Any) -> str | None:
    """Why `value` is not a non-empty list of non-empty texts, or None if it is."""
    if not isinstance(value, list) or not value:
        return "'documents' must be a non-empty list of texts"
    for position, text in enumerate(value):
        if not isinstance(text, str) or not text.strip():
            return f"'documents'[{position}] must be a non-empty string"
    return None


def k_problem(value: Any) -> str | None:
    """Why `value` is not a usable result count, or None."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_K:
        return f"'k' must be an integer from 1 to {MAX_K}"
    return None


def join_documents(documents: Sequence[Document]) -> str:
    """The text that fills a prompt's `{context}`: the documents' texts, best match first."""
    return SEPARATOR.join(d.page_content for d in documents)


class BM25Retriever(BaseRetriever):
    """Top-`k` documents of a fixed list by BM25 score; documents sharing no term are left out.

    The index is built once, at construction; searching is read-only, so one instance may serve
    concurrent turns.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    texts: tuple[str, ...]
    k: int = DEFAULT_K
    _index: bm25s.BM25 | None = PrivateAttr(default=None)

    def model_post_init(self, context: Any, /) -> None:
        """Index the texts (skipped when no text has a searchable word)."""
        tokens = [tokenize(text) for text in self.texts]
        if any(tokens):
            self._index = bm25s.BM25()
            self._index.index(tokens, show_progress=False)

    def search(self, query: str) -> list[int]:
        """Positions of the best `k` texts for `query`, best first; ties keep document order."""
        words = tokenize(query)
        if self._index is None or not words:
            return []
        scores = self._index.get_scores(words)
        ranked = sorted(range(len(self.texts)), key=lambda i: (-float(scores[i]), i))
        return [i for i in ranked[: self.k] if scores[i] > 0]

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        return [
            Document(page_content=self.texts[i], metadata={"position": i})
            for i in self.search(query)
        ]
