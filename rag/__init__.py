"""papersbot's engine. ``from rag import build_query_engine`` gives it as a LlamaIndex query engine.

The import is lazy (PEP 562): ``import rag.text`` and the CLI's cold start do not pay for LlamaIndex's
query-engine modules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rag.engine import PapersQueryEngine, build_query_engine

__all__ = ["PapersQueryEngine", "build_query_engine"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from rag import engine

        return getattr(engine, name)
    raise AttributeError(f"module 'rag' has no attribute {name!r}")
