"""The drafting service: follow-up emails and brief talking points, by template or by LLM.

Callers hand in an already-scoped context (only records the viewer may see) and get text back.
Recipients are never part of the output, and nothing here can send: a draft only ever becomes mail
through the approval flow of the follow-ups module.

    drafter = make_drafter(settings)
    text = await drafter.draft_followup(FollowupContext(...))      # -> DraftText
    points = await drafter.draft_talking_points(BriefContext(...))  # -> TalkingPoints
"""

from __future__ import annotations

from typing import Any, Protocol

from .context import (
    BriefContext,
    DraftingRefused,
    DraftText,
    ExternalAttendee,
    FollowupContext,
    InteractionNote,
    OpenItem,
    SignalNote,
    TalkingPoints,
)
from .template import TemplateDrafter

__all__ = [
    "BriefContext", "DraftText", "Drafter", "DraftingRefused", "ExternalAttendee", "FollowupContext",
    "InteractionNote", "OpenItem", "SignalNote", "TalkingPoints", "TemplateDrafter", "make_drafter",
]


class Drafter(Protocol):
    name: str

    async def draft_followup(self, ctx: FollowupContext) -> DraftText: ...

    async def draft_talking_points(self, ctx: BriefContext) -> TalkingPoints: ...

    async def aclose(self) -> None: ...


def make_drafter(settings: Any, **llm_options: Any) -> Drafter:
    """The template drafter unless Azure OpenAI or OpenAI is configured (settings.drafting).

    `llm_options` go to LlmDrafter (timeout, max_attempts, sleep, model ...): tests inject short
    timeouts and a recording sleep here.
    """
    if settings.drafting == "template":
        return TemplateDrafter()
    from .llm import LlmDrafter  # imported lazily: the embedded default never loads openai

    return LlmDrafter.from_settings(settings, **llm_options)
