"""Plots and a self-contained HTML page for a search run.

``pareto.png``: every trained candidate (rung 0), the candidates judged at the top rung, the front,
the budget line and the baseline. ``report.html``: the same chart as inline SVG, where hovering a
point shows its arch (SVG ``<title>``: no JavaScript, no network), plus the front as a table.
"""

from __future__ import annotations

import csv
import html
import json
from pathlib import Path

from nas.errors import NasError
from nas.fileio import atomic_write_text


def _load(run: Path) -> tuple[dict, list[dict[str, str]]]:
    if not (run / "pareto.json").is_file() or not (run / "trials.csv").is_file():
        raise NasError(f"{run} is not a finished search run (needs pareto.json and trials.csv)")
    with open(run / "trials.csv") as handle:
        rows = list(csv.DictReader(handle))
    return json.loads((run / "pareto.json").read_text()), rows


def write_report(run: str | Path) -> list[Path]:
    run = Path(run)
    summary, rows = _load(run)
    device = summary["device"]
    latency_col = f"latency_ms_{device}"
    top = summary["judged_at_rung"]
    trials = [(float(r[latency_col]), float(r["accuracy_rung0"]), r["arch"], r["id"]) for r in rows]
    judged = [(float(r[latency_col]), float(r[f"accuracy_rung{top}"]), r["arch"], r["id"]) for r in rows
              if r.get(f"accuracy_rung{top}")]
    front = [(f["latency_ms"], f["accuracy"], f["arch"], f["id"]) for f in summary["front"]]
    baseline = summary.get("baseline")
    png = run / "pareto.png"
    _png(png, summary, trials, judged, front, baseline)
    page = run / "report.html"
    atomic_write_text(page, _html(summary, trials, judged, front, baseline))
    return [png, page]


def _png(path: Path, summary: dict, trials: list, judged: list, front: list, baseline: dict | None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    if trials:
        ax.scatter([t[0] for t in trials], [t[1] * 100 for t in trials], s=14, c="#bbbbbb",
                   label=f"all trials ({summary['fidelities'][0]})")
    if judged and summary["judged_at_rung"] > 0:
        ax.scatter([t[0] for t in judged], [t[1] * 100 for t in judged], s=22, c="#4c72b0",
                   label=f"promoted ({summary['fidelities'][-1]})")
    if front:
        ax.plot([f[0] for f in front], [f[1] * 100 for f in front], "-o", c="#dd8452", ms=6, label="Pareto front")
    if baseline:
        ax.scatter([baseline["latency_ms"]], [baseline["accuracy"] * 100], marker="*", s=160, c="#c44e52",
                   label=f"baseline {baseline['name']}")
    ax.axvline(summary["budget_ms"], color="k", ls="--", lw=1, label=f"budget {summary['budget_ms']:g} ms")
    ax.set_xlabel(f"predicted latency on {summary['device']} (ms)")
    ax.set_ylabel("validation accuracy (%)")
    noise = summary.get("noise_sd")
    ax.set_title(f"{summary['run']}" + (f"  (seed noise sd {noise * 100:.1f} pts)" if noise else ""), fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _svg(summary: dict, trials: list, judged: list, front: list, baseline: dict | None) -> str:
    width, height, pad = 720, 420, 50
    points = trials + judged + front + ([(baseline["latency_ms"], baseline["accuracy"], "", "")] if baseline else [])
    xs = [p[0] for p in points] + [summary["budget_ms"], 0.0]
    ys = [p[1] * 100 for p in points] or [0, 100]
    x0, x1 = min(xs), max(xs) * 1.05
    y0, y1 = min(ys) - 2, max(ys) + 2

    def sx(x: float) -> float:
        return pad + (x - x0) / (x1 - x0 or 1) * (width - 2 * pad)

    def sy(y: float) -> float:
        return height - pad - (y * 100 - y0) / (y1 - y0 or 1) * (height - 2 * pad)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-size="11">',
             f'<rect x="{pad}" y="{pad}" width="{width - 2 * pad}" height="{height - 2 * pad}" fill="none" stroke="#888"/>']
    for i in range(6):
        x = x0 + (x1 - x0) * i / 5
        y = y0 + (y1 - y0) * i / 5
        parts.append(f'<text x="{sx(x):.0f}" y="{height - pad + 15}" text-anchor="middle">{x:.2f}</text>')
        parts.append(f'<text x="{pad - 5}" y="{height - pad - (y - y0) / (y1 - y0 or 1) * (height - 2 * pad):.0f}" '
                     f'text-anchor="end">{y:.1f}</text>')
    parts.append(f'<text x="{width / 2}" y="{height - 10}" text-anchor="middle">predicted latency on '
                 f'{html.escape(summary["device"])} (ms)</text>')
    parts.append(f'<text x="12" y="{height / 2}" transform="rotate(-90 12 {height / 2})" text-anchor="middle">'
                 'validation accuracy (%)</text>')
    bx = sx(summary["budget_ms"])
    parts.append(f'<line x1="{bx:.1f}" y1="{pad}" x2="{bx:.1f}" y2="{height - pad}" stroke="black" stroke-dasharray="4"/>')

    def dots(items: list, colour: str, radius: int, label: str) -> None:
        for lat, acc, arch, ident in items:
            tip = html.escape(f"{label} {ident}: {acc * 100:.2f}% at {lat:.3f} ms\n{arch}")
            parts.append(f'<circle cx="{sx(lat):.1f}" cy="{sy(acc):.1f}" r="{radius}" fill="{colour}">'
                         f'<title>{tip}</title></circle>')

    dots(trials, "#bbbbbb", 3, "trial (rung 0)")
    if summary["judged_at_rung"] > 0:
        dots(judged, "#4c72b0", 4, "promoted")
    path = " ".join(f"{sx(f[0]):.1f},{sy(f[1]):.1f}" for f in front)
    if front:
        parts.append(f'<polyline points="{path}" fill="none" stroke="#dd8452" stroke-width="2"/>')
    dots(front, "#dd8452", 5, "front")
    if baseline:
        dots([(baseline["latency_ms"], baseline["accuracy"], baseline["arch"], baseline["name"])], "#c44e52", 7,
             "baseline")
    parts.append("</svg>")
    return "\n".join(parts)


def _html(summary: dict, trials: list, judged: list, front: list, baseline: dict | None) -> str:
    rows = "".join(f"<tr><td>{f['accuracy'] * 100:.2f}</td><td>{f['latency_ms']:.3f}</td><td>{f['macs'] / 1e6:.1f}</td>"
                   f"<td>{f['params'] / 1e6:.2f}M</td><td><code>{html.escape(f['arch'])}</code></td></tr>"
                   for f in summary["front"])
    base = ""
    if baseline:
        base = (f"<p>Best baseline under budget: <b>{html.escape(baseline['name'])}</b> "
                f"{baseline['accuracy'] * 100:.2f}% at {baseline['latency_ms']:.3f} ms (same fidelity).</p>")
    noise = summary.get("noise_sd")
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>nas report: {html.escape(summary['run'])}</title>
<style>body{{font-family:sans-serif;margin:2em}} td,th{{padding:2px 8px;text-align:left}} code{{font-size:10px}}</style>
</head><body>
<h1>{html.escape(summary['run'])}</h1>
<p>Space <b>{html.escape(summary['space'])}</b>, device <b>{html.escape(summary['device'])}</b>, budget
{summary['budget_ms']:g} ms. Fidelities: {html.escape(' &rarr; '.join(summary['fidelities']))}; the front is judged at
the last. Seed noise (sd): {f'{noise * 100:.1f} points' if noise else 'not measured'}; accuracy differences within it
count as ties that go to the lower latency. Hover a point to see its arch.</p>
{_svg(summary, trials, judged, front, baseline)}
{base}
<h2>Pareto front</h2>
<table><tr><th>acc %</th><th>latency ms</th><th>MMACs</th><th>params</th><th>arch</th></tr>{rows}</table>
</body></html>
"""
