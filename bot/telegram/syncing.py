"""``/sync`` (admins): fetch new days from the source now, instead of waiting for the scheduled sync."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from bot.telegram import views
from bot.telegram.access import AccessPolicy
from bot.telegram.push import Pusher
from bot.telegram.replies import reply
from bot.telegram.texts import lang_of, t

Context = ContextTypes.DEFAULT_TYPE


class SyncHandlers:
    def __init__(self, pusher: Pusher, access: AccessPolicy) -> None:
        self.pusher = pusher
        self.access = access

    async def sync(self, update: Update, context: Context) -> None:
        message, user = update.effective_message, update.effective_user
        if message is None:
            return
        lang = lang_of(user)
        if not self.access.is_admin(user.id if user else None):
            await reply(message, views.plain(t("admin_only", lang)))
            return
        if self.pusher.syncer is None:
            await reply(message, views.plain(t("sync_off", lang)))
            return
        await reply(message, views.plain(t("sync_started", lang)))
        report = await self.pusher.sync()
        if report is None:
            await reply(message, views.plain(t("sync_failed", lang)))
            return
        key = "sync_done" if report.ok else "sync_partly"
        await reply(message, views.plain(t(key, lang, fetched=len(report.days_fetched), added=report.ingest.added,
                                           updated=report.ingest.updated, failed=len(report.days_failed),
                                           newest=report.days_fetched[-1] if report.days_fetched else "-")))
