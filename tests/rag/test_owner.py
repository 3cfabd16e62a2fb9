"""The owner lock and the hand-off socket (the real processes are in test_library_sharing.py)."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path
from typing import Any

import pytest

from rag.owner import MAX_SOCKET_PATH, DataDirOwner, hand_off, serve, socket_path


def test_one_owner_at_a_time_and_the_lock_says_who(tmp_path: Path) -> None:
    first, second = DataDirOwner(tmp_path / "data"), DataDirOwner(tmp_path / "data")
    assert first.try_acquire("bot") and first.held
    assert not second.try_acquire("ingest")  # flock conflicts between two opens, even in one process
    assert (second.holder() or "").split()[1:] == ["bot"]
    with pytest.raises(TimeoutError, match="owned by"):
        second.acquire("ingest", timeout_s=0)
    first.release()
    second.acquire("ingest", timeout_s=0)
    assert second.held and (first.holder() or "").endswith("ingest")
    second.release()


def test_a_long_data_dir_gets_a_short_socket_path(tmp_path: Path) -> None:
    short = socket_path(tmp_path / "d")
    assert short.parent == (tmp_path / "d").resolve()
    deep = tmp_path / ("x" * 120)
    long = socket_path(deep)
    assert len(str(long)) <= MAX_SOCKET_PATH and long == socket_path(deep)  # the same path in every process
    assert long != socket_path(tmp_path / ("y" * 120))


def test_hand_off_round_trip_errors_and_nobody_listening(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    assert hand_off(data, {"op": "ingest", "paths": []}) is None  # no bot: the caller owns it itself
    seen: list[dict[str, Any]] = []

    async def ingest(request: dict[str, Any]) -> dict[str, Any]:
        seen.append(request)
        return {"summary": f"{len(request['paths'])} path(s)"}

    async def broken(request: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("disk full")

    async def scenario() -> list[dict[str, Any] | None]:
        server = await serve(data, {"ingest": ingest, "sync": broken})
        try:
            assert socket_path(data).stat().st_mode & 0o777 == 0o600
            calls = [
                asyncio.to_thread(hand_off, data, {"op": "ingest", "paths": ["/a.md", "/b.md"]}),
                asyncio.to_thread(hand_off, data, {"op": "sync"}),
                asyncio.to_thread(hand_off, data, {"op": "drop tables"}),
                asyncio.to_thread(raw, data, b"not json\n"),
            ]
            return list(await asyncio.gather(*calls))
        finally:
            server.close()
            await server.wait_closed()

    done, failed, unknown, garbage = asyncio.run(scenario())
    assert done == {"ok": True, "summary": "2 path(s)"} and seen == [{"op": "ingest", "paths": ["/a.md", "/b.md"]}]
    assert failed == {"ok": False, "error": "RuntimeError: disk full"}
    assert unknown == garbage == {"ok": False, "error": "bad request"}


def raw(data: Path, line: bytes) -> dict[str, Any]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(str(socket_path(data)))
        sock.sendall(line)
        reply: dict[str, Any] = json.loads(sock.makefile("rb").readline())
        return reply
