"""Rapport: the business-development desk of an IP law firm, living in Outlook and Teams.

This package is the domain and its Azure adapters; docs/architecture.md describes it whole.

Layers, lowest first (a module imports only from its own layer or below):
1. settings, records, text, web (framework-neutral Request/Answer/ApiError), store.errors
2. store (Store, its SQLite and Cosmos backends, ScopedStore: tenant, walls and visibility),
   identity (tokens, keys, membership, Graph tokens, the local dev key)
3. runtime (the process's services: settings, the open store, the swappable collaborators), work
4. graph (the Graph client), drafting, cards, relationship, local_outbox
5. capture (Graph mail and calendar -> records), sidebar, briefs, followups, onboarding

The import rule (tests/test_architecture.py holds it, imports inside functions included): rapport
never imports bot, addin, function_app, local, azure.functions or aiohttp.web, and no module
imports another that imports it back.
"""

__version__ = "0.1.0"
