"""Small server-side SVG charts: stacked bars and a 0-100% line. No script, no external assets."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

WIDTH = 720
HEIGHT = 220
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 48, 12, 12, 40


def _frame(title: str, body: list[str], legend: Sequence[tuple[str, str]] = ()) -> Markup:
    items = []
    x = PAD_LEFT
    for name, colour in legend:
        items.append(
            f'<rect x="{x}" y="{HEIGHT - 14}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{x + 14}" y="{HEIGHT - 5}" class="legend">{escape(name)}</text>'
        )
        x += 14 + 8 * len(name) + 16
    return Markup(
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}" class="chart">'
        f"<title>{escape(title)}</title>{''.join(body)}{''.join(items)}</svg>"
    )


def _axis(y_max: float, label_format: str) -> list[str]:
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    out = []
    for i in range(5):
        value = y_max * i / 4
        y = PAD_TOP + plot_h - plot_h * i / 4
        out.append(
            f'<line x1="{PAD_LEFT}" x2="{WIDTH - PAD_RIGHT}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{PAD_LEFT - 6}" y="{y + 4:.1f}" class="tick" text-anchor="end">'
            f"{label_format.format(value)}</text>"
        )
    return out


def _x_labels(labels: Sequence[str], slot: float) -> list[str]:
    step = max(1, len(labels) // 8)
    out = []
    for i in range(0, len(labels), step):
        x = PAD_LEFT + slot * (i + 0.5)
        out.append(
            f'<text x="{x:.1f}" y="{HEIGHT - PAD_BOTTOM + 14}" class="tick" text-anchor="middle">'
            f"{escape(labels[i])}</text>"
        )
    return out


def stacked_bars(
    title: str, labels: Sequence[str], series: Sequence[tuple[str, str, Sequence[int]]]
) -> Markup:
    """Bars per label, one stacked segment per series ``(name, colour, values)``."""
    if not labels:
        return _frame(title, ['<text x="50%" y="50%" text-anchor="middle" class="tick">no data</text>'])
    totals = [sum(values[i] for _, _, values in series) for i in range(len(labels))]
    y_max = max(max(totals), 1)
    plot_w = WIDTH - PAD_LEFT - PAD_RIGHT
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    slot = plot_w / len(labels)
    bar_w = max(1.0, slot * 0.8)
    body = _axis(y_max, "{:,.0f}")
    for i, label in enumerate(labels):
        base = 0
        for name, colour, values in series:
            value = values[i]
            if not value:
                continue
            h = plot_h * value / y_max
            y = PAD_TOP + plot_h - plot_h * (base + value) / y_max
            x = PAD_LEFT + slot * i + (slot - bar_w) / 2
            body.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" fill="{colour}">'
                f"<title>{escape(label)}: {value:,} {escape(name)}</title></rect>"
            )
            base += value
    body += _x_labels(labels, slot)
    return _frame(title, body, [(name, colour) for name, colour, _ in series])


def rate_line(title: str, labels: Sequence[str], rates: Sequence[float], counts: Sequence[int]) -> Markup:
    """A 0-100% line with a dot per label; each dot's tooltip gives the rate and the number of calls."""
    if not labels:
        return _frame(title, ['<text x="50%" y="50%" text-anchor="middle" class="tick">no data</text>'])
    plot_w = WIDTH - PAD_LEFT - PAD_RIGHT
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    slot = plot_w / len(labels)
    body = _axis(100, "{:.0f}%")
    points = []
    for i, (label, rate, count) in enumerate(zip(labels, rates, counts, strict=True)):
        x = PAD_LEFT + slot * (i + 0.5)
        y = PAD_TOP + plot_h - plot_h * rate
        points.append(f"{x:.1f},{y:.1f}")
        body.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" class="dot">'
            f"<title>{escape(label)}: {rate:.0%} of {count} call(s)</title></circle>"
        )
    body.insert(len(body) - len(labels), f'<polyline points="{" ".join(points)}" class="line"/>')
    body += _x_labels(labels, slot)
    return _frame(title, body)
