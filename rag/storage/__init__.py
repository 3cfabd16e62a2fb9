"""Storage: the paper catalog, chat subscriptions, SQLite plumbing, file locks and backups."""
