"""Alembic migrations of the bot's own database (a package so that env.py ships with it)."""
