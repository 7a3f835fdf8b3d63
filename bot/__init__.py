"""Rapport's Teams and Outlook-channel bot: activity handler, card verbs, proactive sends."""
