"""Rapport's Teams and Outlook-channel bot: the surface that speaks Bot Framework.

- routes.py: POST /api/messages; composes the bot in one place (adapter, verb table, text commands)
  and makes the proactive senders the Azure host provides to rapport.runtime;
- adapter.py: botbuilder's CloudAdapter with Rapport's Bot Framework authentication;
- handler.py: RapportBot, the tenant and member gate, then help, commands and card verbs;
- verbs.py: helpers for card verbs (`adaptiveCard/action` invokes);
- briefs.py, followups.py: each capability's text commands (`on_text`) and card verbs (`VERBS`);
- pacing.py: Teams' rate limits for proactive sends; text.py: plain-text replies;
- dev_outbox.py: the local outbox's card buttons (a /dev route, local only).
May import rapport (never addin, function_app or local). Nothing registers itself at import.
"""
