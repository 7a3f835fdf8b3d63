"""Fixtures by area (identity, graph, cosmos, browser, devhost, demo), and small shared test helpers."""


async def queued(store, *args, **kw):
    """A work item written the one way Rapport queues work (rapport.work.enqueue); the item only."""
    from rapport import work

    return (await work.enqueue(store, *args, **kw))[0]
