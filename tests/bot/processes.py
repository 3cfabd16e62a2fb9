"""``papersbot`` commands as real child processes, the way a container runs them.

Plain helpers (no pytest magic), usable from tests and benchmarks alike: the installed ``papersbot``
console script, an environment scrubbed of the developer's own papersbot / OpenAI / Telegram settings,
a one-shot command runner and ``papersbot bot`` as a long-running child that logs to a file and is
stopped with a signal.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TextIO

REPO = Path(__file__).resolve().parent.parent.parent
_SCRUBBED = ("PAPERSBOT_", "OPENAI_", "TELEGRAM_")


def papersbot_executable() -> str:
    """The ``papersbot`` console script of this interpreter's environment."""
    here = Path(sys.executable).parent / "papersbot"
    found = str(here) if here.exists() else shutil.which("papersbot")
    if not found:
        raise RuntimeError("papersbot is not installed in this environment (pip install -e .)")
    return found


def clean_env(**settings: str) -> dict[str, str]:
    """The inherited environment without any PAPERSBOT_* / OPENAI_* / TELEGRAM_* variable, plus ``settings``
    (e.g. ``PAPERSBOT_DATA_DIR=...``). One OpenMP thread unless the caller says otherwise."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED)}
    env["OMP_NUM_THREADS"] = "1"
    # Never the real digest repository or Hugging Face: no scheduled sync, sources on a closed local port.
    env["PAPERSBOT_SYNC_INTERVAL_MINUTES"] = "0"
    env["PAPERSBOT_SOURCE_URL"] = "http://127.0.0.1:9/no-source-in-tests"
    env["PAPERSBOT_HF_API_URL"] = "http://127.0.0.1:9/no-hf-in-tests"
    env.update(settings)
    return env


def run_papersbot(*args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``papersbot ARGS...`` to completion; stdout and stderr captured as text."""
    return subprocess.run([papersbot_executable(), *args], env=env, cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, check=False)


class BotProcess:
    """``papersbot bot`` as a child process (stdout + stderr to ``log_path``). Use as a context manager:
    leaving the block stops it (``stop``) if the test has not already done so."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self._log: TextIO = open(log_path, "w", encoding="utf-8")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen([papersbot_executable(), "bot"], env=env, cwd=REPO, stdout=self._log,
                                     stderr=subprocess.STDOUT)

    def __enter__(self) -> BotProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop(timeout=10)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            raise RuntimeError(f"the bot exited with {self.proc.returncode}:\n{self.log_tail()}")

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> tuple[int, float]:
        """Send ``sig`` (SIGTERM: what ``docker stop`` sends; run_polling stops gracefully on it), wait up to
        ``timeout`` s, then SIGKILL. Returns (exit code, seconds from the signal to the exit); a killed bot
        shows as -9."""
        started = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if not self._log.closed:
            self._log.close()
        return self.proc.returncode, time.monotonic() - started
