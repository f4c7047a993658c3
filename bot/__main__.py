"""`python -m bot`: the `paperbot` command (how `paperbot run --workers N` starts its
workers with the supervisor's own interpreter and code)."""

from bot.cli import main

main()
