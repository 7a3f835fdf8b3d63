"""The enquiry pipeline: enquiries from mail with no typing, a 4-hour clock, stages, a five-touch cadence.

- `intake`   is a mail a new enquiry? Pure, by metadata, with reasons for the card;
- `clock`    working-hours arithmetic (TenantSettings.workingHours), pure;
- `cadence`  which cadence step is due, pure;
- `cards`    the enquiry card, pure;
- `notify`   the enquiry card delivered once per (enquiry, event, person) ("pipeline-card" work);
- `drafts`   the acknowledgement and the touches, as follow-up drafts (rapport.followups approves
             and sends them exactly once), and the clock stopped by a reply ("enquiry-draft-sent");
- `response` what any contact with the enquirer does: the clock stopped (credited), the cadence
             paused, a pending acknowledgement dismissed (one rule for mail, sent drafts and calls);
- `stages`   stages, conflicts cleared, merging (the older kept), logging by hand, "my pipeline";
- `calls`    a phone call logged by hand: its Interaction, the clock, the cadence;
- `mail`     what captured mail means: new enquiries, stopped clocks, paused cadences (called by
             rapport.capture.ingest);
- `timer`    the timer pass: acknowledgement at 2 h, overdue at 4 h, touches, the final ask.

Imports rapport's records, store, work, runtime, text, identity.membership, capture.names,
drafting.safety, cards.common and followups.cards; never bot/, addin/ or function_app. Capture imports `mail` only.
This module re-exports nothing (importing it costs capture nothing).
"""
