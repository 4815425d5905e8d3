"""Plots and a self-contained HTML page for a search run.

Accuracies at different fidelities are not comparable (rung 0 trains at half resolution on fewer
images), so every picture keeps them apart: one panel per fidelity, each labelled with it. Panel 1
shows every trained candidate at rung 0 (the screening); panel 2 the candidates judged at the top
rung, the Pareto front and the baseline, each at the mean over its seeds with the seeds' range as an
error bar. The budget is a labelled dashed line in both.

``pareto.png`` is drawn with matplotlib; ``report.html`` holds the same panels as inline SVG (hovering a
point shows its arch through SVG ``<title>``: no JavaScript, no network) and the front as a table.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

from nas.errors import NasError
from nas.fileio import atomic_write_text
from nas.search.run_folder import RunFolder

SCREENED, PROMOTED, FRONT, BASELINE = "#bbbbbb", "#4c72b0", "#dd8452", "#c44e52"


@dataclass(frozen=True)
class Dot:
    """One point of a panel: latency, mean accuracy over its seeds and their range."""

    latency_ms: float
    accuracy: float
    low: float
    high: float
    label: str
    arch: str

    @classmethod
    def of(cls, latency_ms: float, accuracies: list[float], label: str, arch: str) -> Dot:
        mean = sum(accuracies) / len(accuracies)
        return cls(latency_ms, mean, min(accuracies), max(accuracies), label, arch)


@dataclass(frozen=True)
class Panel:
    """The points judged at one fidelity."""

    title: str
    series: list[tuple[str, str, list[Dot]]]  # (legend name, colour, dots)
    line: bool = False  # the last series is the front: join its dots


def _load(folder: RunFolder) -> tuple[dict, list[dict[str, str]]]:
    if not folder.pareto_path.is_file() or not folder.trials_path.is_file():
        raise NasError(f"{folder.path} is not a finished search run (needs pareto.json and trials.csv)")
    return folder.pareto(()), folder.trials()


def panels(summary: dict, rows: list[dict[str, str]]) -> list[Panel]:
    """The report's panels: screening at rung 0, then (with more than one rung) the top rung."""
    latency_col = f"latency_ms_{summary['device']}"
    top = summary["judged_at_rung"]
    fidelities = summary["fidelities"]
    screened = [Dot.of(float(r[latency_col]), [float(r["accuracy_rung0"])], r["id"], r["arch"]) for r in rows]
    front = [Dot.of(f["latency_ms"], f.get("accuracies") or [f["accuracy"]], f["id"], f["arch"])
             for f in summary["front"]]
    baseline = summary.get("baseline")
    base = ([Dot.of(baseline["latency_ms"], baseline.get("accuracies") or [baseline["accuracy"]], baseline["name"],
                    baseline["arch"])] if baseline else [])
    base_series = [(f"baseline {baseline['name']}", BASELINE, base)] if baseline else []
    if top == 0:
        return [Panel(f"every candidate at {fidelities[0]}",
                      [("candidates", SCREENED, screened), *base_series, ("Pareto front", FRONT, front)], line=True)]
    front_ids = {d.label for d in front}
    promoted = [Dot.of(float(r[latency_col]), [float(r[f"accuracy_rung{top}"])], r["id"], r["arch"]) for r in rows
                if r.get(f"accuracy_rung{top}") and r["id"] not in front_ids]
    return [Panel(f"screening: every candidate at rung 0 ({fidelities[0]})", [("candidates", SCREENED, screened)]),
            Panel(f"judged at rung {top} ({fidelities[top]})",
                  [("promoted", PROMOTED, promoted), *base_series, ("Pareto front", FRONT, front)], line=True)]


def write_report(run: str | Path) -> list[Path]:
    folder = RunFolder(Path(run))
    run = folder.path
    summary, rows = _load(folder)
    try:
        drawn = panels(summary, rows)
    except (KeyError, TypeError, ValueError) as exc:
        raise NasError(f"{run}: pareto.json or trials.csv lacks a field the report needs ({exc}); rerun the search "
                       "with --resume to rewrite them") from None
    png = folder.plot_path
    _png(png, summary, drawn)
    page = folder.report_path
    atomic_write_text(page, _html(summary, drawn))
    return [png, page]


def _subtitle(summary: dict) -> str:
    noise = summary.get("noise_sd")
    return (f"{summary['space']} on {summary['device']}, budget {summary['budget_ms']:g} ms"
            + (f"; seed noise sd {noise * 100:.1f} pts" if noise else ""))


def _png(path: Path, summary: dict, drawn: list[Panel]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(drawn), figsize=(6.2 * len(drawn), 4.6), dpi=110, squeeze=False)
    for ax, panel in zip(axes[0], drawn):
        for name, colour, dots in panel.series:
            if not dots:
                continue
            xs, ys = [d.latency_ms for d in dots], [d.accuracy * 100 for d in dots]
            spread = [[(d.accuracy - d.low) * 100 for d in dots], [(d.high - d.accuracy) * 100 for d in dots]]
            joined = panel.line and name == "Pareto front"
            marker = "*" if name.startswith("baseline") else "o"
            size = 12 if marker == "*" else 4 if colour == SCREENED else 6
            has_spread = any(v > 0 for side in spread for v in side)
            ax.errorbar(xs, ys, yerr=spread if has_spread else None, fmt=("-" if joined else "") + marker, ms=size,
                        color=colour, capsize=3 if has_spread else 0, lw=1.5 if joined else 1,
                        label=name + (" (mean; bar: range over seeds)" if has_spread else ""))
        ax.axvline(summary["budget_ms"], color="k", ls="--", lw=1, label=f"budget {summary['budget_ms']:g} ms")
        ax.annotate(f"budget {summary['budget_ms']:g} ms", (summary["budget_ms"], 0.98),
                    xycoords=("data", "axes fraction"), xytext=(-3, 0), textcoords="offset points", ha="right",
                    va="top", rotation=90, fontsize=8)
        ax.set_xlabel(f"predicted latency on {summary['device']} (ms)")
        ax.set_ylabel("validation accuracy (%) at this panel's fidelity")
        ax.set_title(panel.title, fontsize=9)
        ax.legend(fontsize=7, loc="best")
    fig.suptitle(f"{summary['run']}: {_subtitle(summary)}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _svg(summary: dict, panel: Panel) -> str:
    width, height, pad, legend_w = 700, 400, 50, 150  # the legend sits right of the frame, over no point
    dots = [d for _, _, ds in panel.series for d in ds]
    xs = [d.latency_ms for d in dots] + [summary["budget_ms"], 0.0]
    ys = [v * 100 for d in dots for v in (d.low, d.high)] or [0.0, 100.0]
    x0, x1 = min(xs), max(xs) * 1.05
    y0, y1 = min(ys) - 2, max(ys) + 2

    def sx(x: float) -> float:
        return pad + (x - x0) / (x1 - x0 or 1) * (width - 2 * pad - legend_w)

    def sy(fraction: float) -> float:
        return height - pad - (fraction * 100 - y0) / (y1 - y0 or 1) * (height - 2 * pad)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-size="11" '
             f'role="img" aria-label="{html.escape(panel.title)}">',
             f'<text x="{(width - legend_w) / 2}" y="16" text-anchor="middle" font-weight="bold">'
             f'{html.escape(panel.title)}</text>',
             f'<rect x="{pad}" y="{pad}" width="{width - 2 * pad - legend_w}" height="{height - 2 * pad}" fill="none" '
             'stroke="#888"/>']
    for i in range(6):
        x, y = x0 + (x1 - x0) * i / 5, y0 + (y1 - y0) * i / 5
        parts.append(f'<text x="{sx(x):.0f}" y="{height - pad + 15}" text-anchor="middle">{x:.2f}</text>')
        parts.append(f'<text x="{pad - 5}" y="{sy(y / 100):.0f}" text-anchor="end">{y:.1f}</text>')
    parts.append(f'<text x="{(width - legend_w) / 2}" y="{height - 10}" text-anchor="middle">predicted latency on '
                 f'{html.escape(summary["device"])} (ms)</text>')
    parts.append(f'<text x="12" y="{height / 2}" transform="rotate(-90 12 {height / 2})" text-anchor="middle">'
                 'validation accuracy (%) at this fidelity</text>')
    bx = sx(summary["budget_ms"])
    parts.append(f'<line x1="{bx:.1f}" y1="{pad}" x2="{bx:.1f}" y2="{height - pad}" stroke="black" stroke-dasharray="4"/>')
    parts.append(f'<text x="{bx - 4:.1f}" y="{pad + 12}" text-anchor="end">budget {summary["budget_ms"]:g} ms</text>')
    for name, colour, series in panel.series:
        if panel.line and name == "Pareto front" and series:
            path = " ".join(f"{sx(d.latency_ms):.1f},{sy(d.accuracy):.1f}" for d in series)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        radius = 7 if name.startswith("baseline") else 3 if colour == SCREENED else 5
        for d in series:
            if d.high > d.low:
                parts.append(f'<line x1="{sx(d.latency_ms):.1f}" y1="{sy(d.low):.1f}" x2="{sx(d.latency_ms):.1f}" '
                             f'y2="{sy(d.high):.1f}" stroke="{colour}" stroke-width="1.5"/>')
            tip = html.escape(f"{name} {d.label}: {d.accuracy * 100:.2f}% (seeds {d.low * 100:.2f}-{d.high * 100:.2f}) "
                              f"at {d.latency_ms:.3f} ms\n{d.arch}")
            parts.append(f'<circle cx="{sx(d.latency_ms):.1f}" cy="{sy(d.accuracy):.1f}" r="{radius}" fill="{colour}">'
                         f'<title>{tip}</title></circle>')
    legend = [(name, colour) for name, colour, series in panel.series if series]
    for i, (name, colour) in enumerate(legend):
        y = pad + 10 + 16 * i
        x = width - pad - legend_w + 14
        parts.append(f'<circle cx="{x}" cy="{y - 4}" r="4" fill="{colour}"/><text x="{x + 8}" y="{y}">'
                     f'{html.escape(name)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def _seeds(accuracies: list[float]) -> str:
    return ", ".join(f"{a * 100:.2f}" for a in accuracies)


def _html(summary: dict, drawn: list[Panel]) -> str:
    best = summary.get("best_id")
    rows = "".join(f"<tr><td>{f['accuracy'] * 100:.2f}{' (best)' if f['id'] == best else ''}</td>"
                   f"<td>{_seeds(f.get('accuracies') or [f['accuracy']])}</td>"
                   f"<td>{f['latency_ms']:.3f}</td><td>{f['macs'] / 1e6:.1f}</td>"
                   f"<td>{f['params'] / 1e6:.2f}M</td><td><code>{html.escape(f['arch'])}</code></td></tr>"
                   for f in summary["front"])
    base = ""
    baseline = summary.get("baseline")
    if baseline:
        seeds = baseline.get("accuracies") or [baseline["accuracy"]]
        base = (f"<p>Best baseline under budget: <b>{html.escape(baseline['name'])}</b> "
                f"{baseline['accuracy'] * 100:.2f}% (mean of {len(seeds)} seed(s): {_seeds(seeds)}) at "
                f"{baseline['latency_ms']:.3f} ms, at the front's fidelity.</p>")
    noise = summary.get("noise_sd")
    stages = "".join(f"<li>{html.escape(st['stage'])}: {html.escape(st.get('what', st['estimator']))} "
                     f"({html.escape(st['ranks'])})</li>" for st in summary.get("estimators") or [])
    stages = f"<p>What decided each stage, and how well it ranks:</p><ul>{stages}</ul>" if stages else ""
    ladder = " → ".join(html.escape(f) for f in summary["fidelities"])
    figures = "\n".join(_svg(summary, panel) for panel in drawn)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>nas report: {html.escape(summary['run'])}</title>
<style>body{{font-family:sans-serif;margin:2em}} td,th{{padding:2px 8px;text-align:left}} code{{font-size:10px}}
svg{{margin-right:1em}}</style>
</head><body>
<h1>{html.escape(summary['run'])}</h1>
<p>Space <b>{html.escape(summary['space'])}</b>, device <b>{html.escape(summary['device'])}</b>, budget
{summary['budget_ms']:g} ms. Accuracy: {html.escape(summary.get('accuracy_source', 'trained'))}. Fidelities: {ladder};
the front is judged at the last. Accuracies at different
fidelities are not comparable, so each panel shows one. Every accuracy of the front and the baseline is the mean over
its seeds; a vertical bar spans the seeds. Seed noise (sd): {f'{noise * 100:.1f} points' if noise else 'not measured'};
accuracy differences within it count as ties that go to the lower latency. Hover a point to see its arch.</p>
{stages}
<div>{figures}</div>
{base}
<h2>Pareto front</h2>
<table><tr><th>acc % (mean)</th><th>seeds %</th><th>latency ms</th><th>MMACs</th><th>params</th><th>arch</th></tr>{rows}
</table>
</body></html>
"""
