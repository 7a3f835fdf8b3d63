"""Follow-ups: drafted after each external meeting, approved on one card, sent exactly once.

The capability in four modules, each importing only those before it:

- `cards`     the approval card of a draft: built, queued after every change ("followup-card"
              work) and delivered (Teams when the host provides bot/'s delivery, runtime.services().teams_cards,
              else the local outbox);
- `drafting`  recipients, the drafter's context (read as the partner sees the records), one draft
              per (meeting, partner), one per company after a split, the timer pass
              ("draft-followup", "draft-company-followup" work);
- `approval`  the card's verbs as a state machine bound to the draft version on the card (approve,
              edit, save_and_approve, snooze, skip, retry, split, view, pending) and the approval's
              audit event;
              approving queues the send ("send-draft" work, SEND_WORK);
- `sending`   the send-draft work: the mail sent once as the partner (Graph, or the local outbox)
              under the key draftId:version, at most 30 a minute per partner.

rapport.work.HANDLER_MODULES lists the modules that register work handlers, so the drain loads them;
nothing here is imported for its side effects. The process's collaborators (drafter, card delivery,
mail transport, send limiter) come from rapport.runtime.services(). The package imports rapport's
records, store, work, runtime, text, capture, identity, drafting, cards and local outbox; never bot/, addin/ or function_app.
This module re-exports the names the bot, the hosts and the tests use.
"""

from rapport.followups.approval import (
    MAX_CC,
    PENDING_STATES,
    SEND_WORK,
    Outcome,
    Status,
    actor_draft,
    allowed_recipients,
    approve,
    audit_id,
    body_hash,
    edit,
    parse_version,
    pending,
    record_send_time,
    retry,
    save_and_approve,
    skip,
    snooze,
    snooze_until,
    split,
    view,
)
from rapport.followups.cards import (
    CARD_WORK,
    CardDelivery,
    LocalCardDelivery,
    card_delivery,
    card_for,
    queue_card,
)
from rapport.followups.drafting import (
    COMPANY_DRAFT_WORK,
    DRAFT_WORK,
    LOOKBACK,
    Company,
    PassReport,
    build_context,
    companies_of,
    company_draft_id,
    company_key,
    draft_for_company,
    draft_for_meeting,
    draft_id_for,
    recipients_for,
    request_followup,
    timer_pass,
)
from rapport.followups.sending import (
    KEY_HEADER,
    KEY_PROPERTY,
    GraphMailTransport,
    LocalOutboxTransport,
    MailTransport,
    RateLimiter,
    SendRefused,
    idempotency_key,
    mail_transport,
    send_approved,
)

__all__ = [
    # drafting
    "COMPANY_DRAFT_WORK", "DRAFT_WORK", "LOOKBACK", "Company", "PassReport", "build_context", "companies_of",
    "company_draft_id", "company_key", "draft_for_company", "draft_for_meeting", "draft_id_for",
    "recipients_for", "request_followup", "timer_pass",
    # approval
    "MAX_CC", "PENDING_STATES", "SEND_WORK", "Outcome", "Status", "actor_draft", "allowed_recipients", "approve", "audit_id", "body_hash", "edit",
    "parse_version", "pending", "record_send_time", "retry", "save_and_approve", "skip", "snooze", "snooze_until",
    "split", "view",
    # cards
    "CARD_WORK", "CardDelivery", "LocalCardDelivery", "card_delivery", "card_for", "queue_card",
    # sending
    "KEY_HEADER", "KEY_PROPERTY", "GraphMailTransport", "LocalOutboxTransport", "MailTransport", "RateLimiter",
    "SendRefused", "idempotency_key", "mail_transport", "send_approved",
]
