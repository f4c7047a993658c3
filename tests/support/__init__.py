"""What tests share: fake servers (Telegram Bot API, arXiv), stores, processes, paths.

Importable modules, nothing on `sys.path`: the suite is the package `tests` (pytest puts
the repository's root on the path for a rootdir package), so a test writes
`from tests.support.fake_telegram import FakeTelegramServer`.
"""
