"""``file_lock``: exclusive between holders, ``wait=False`` answers at once, and a dead holder frees it."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from rag.storage.locks import file_lock


def test_second_holder_without_waiting_gets_false_until_the_first_lets_go(tmp_path: Path) -> None:
    path = tmp_path / "locks" / "write.lock"  # the folder is created
    with file_lock(path) as held:
        assert held is True and path.parent.is_dir()
        started = time.monotonic()
        with file_lock(path, wait=False) as second:  # another open file: flock conflicts within a process too
            assert second is False
        assert time.monotonic() - started < 1.0
    with file_lock(path, wait=False) as again:
        assert again is True


def test_a_waiting_holder_gets_the_lock_when_the_first_releases(tmp_path: Path) -> None:
    path = tmp_path / "write.lock"
    holding, events = threading.Event(), []

    def first() -> None:
        with file_lock(path):
            holding.set()
            time.sleep(0.3)
            events.append("first released")

    thread = threading.Thread(target=first)
    thread.start()
    assert holding.wait(5)
    with file_lock(path) as held:
        events.append("second acquired")
        assert held is True
    thread.join(5)
    assert events == ["first released", "second acquired"]


def test_note_pid_replaces_the_file_content_with_our_pid(tmp_path: Path) -> None:
    path = tmp_path / "owner.lock"
    path.write_text("123456789 left by someone else\n")
    with file_lock(path, note_pid=True):
        assert path.read_text() == str(os.getpid())
    with file_lock(path):
        pass
    assert path.read_text() == str(os.getpid())  # without note_pid the file is left alone


def test_the_lock_of_a_killed_process_is_free(tmp_path: Path) -> None:
    path = tmp_path / "owner.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from pathlib import Path; from rag.storage.locks import file_lock\n"
         "with file_lock(Path(sys.argv[1]), note_pid=True):\n"
         "    print('held', flush=True); time.sleep(60)\n", str(path)],
        stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[3],
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert path.read_text() == str(holder.pid)
        with file_lock(path, wait=False) as held:
            assert held is False
    finally:
        holder.kill()
        holder.wait(10)
    with file_lock(path, wait=False) as held:  # killed, never released: the OS dropped the lock
        assert held is True
