"""The API as the URL map serves it, for the tests that must cover every endpoint (the access
matrix, the path-id checks): a helper module, so no test module imports another."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, get_resolver


def api_routes() -> list[tuple[str, str, list[str]]]:
    """(name, route, methods) of every endpoint under /api/."""
    found = []

    def walk(patterns: list, prefix: str) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                route = prefix + str(pattern.pattern)
                if not route.startswith("api/"):
                    continue
                callback = pattern.callback
                actions = getattr(callback, "actions", None)
                if actions:
                    methods = [m.upper() for m in actions]
                else:
                    view = callback.view_class
                    methods = [m.upper() for m in view.http_method_names if hasattr(view, m) and m not in ("options", "head")]
                found.append((pattern.name, route, methods))

    walk(get_resolver().url_patterns, "")
    return found


def api_endpoints() -> list[tuple[str, str, str]]:
    """(name, route, method) of every endpoint under /api/."""
    return [(name, route, method) for name, route, methods in api_routes() for method in methods]
