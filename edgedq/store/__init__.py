"""The results store: every run kept (SQLite by default, PostgreSQL for a lab), history, diff and report."""
