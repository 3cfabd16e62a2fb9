"""``papersbot`` command line: one subcommand per job, all sharing the global ``--data-dir``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

from config.settings import Settings, load_settings

Command = Callable[[argparse.Namespace, Settings], int]
_COMMANDS: dict[str, Command] = {}


def command(name: str) -> Callable[[Command], Command]:
    def register(func: Command) -> Command:
        _COMMANDS[name] = func
        return func

    return register


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="papersbot", description=__doc__)
    parser.add_argument("--data-dir", help="where everything persistent lives (env PAPERSBOT_DATA_DIR)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    ingest = sub.add_parser("ingest", help="parse digests and add them to the index")
    ingest.add_argument("paths", nargs="+", metavar="PATH", help="digest files, folders or globs")
    ingest.add_argument("--json", action="store_true", help="print one JSON report")

    stats = sub.add_parser("stats", help="papers, dates and index sizes")
    stats.add_argument("--json", action="store_true", help="print JSON")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings(data_dir=args.data_dir)
    except Exception as exc:  # pydantic's ValidationError names the bad setting; no traceback for users
        print(f"papersbot: invalid configuration: {exc}", file=sys.stderr)
        return 2
    _configure_logging(settings)
    try:
        return _COMMANDS[args.command](args, settings)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _configure_logging(settings: Settings) -> None:
    import logging

    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "chromadb"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _print_json(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2))


@command("ingest")
def _ingest(args: argparse.Namespace, settings: Settings) -> int:
    from rag.ingest import ingest_paths
    from rag.library import Library

    library = Library.open(settings)
    bar: Any = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if not sys.stderr.isatty() or args.json or total == 0:
            return
        if bar is None:
            from tqdm import tqdm

            bar = tqdm(total=total, unit="passage", desc="embedding", file=sys.stderr)
        bar.update(done - bar.n)

    try:
        report = ingest_paths(library, args.paths, progress)
    finally:
        if bar is not None:
            bar.close()
        library.close()
    if args.json:
        _print_json(report.to_json())
    else:
        for problem in report.problems:
            print(problem, file=sys.stderr)
        print(report.summary())
    return 1 if report.unreadable else 0


@command("stats")
def _stats(args: argparse.Namespace, settings: Settings) -> int:
    from rag.library import Library

    library = Library.open(settings)
    try:
        library.refresh()
        stats = library.stats()
    finally:
        library.close()
    if args.json:
        _print_json(stats)
        return 0
    print(f"papers      {stats['papers']}")
    print(f"dates       {stats['dates']}  ({', '.join(stats['date_list'][:10])}{' …' if stats['dates'] > 10 else ''})")
    print(f"sections    {stats['sections']}")
    print(f"vectors     {stats['vector_nodes']}  ({stats['collection']} @ {stats['chroma']})")
    print(f"lexical     {stats['lexical_nodes']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
