"""The arXiv watcher: feeds in, ranked candidates, drafts and a metadata lint out.

Everything here is channel-free. `http` is the one polite door to arXiv, `feed` and
`api` parse what comes through it, `records` caches API metadata in the store,
`ranking` scores candidates, and `watcher`, `drafts` and `lint` are the use cases.
"""
