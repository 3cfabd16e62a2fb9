"""``papersbot sync`` as a real process: killed with SIGKILL mid-sync, a rerun loses and duplicates nothing."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from config.settings import load_settings
from tests.bot.processes import REPO, clean_env, papersbot_executable, run_papersbot
from tests.conftest import open_components
from tests.fakes.source_server import FakeDigestRepo, FakeHuggingFace

DAYS = ("2024-11-19", "2024-11-22", "2025-02-05")


@pytest.fixture
def servers(samples_dir: Path) -> Iterator[tuple[FakeDigestRepo, FakeHuggingFace]]:
    with FakeDigestRepo() as repo, FakeHuggingFace() as hf:
        for day in DAYS:
            repo.add_day(day, (samples_dir / f"{day}.md").read_text(encoding="utf-8"))
        hf.add_paper("2025-02-05", "2502.01061", "OmniHuman-1", "An English abstract of OmniHuman-1.", 134)
        yield repo, hf


def test_kill_9_mid_sync_then_rerun_keeps_every_paper_exactly_once(
        servers: tuple[FakeDigestRepo, FakeHuggingFace], tmp_path: Path) -> None:
    repo, hf = servers
    data = tmp_path / "data"
    env = clean_env(PAPERSBOT_DATA_DIR=str(data), PAPERSBOT_SOURCE_URL=repo.url, PAPERSBOT_HF_API_URL=hf.api_url,
                    PAPERSBOT_SYNC_BATCH_DAYS="1")
    # Day 1 commits; Hugging Face then hangs on day 2, whose digest is fetched but not yet stored: kill -9 there.
    hf.fail("daily_papers?date=2024-11-22", "timeout", seconds=60)
    proc = subprocess.Popen([papersbot_executable(), "sync", "--since", "2024-11-01", "--json"], env=env, cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        hf.wait_for_requests(2, timeout=120, prefix="daily_papers")  # day 1, then the hanging day 2
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=10) == -9
    finally:
        if proc.poll() is None:
            proc.kill()
    hf.clear_faults()

    with closing(open_components(load_settings(data_dir=data))) as library:
        assert library.catalog.dates() == ["2024-11-19"]  # the first batch committed, nothing of the second

    # A second kill at an arbitrary moment of the rerun, then a rerun to the end.
    proc = subprocess.Popen([papersbot_executable(), "sync", "--since", "2024-11-01"], env=env, cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(3.0)  # past the model load, usually mid-fetch or mid-embedding; any moment must be safe
    proc.kill()
    proc.wait(timeout=10)
    done = run_papersbot("sync", "--since", "2024-11-01", "--json", env=env)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] and report["days"]["failed"] == 0

    with closing(open_components(load_settings(data_dir=data))) as library:
        counts = library.catalog.counts()
        assert (counts["papers"], counts["dates"], counts["appearances"]) == (15, 3, 15)
        sections = [row.node_id for row in library.catalog.sections()]
        vectors = [node_id for node_id, *_ in library.vectors.iter_all()]
        assert sorted(vectors) == sorted(sections) and len(set(vectors)) == len(vectors) == 46  # 45 + 1 abstract
        library.freshness.refresh()  # loads the published lexical index
        assert len(library.lexical) == len(sections)
        paper = library.catalog.get("2502.01061")
        assert paper is not None and paper.abstract

    again = json.loads(run_papersbot("sync", "--since", "2024-11-01", "--json", env=env).stdout)
    assert again["days"] == {"fetched": 0, "unchanged": 3, "failed": 0} and again["embedded"] == 0
