"""Hand-written inline SVG for the HTML report: the palette, the drawing helpers and the two charts.

One colour means one thing on the whole page. Three disjoint families, from the Okabe–Ito and
Tol colour-blind-safe sets:

* polarity classes: negative vermillion, neutral grey, positive bluish green;
* modalities: text blue, audio orange, vision reddish purple;
* evidence (does a part support the predicted class or speak against it?): indigo / sand.

The sign of the evidence is also drawn as a direction (right of / above the zero line), so the
charts stay readable without colour. ``tests/code/test_report_html.py`` checks the families are
disjoint and that the charts use nothing else.
"""

from __future__ import annotations

import html
import math

from clmer.names import MODALITIES

CLASSES = ("negative", "neutral", "positive")
CLASS_COLOURS = {"negative": "#d55e00", "neutral": "#8c8c8c", "positive": "#009e73"}
MODALITY_COLOURS = {"text": "#0072b2", "audio": "#e69f00", "vision": "#cc79a7"}
EVIDENCE_COLOURS = {"supports": "#332288", "against": "#ddcc77"}
SUPPORT, AGAINST = EVIDENCE_COLOURS["supports"], EVIDENCE_COLOURS["against"]
INK, RULE = "#333333", "#999999"  # text and axes: not data colours


def esc(value) -> str:
    """HTML-escape any value for element text and quoted attributes (quotes included)."""
    return html.escape("" if value is None else str(value), quote=True)


def num(value, default: float = 0.0) -> float:
    """A finite float for geometry: missing, non-numeric and NaN/inf values become `default`."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return default
    return x if math.isfinite(x) else default


def fmt(value, digits: int = 3) -> str:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return "n/a"
    return f"{x:.{digits}f}" if math.isfinite(x) else "n/a"


def svg(width: int, height: int, label: str, body: list[str]) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="{esc(label)}">' + "".join(body) + "</svg>")


def text(x: float, y: float, s: str, anchor: str = "start", size: int = 12, fill: str = INK) -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" fill="{fill}">'
            f"{esc(s)}</text>")


def rect(x: float, y: float, w: float, h: float, fill: str, tip: str = "") -> str:
    title = f"<title>{esc(tip)}</title>" if tip else ""
    return (f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w, 0.5):.1f}" height="{max(h, 0.5):.1f}" '
            f'fill="{fill}">{title}</rect>')


def line(x1: float, y1: float, x2: float, y2: float, stroke: str = RULE, dash: str = "") -> str:
    extra = f' stroke-dasharray="{dash}"' if dash else ""
    return f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{stroke}"{extra}/>'


def evidence_colour(score: float) -> str:
    return SUPPORT if score >= 0 else AGAINST


def nice_step(span: float, most: int = 10) -> float:
    """A round tick step (1, 2, 5 x 10^k) giving at most `most` intervals over `span`."""
    if span <= 0 or not math.isfinite(span):
        return 1.0
    base = 10 ** math.floor(math.log10(span / most))
    for m in (1, 2, 5, 10):
        if span / (m * base) <= most:
            return m * base
    return 10 * base


def ticks(lo: float, hi: float, most: int = 5) -> list[float]:
    """Round tick values covering [lo, hi], zero included when it lies inside."""
    step = nice_step(hi - lo, most)
    start = math.floor(lo / step + 1e-9) * step
    out, t = [], start
    while t <= hi + step * 1e-6:
        out.append(round(t, 10) + 0.0)
        t += step
    return out


def _legend(x: float, y: float, items: list[tuple[str, str]]) -> list[str]:
    """Colour swatches with their meaning, in a row, outside the plotting area."""
    body, cx = [], x
    for colour, label in items:  # circles, so a chart's <rect>s are its data and nothing else
        body += [f'<circle cx="{cx + 5:.1f}" cy="{y - 4:.1f}" r="5" fill="{colour}"/>', text(cx + 14, y, label, size=11)]
        cx += 24 + 6.2 * len(label)
    return body


def shares_chart(doc: dict) -> str:
    """Left: each modality's share (bar in the modality's colour). Right: its Shapley value, a bar
    left or right of a zero line in the evidence colours."""
    shares, shap = doc.get("modality_shares") or {}, doc.get("shapley") or {}
    present = doc.get("present") or {}
    top = max([abs(num(shap.get(m))) for m in MODALITIES] + [1e-9])
    bar_x, bar_w, mid, half, value_x, width = 90, 200, 500, 120, 700, 710
    rows_top = 26
    body = [text(bar_x, 14, "share of the decision"), text(mid, 14, "Shapley value", "middle"),
            line(mid, 20, mid, rows_top + 34 * 3 - 4)]
    for row, m in enumerate(MODALITIES):
        y = rows_top + 34 * row
        share, value = num(shares.get(m)), num(shap.get(m))
        body.append(text(4, y + 16, m if present.get(m, True) else f"{m} (absent)"))
        body.append(rect(bar_x, y, bar_w * min(1.0, max(0.0, share)), 22, MODALITY_COLOURS[m], f"{m} share {share:.4f}"))
        body.append(text(bar_x + bar_w + 6, y + 16, fmt(shares.get(m))))
        bar = half * abs(value) / top
        body.append(rect(mid if value >= 0 else mid - bar, y, bar, 22, evidence_colour(value),
                         f"{m} Shapley {value:.4f}"))
        body.append(text(value_x, y + 16, fmt(shap.get(m), 4), "end"))
    legend_y = rows_top + 34 * 3 + 14
    body += _legend(mid - half, legend_y, [(SUPPORT, "supports the prediction"), (AGAINST, "speaks against it")])
    return svg(width, legend_y + 8, "modality shares and Shapley values", body)


def audio_chart(spans: list[dict], frame_times: list[float]) -> str:
    """Audio spans on a time axis (every 1 s window when given, so the chart is the clip's attribution
    curve); bar height is the span's score on a labelled y scale (fall in the predicted class's
    log-odds when the span is removed), above zero when it supported the prediction, below when not.
    The three highest are numbered."""
    width, left, right, top_pad, plot_h = 660, 56, 20, 14, 110
    scores = [num(s.get("score")) for s in spans]
    hi, lo = max(scores + [0.0]), min(scores + [0.0])
    if hi - lo < 1e-9:
        hi = 1e-3
    y_ticks = ticks(lo, hi, 4)
    lo, hi = min(lo, y_ticks[0]), max(hi, y_ticks[-1])
    y_of = lambda v: top_pad + plot_h * (hi - v) / (hi - lo)  # noqa: E731 - local scale
    duration = max([num(s.get("end")) for s in spans] + [num(t) for t in frame_times] + [1.0])
    plot_w = width - left - right
    x_of = lambda t: left + plot_w * max(0.0, num(t)) / duration  # noqa: E731 - local scale
    base, axis_y = y_of(0.0), top_pad + plot_h
    body = [line(left, top_pad, left, axis_y, INK)]
    for v in y_ticks:
        body += [line(left - 4, y_of(v), left, y_of(v), INK), text(left - 6, y_of(v) + 4, f"{v:+g}" if v else "0", "end", 10)]
        if v:
            body.append(line(left, y_of(v), width - right, y_of(v), "#e4e4e4"))
    body.append(f'<text x="12" y="{top_pad + plot_h / 2:.1f}" font-size="10" fill="{INK}" text-anchor="middle" '
                f'transform="rotate(-90 12 {top_pad + plot_h / 2:.1f})">Δ log-odds</text>')
    rank_of = {i: r for r, i in enumerate(sorted(range(len(scores)), key=lambda i: -scores[i])[:3], 1)}
    for i, (s, score) in enumerate(zip(spans, scores)):
        rank = rank_of.get(i)
        start, end = num(s.get("start")), num(s.get("end"))
        x0, y0 = x_of(start), min(y_of(score), base)
        share = f", {100 * num(s.get('share')):.0f} % of the decision" if s.get("share") is not None else ""
        body.append(rect(x0, y0, max(2.0, x_of(end) - x0), abs(y_of(score) - base), evidence_colour(score),
                         f"{f'#{rank}: ' if rank else ''}{start:.2f}–{end:.2f} s, Δ log-odds {score:+.4f}{share}"))
        if rank:
            label_y = y_of(score) - 4 if score >= 0 else y_of(score) + 12
            body.append(text(x0 + 2, label_y, f"#{rank}", size=10))
    body.append(line(left, base, width - right, base, INK))
    step, t = nice_step(duration), 0.0
    while t <= duration + 1e-9:
        body += [line(x_of(t), axis_y, x_of(t), axis_y + 5, INK), text(x_of(t), axis_y + 17, f"{t:g}s", "middle", 11)]
        t += step
    for t in frame_times:  # where the key frames sit, for reference
        body.append(f'<path d="M{x_of(t):.1f} {axis_y + 21} l-4 7 h8 z" fill="{MODALITY_COLOURS["vision"]}"><title>'
                    f"key frame at {num(t):.2f} s</title></path>")
    legend_y = axis_y + 44
    body += _legend(left, legend_y, [(SUPPORT, "span supports the prediction"), (AGAINST, "speaks against it"),
                                     (MODALITY_COLOURS["vision"], "key frame (vision)")])
    return svg(width, legend_y + 8, "key audio spans on the time axis", body)
