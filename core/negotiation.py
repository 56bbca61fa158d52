"""Content negotiation without parsing `Accept` on every request: the API renders JSON only, so a
client that accepts anything or JSON gets it at once; any other `Accept` goes through DRF's full
negotiation (and its 406) as before."""

from __future__ import annotations

from typing import Any

from rest_framework.negotiation import DefaultContentNegotiation

PLAIN = {"", "*/*", "application/json", "application/json, */*"}


class JsonFirstNegotiation(DefaultContentNegotiation):
    def select_renderer(self, request: Any, renderers: list, format_suffix: str | None = None) -> tuple:
        if len(renderers) == 1 and not format_suffix and request.META.get("HTTP_ACCEPT", "").strip() in PLAIN:
            renderer = renderers[0]
            return renderer, renderer.media_type
        return super().select_renderer(request, renderers, format_suffix)
