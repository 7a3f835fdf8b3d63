"""Capture: Graph mail and calendar metadata -> contacts, accounts, interactions, meetings, signals.

Owns the way mail reaches the records and nothing else:
- `names`    text and name heuristics: free mail, automated senders, THE internal-address rule;
- `mapping`  Graph JSON -> records, pure (and Graph's time format);
- `merge`    merging sightings into stored records and counsel moves, pure;
- `ingest`   `Ingestion`, the store side (idempotent, order-independent);
- `sync`     the delta sync of a mailbox (the one path by which mail reaches `ingest`);
- `subscriptions` Graph change subscriptions, `webhooks` their notifications, `routes` the
  subscription-id -> mailbox table both of them read;
- `reads`    the few single messages a round plans to read beyond the metadata (a known person's
  signature once a month, a non-delivery report), `readers` their work (one GET each, parsed in
  memory by `signatures` and `bounces`, pure; only derived facts and signals are kept).
One way down: webhooks -> subscriptions -> sync -> ingest -> reads, merge, mapping -> names;
readers -> sync (its Graph client), reads, signatures, bounces.

May import: rapport.records, rapport.text, rapport.store, rapport.identity, rapport.graph,
rapport.work, rapport.web (webhooks only), rapport.runtime; readers and signatures also
rapport.drafting.safety (outsider text) and rapport.firm.accounts. Never bot, addin, function_app or local.
"""

from rapport.capture.ingest import Ingestion, IngestStats, ingest
from rapport.capture.mapping import Captured, map_event, map_message, parse_graph_time
from rapport.capture.merge import counsel_moves, merge_contact, merge_meeting
from rapport.capture.names import (
    account_name_from_domain,
    better_name,
    clean_name,
    clean_text,
    excerpt_of,
    is_automated,
    is_free_mail,
    is_internal,
    name_rank,
)

__all__ = [
    "Captured",
    "IngestStats",
    "Ingestion",
    "account_name_from_domain",
    "better_name",
    "clean_name",
    "clean_text",
    "counsel_moves",
    "excerpt_of",
    "ingest",
    "is_automated",
    "is_free_mail",
    "is_internal",
    "map_event",
    "map_message",
    "merge_contact",
    "merge_meeting",
    "name_rank",
    "parse_graph_time",
]
