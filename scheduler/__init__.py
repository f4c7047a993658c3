"""Scheduled jobs (weekly push, arXiv polling) as plain async functions.

Each job takes its dependencies as arguments so tests call it directly; the
composition root registers them with APScheduler in the bot's event loop.
"""
