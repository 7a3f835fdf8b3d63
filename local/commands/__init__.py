"""The `rapport` subcommands, one module per area. Each module defines `register(reg)`, which adds
its parsers through `local.cli.Registry` and sets `run` on each: `run(args, settings)` returns the
exit status (or a coroutine of it). `local.cli` finds the modules here, so adding a command never
edits a shared list.

Exit statuses: 0 done, 1 the work failed (store or Graph down, some rows refused), 2 bad input.
"""
