"""Server-side SVG plots for the dashboard: no JavaScript, no CDN, nothing to load (the admin works offline)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe


@dataclass(frozen=True)
class Series:
    name: str
    color: str
    values: Sequence[int]


def stacked_bars(labels: Sequence[str], series: Sequence[Series], *, title: str, width: int = 560, height: int = 150,
                 every: int = 10) -> SafeString:
    """Bars per bin, one colour per series stacked; each bar's tooltip gives its figures.

    `labels` names the bins (one per bar); every `every`-th one is written under the axis.
    """
    left, bottom, top = 40, 18, 6
    plot_w, plot_h = width - left - 4, height - bottom - top
    totals = [sum(s.values[i] for s in series) for i in range(len(labels))]
    peak = max(totals, default=0) or 1
    bar_w = plot_w / max(len(labels), 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="console-plot" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" aria-label="{escape(title)}"><title>{escape(title)}</title>',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 4}" y2="{top + plot_h}" stroke="#999"/>',
        f'<text x="{left - 4}" y="{top + 8}" text-anchor="end" font-size="10">{peak}</text>',
        f'<text x="{left - 4}" y="{top + plot_h}" text-anchor="end" font-size="10">0</text>',
    ]
    for i, label in enumerate(labels):
        x, y = left + i * bar_w, top + plot_h
        tip = escape(f"{label}: " + ", ".join(f"{s.name} {s.values[i]}" for s in series))
        parts.append(f"<g><title>{tip}</title>")
        for s in series:
            value = s.values[i]
            if value:
                h = value / peak * plot_h
                y -= h
                parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(bar_w - 1, 1):.1f}" height="{h:.1f}" fill="{s.color}"/>')
        parts.append("</g>")
        if i % every == 0:
            parts.append(f'<text x="{x:.1f}" y="{height - 4}" font-size="10">{escape(label)}</text>')
    parts.append("</svg>")
    legend = " ".join(
        f'<span class="console-legend"><span style="background:{s.color}"></span>{escape(s.name)} {sum(s.values)}</span>'
        for s in series
    )
    return mark_safe("".join(parts) + f'<div class="console-legends">{legend}</div>')  # noqa: S308 - every text escaped above
