"""The drift report as people read it: a markdown summary and a table (the Prefect artifacts), and the drop's
self-contained HTML summary (`Test_Supplements/drop_summary.html`) with a small plot per statistic.

The page carries everything it shows: inline SVG, CSS and the CJK glyphs of its file names (as the clip reports
do), no script, nothing fetched.
"""

from __future__ import annotations

from clmer.data.safe_markdown import md_code
from clmer.explain import fonts
from clmer.explain.charts import INK, RULE, esc, fmt, line, num, rect, svg, text
from clmer.explain.report_html import CSS

LEVEL_COLOURS = {"ok": "#4d9221", "watch": "#b8860b", "drift": "#b2182b", "unknown": "#777777"}
REFERENCE, DROP = "#bbbbbb", INK  # reference in grey, this drop in ink, on every plot
CSP = "default-src 'none'; img-src data:; font-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
PAGE_CSS = CSS + (".stats{display:flex;flex-wrap:wrap;gap:10px}.stat{width:300px}.stat svg{display:block}"
                  'code{font-family:"CLMER CJK",ui-monospace,SFMono-Regular,Menlo,monospace}')


def headline(report: dict) -> str:
    verdict = report["verdict"]
    n = f"{report['n_clips']} clip(s)"
    if verdict == "drift":
        return f"Drift: {', '.join(report['moved'])} moved ({n})"
    if verdict == "watch":
        return f"Watch: {', '.join(report['watching'])} ({n})"
    if verdict == "ok":
        return f"No drift ({n} like the reference)"
    return f"Drift unknown: {report.get('reason', '')}"


def _number(value, digits: int = 3) -> str:
    return fmt(value, digits) if value is not None else ""


def _pvalue(value) -> str:
    return "" if value is None else (f"{value:.4f}" if value >= 1e-4 else f"{value:.1e}")


def table_rows(report: dict) -> list[dict]:
    """One row per statistic and analysis (the Prefect table artifact)."""
    rows = []
    for a in report.get("analyses", []):
        for s in a.get("statistics", []):
            rows.append({"analysis": a["name"], "modality": s["group"], "statistic": s["label"], "level": s["level"],
                         "effect": _number(s.get("effect")), "p_adjusted": _pvalue(s.get("p_adjusted")),
                         "distance": f"{s.get('distance_name', '')} {_number(s.get('distance'), 4)}".strip(),
                         "psi": _number(s.get("psi")), "clips": s.get("n_drop", 0), "reference": s.get("n_reference", 0)})
    return rows


def markdown(report: dict, links: dict[str, str] | None = None) -> str:
    """The Prefect markdown artifact: the verdict first, then what moved, per analysis."""
    model = report.get("model") or {}
    lines = [f"# {headline(report)}", "", f"Drop {md_code(report['drop'])}, scored by model {model.get('version', '?')} "
             f"({md_code(model.get('uri', ''))}): {report['n_clips']} usable clip(s), {report['n_failed']} failed; "
             f"languages {_languages(report['languages'])}.", "", f"**{report.get('reason', '')}**"]
    if report.get("streak"):
        lines += ["", f"'drift' verdicts in a row for this model version: {report['streak']}."]
    ref = report.get("reference")
    if ref:
        lines += ["", f"Reference: {ref['n_clips']} clips of `{ref.get('corpus')}` ({_languages(ref['languages'])}), "
                      f"made {ref.get('created_at')}."]
    for a in report.get("analyses", []):
        lines += ["", f"## {a['name']}: {a['verdict']} ({a['n_clips']} clips, {a['n_reference']} in the reference)"]
        if a.get("reason"):
            lines += ["", a["reason"]]
            continue
        moved = [s for s in a["statistics"] if s["level"] in ("watch", "drift")]
        if moved:
            lines += ["", "| modality | statistic | level | effect | p (adjusted) |", "|---|---|---|---|---|"]
            lines += [f"| {s['group']} | {s['label']} | **{s['level']}** | {_number(s['effect'])} | "
                      f"{_pvalue(s['p_adjusted'])} |" for s in moved]
        untested = sorted({s["label"] for s in a["statistics"] if s["level"] == "not recorded"})
        if untested:
            lines += ["", f"Not recorded: {', '.join(untested)}."]
    for label, url in (links or {}).items():
        lines += ["", f"* {label}: [{url}]({url})"]
    return "\n".join(lines)


def _languages(counts: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items()) or "none"


# -- the HTML page -------------------------------------------------------------------------------------------


def _badge(level: str) -> str:
    return f'<span class="badge" style="background:{LEVEL_COLOURS.get(level, "#777777")}">{esc(level)}</span>'


def _scalar_plot(s: dict) -> str:
    plot, w, h, pad = s["plot"], 280, 86, 8
    edges, shares = plot["edges"], plot["reference_share"]
    lo, hi = edges[0], edges[-1]
    x_of = lambda v: pad + (w - 2 * pad) * (num(v) - lo) / ((hi - lo) or 1.0)  # noqa: E731 - local scale
    top = max(shares + [1e-9])
    body, bw = [], (w - 2 * pad) / max(1, len(shares))
    for i, share in enumerate(shares):
        bh = 50 * share / top
        body.append(rect(pad + i * bw, 56 - bh, bw - 1, bh, REFERENCE, f"reference {edges[i]:.3g}–{edges[i + 1]:.3g}: "
                         f"{share:.0%}"))
    body.append(line(pad, 57, w - pad, 57, RULE))
    body += [line(x_of(v), 60, x_of(v), 70, DROP) for v in plot["drop_values"]]
    body += [text(pad, 82, f"{lo:.3g}", size=10), text(w - pad, 82, f"{hi:.3g}", "end", 10)]
    return svg(w, h, f"{s['label']}: reference histogram, drop values as ticks", body)


def _categorical_plot(s: dict) -> str:
    cats, ref, new = s["plot"]["categories"], s["reference_summary"], s["drop_summary"]
    w, row = 280, 18
    body = []
    for i, c in enumerate(cats):
        y = 4 + i * row
        body += [text(2, y + 12, str(c), size=11),
                 rect(70, y, 120 * ref.get(c, 0.0), 7, REFERENCE, f"reference {c}: {ref.get(c, 0.0):.0%}"),
                 rect(70, y + 8, 120 * new.get(c, 0.0), 7, DROP, f"drop {c}: {new.get(c, 0.0):.0%}"),
                 text(196, y + 12, f"{ref.get(c, 0.0):.0%} → {new.get(c, 0.0):.0%}", size=10)]
    return svg(w, 8 + row * len(cats), f"{s['label']}: reference shares (grey) and this drop's", body)


def _vector_plot(s: dict) -> str:
    ref, new = s["plot"]["reference_xy"], s["plot"]["drop_xy"]
    xy = ref + new
    if not xy or len(xy[0]) < 2:
        return '<p class="empty">no plot</p>'
    xs, ys = [p[0] for p in xy], [p[1] for p in xy]
    w, h, pad = 280, 120, 6
    sx = lambda v: pad + (w - 2 * pad) * (v - min(xs)) / ((max(xs) - min(xs)) or 1.0)  # noqa: E731
    sy = lambda v: h - pad - (h - 2 * pad) * (v - min(ys)) / ((max(ys) - min(ys)) or 1.0)  # noqa: E731
    body = [f'<circle cx="{sx(p[0]):.1f}" cy="{sy(p[1]):.1f}" r="2" fill="{REFERENCE}"/>' for p in ref]
    body += [f'<circle cx="{sx(p[0]):.1f}" cy="{sy(p[1]):.1f}" r="3.5" fill="{DROP}"/>' for p in new]
    return svg(w, h, f"{s['label']}: first two sketch coordinates, reference grey, drop dark", body)


def _stat_card(s: dict) -> str:
    plots = {"scalar": _scalar_plot, "categorical": _categorical_plot, "vector": _vector_plot}
    figure = plots[s["kind"]](s) if "plot" in s else f'<p class="empty">{esc(s.get("note") or s["level"])}</p>'
    numbers = (f"effect {_number(s.get('effect'), 2)}, p {_pvalue(s.get('p_adjusted'))} (adjusted), "
               f"{esc(s.get('distance_name', ''))} {_number(s.get('distance'), 4)}" if "effect" in s else "")
    if s.get("psi") is not None:
        numbers += f", PSI {_number(s['psi'], 2)}"
    unit = f" <span class='muted'>({esc(s['unit'])})</span>" if s.get("unit") else ""
    return (f'<figure class="stat" data-statistic="{esc(s["name"])}" data-level="{esc(s["level"])}">'
            f"<figcaption>{_badge(s['level'])} <b>{esc(s['group'])}</b>: {esc(s['label'])}{unit}<br>"
            f"{s.get('n_drop', 0)} clip(s) vs {s.get('n_reference', 0)} reference; {numbers}</figcaption>"
            f"{figure}</figure>")


def section(report: dict) -> str:
    """The drift section: the verdict, then one card per statistic and analysis."""
    parts = [f'<section id="drift"><h2>Drift against the reference {_badge(report["verdict"])}</h2>',
             f"<p><b>{esc(report.get('reason', ''))}</b></p>"]
    ref = report.get("reference")
    if ref:
        parts.append(f"<p class='muted'>Reference: {ref['n_clips']} clips of {esc(ref.get('corpus'))} "
                     f"({esc(_languages(ref['languages']))}), made {esc(ref.get('created_at'))}. Family-wise error "
                     f"{report['settings']['alpha']} (Holm over every test below); 'watch' from effect "
                     f"{report['settings']['watch_effect']}, 'drift' from {report['settings']['drift_effect']} "
                     "(shift in the reference's std units).</p>")
    for a in report.get("analyses", []):
        parts.append(f"<h3>{esc(a['name'])} {_badge(a['verdict'])} <span class='muted'>{a['n_clips']} clip(s), "
                     f"{a['n_reference']} in the reference</span></h3>")
        if a.get("reason"):
            parts.append(f"<p>{esc(a['reason'])}</p>")
        parts.append('<div class="stats">' + "".join(_stat_card(s) for s in a.get("statistics", [])) + "</div>")
    return "\n".join(parts) + "</section>"


def _clips_table(clips: list[dict]) -> str:
    if not clips:
        return ""
    head = "<tr><th>file</th><th>status</th><th>polarity</th><th class='num'>confidence</th><th>language</th></tr>"
    rows = []
    for c in clips:
        stem = c.get("video_id")
        name = esc(c.get("file"))
        link = f'<a href="video_emotion_results/{esc(stem)}.html">{name}</a>' if stem and c.get("status") != "failed" \
            else name
        rows.append(f"<tr><td>{link}</td><td>{esc(c.get('status'))}</td><td>{esc(c.get('polarity') or '')}</td>"
                    f"<td class='num'>{_number(c.get('confidence'))}</td><td>{esc(c.get('language') or '')}</td></tr>")
    return "<h2>Clips scored in this drop</h2><table>" + head + "".join(rows) + "</table>"


def page(report: dict, clips: list[dict]) -> str:
    """The drop's summary page: headline, the clips scored now (linked to their reports), the drift section."""
    model = report.get("model") or {}
    body = (f"<h1>{esc(headline(report))}</h1><p>Drop <code>{esc(report['drop'])}</code>, scored "
            f"{esc(report['created_at'])} by model {esc(model.get('version'))} <code>{esc(model.get('uri'))}</code>; "
            f"{report['n_clips']} usable clip(s), {report['n_failed']} failed.</p>"
            + _clips_table(clips) + section(report))
    title = f"CLMER drop summary – {esc(report['drop'])}"
    face, _ = fonts.font_face_css(title + body)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}"><meta name="referrer" content="no-referrer">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title>'
            f"<style>{face}{PAGE_CSS}</style></head>\n<body>\n{body}\n</body></html>\n")
