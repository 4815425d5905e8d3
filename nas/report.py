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
from nas.fileio import atomic_write_bytes, atomic_write_text
from nas.search.run_folder import RunFolder

SCREENED, PROMOTED, FRONT, BASELINE = "#bbbbbb", "#4c72b0", "#dd8452", "#c44e52"


@dataclass(frozen=True)
class Dot:
    """One point of a panel: latency, mean accuracy over its seeds and their range, and what the front says of it."""

    latency_ms: float
    accuracy: float
    low: float
    high: float
    label: str
    arch: str
    seeds: int = 1
    latency_bar: float | None = None
    """The latency's error bar (ms): None where it is unknown (an extrapolated layer) or not given."""
    finalist: bool = False
    tied: bool = False
    """Kept on the front although a faster point is more accurate: within the noise, and the tie went its way."""

    @classmethod
    def of(cls, latency_ms: float, accuracies: list[float], label: str, arch: str, **marks: object) -> Dot:
        mean = sum(accuracies) / len(accuracies)
        return cls(latency_ms, mean, min(accuracies), max(accuracies), label, arch, len(accuracies), **marks)

    def tip(self, name: str) -> str:
        seeds = ("1 seed, no spread" if self.seeds == 1 else
                 f"{self.seeds} seeds {self.low * 100:.2f}-{self.high * 100:.2f}")
        bar = f" +-{self.latency_bar:.3f}" if self.latency_bar is not None else ""
        marks = (" [finalist]" if self.finalist else "") + (" [tied within the noise]" if self.tied else "")
        return f"{name} {self.label}{marks}: {self.accuracy * 100:.2f}% ({seeds}) at {self.latency_ms:.3f}{bar} ms"


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
    best = summary.get("best_id")
    front = [Dot.of(f["latency_ms"], f.get("accuracies") or [f["accuracy"]], f["id"], f["arch"],
                    latency_bar=f.get("latency_error_bar_ms"), finalist=f["id"] == best, tied=bool(f.get("tied_with")))
             for f in summary["front"]]
    baseline = summary.get("baseline")
    base = ([Dot.of(baseline["latency_ms"], baseline.get("accuracies") or [baseline["accuracy"]], baseline["name"],
                    baseline["arch"], latency_bar=baseline.get("latency_error_bar_ms"))] if baseline else [])
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
    folder.check_links()
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

    fig, axes = plt.subplots(1, len(drawn), figsize=(6.6 * len(drawn), 4.9), dpi=110, squeeze=False)
    for ax, panel in zip(axes[0], drawn):
        for name, colour, dots in panel.series:
            if dots:
                _png_series(ax, panel, name, colour, dots, summary)
        ax.axvline(summary["budget_ms"], color="k", ls="--", lw=1, label=f"budget {summary['budget_ms']:g} ms")
        ax.annotate(f"budget {summary['budget_ms']:g} ms", (summary["budget_ms"], 0.98),
                    xycoords=("data", "axes fraction"), xytext=(-3, 0), textcoords="offset points", ha="right",
                    va="top", rotation=90, fontsize=8)
        ax.set_xlabel(f"predicted latency on {summary['device']} (ms)")
        ax.set_ylabel("validation accuracy (%) at this panel's fidelity")
        ax.set_title(panel.title, fontsize=9)
        ax.legend(fontsize=6.5, loc="best")
    fig.suptitle(f"{summary['run']}: {_subtitle(summary)}", fontsize=9)
    fig.tight_layout()
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())  # a rename: never written through a link at ``path``


def _png_series(ax: object, panel: Panel, name: str, colour: str, dots: list[Dot], summary: dict) -> None:
    """One series: seeds' range as a vertical bar (hollow markers for one seed, which has no range), the latency's
    error bar as a horizontal one, the front's line through the points that rise with latency, and rings for the
    finalist and the points kept by a tie."""
    front = panel.line and name == "Pareto front"
    marker = "*" if name.startswith("baseline") else "o"
    size = 12 if marker == "*" else 4 if colour == SCREENED else 6
    several = [d for d in dots if d.seeds > 1]
    single = [d for d in dots if d.seeds == 1]
    for group, label in ((several, name + " (mean; bar: range over seeds)"),
                         (single, name + (" (1 seed: no range)" if several or colour != SCREENED else ""))):
        if not group:
            continue
        bars = [d.latency_bar for d in group]
        ax.errorbar([d.latency_ms for d in group], [d.accuracy * 100 for d in group],  # type: ignore[attr-defined]
                    yerr=[[(d.accuracy - d.low) * 100 for d in group], [(d.high - d.accuracy) * 100 for d in group]]
                    if group is several else None,
                    xerr=[b or 0.0 for b in bars] if any(b for b in bars) else None,
                    fmt=marker, ms=size, color=colour,
                    mfc=colour if group is several or colour == SCREENED else "white", capsize=2,
                    lw=1, label=label)
    if front:
        rising = [d for d in sorted(dots, key=lambda d: d.latency_ms) if not d.tied]
        ax.plot([d.latency_ms for d in rising], [d.accuracy * 100 for d in rising], "-", color=colour,  # type: ignore[attr-defined]
                lw=1.5)
        tied = [d for d in dots if d.tied]
        if tied:
            ax.plot([d.latency_ms for d in tied], [d.accuracy * 100 for d in tied], "o", ms=12, mfc="none",  # type: ignore[attr-defined]
                    mec="#555555", label=f"kept by a tie within the noise (ties {_tie_winner(summary)})")
        for d in dots:
            if d.finalist:
                ax.plot([d.latency_ms], [d.accuracy * 100], "*", ms=17, mfc="gold", mec="k",  # type: ignore[attr-defined]
                        label=f"finalist {d.label}")


def _tie_winner(summary: dict) -> str:
    """Who wins a tie, from the run's own words (pareto.json's tie_rule)."""
    rule = summary.get("tie_rule") or "accuracies within the seed noise are ties, which go to the lower latency"
    return rule.split("which ", 1)[-1]


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
    marks = {"finalist": False, "tied": False, "single": False}
    for name, colour, series in panel.series:
        if panel.line and name == "Pareto front" and series:
            rising = sorted((d for d in series if not d.tied), key=lambda d: d.latency_ms)
            path = " ".join(f"{sx(d.latency_ms):.1f},{sy(d.accuracy):.1f}" for d in rising)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        radius = 7 if name.startswith("baseline") else 3 if colour == SCREENED else 5
        for d in series:
            x, y = sx(d.latency_ms), sy(d.accuracy)
            if d.high > d.low:
                parts.append(f'<line x1="{x:.1f}" y1="{sy(d.low):.1f}" x2="{x:.1f}" y2="{sy(d.high):.1f}" '
                             f'stroke="{colour}" stroke-width="1.5"/>')
            if d.latency_bar:
                parts.append(f'<line x1="{sx(d.latency_ms - d.latency_bar):.1f}" y1="{y:.1f}" '
                             f'x2="{sx(d.latency_ms + d.latency_bar):.1f}" y2="{y:.1f}" stroke="{colour}" '
                             'stroke-width="1"/>')
            single = d.seeds == 1 and colour != SCREENED
            marks["single"] |= single
            fill = "white" if single else colour
            tip = html.escape(f"{d.tip(name)}\n{d.arch}")
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{radius}" fill="{fill}" stroke="{colour}" '
                         f'stroke-width="1.5"><title>{tip}</title></circle>')
            if d.tied:
                marks["tied"] = True
                parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{radius + 4}" fill="none" stroke="#555" '
                             'stroke-dasharray="2"/>')
            if d.finalist:
                marks["finalist"] = True
                parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{radius + 4}" fill="none" stroke="gold" '
                             'stroke-width="3"/>')
    legend = [(name, f'fill="{colour}"') for name, colour, series in panel.series if series]
    legend += [(label, style) for key, label, style in (
        ("finalist", "finalist", 'fill="none" stroke="gold" stroke-width="3"'),
        ("tied", "kept by a tie within the noise", 'fill="none" stroke="#555" stroke-dasharray="2"'),
        ("single", "hollow: 1 seed (no range)", 'fill="white" stroke="#333"')) if marks[key]]
    for i, (name, style) in enumerate(legend):
        y = pad + 10 + 16 * i
        x = width - pad - legend_w + 14
        parts.append(f'<circle cx="{x}" cy="{y - 4}" r="4" {style}/><text x="{x + 8}" y="{y}">'
                     f'{html.escape(name)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def _seeds(accuracies: list[float]) -> str:
    if len(accuracies) == 1:
        return f"{accuracies[0] * 100:.2f} (1 seed)"
    return ", ".join(f"{a * 100:.2f}" for a in accuracies)


def _latency(point: dict) -> str:
    bar = point.get("latency_error_bar_ms")
    return f"{point['latency_ms']:.3f}" + (f" &plusmn; {bar:.3f}" if bar is not None else " (error unknown)")


def _verdict_paragraph(summary: dict) -> str:
    verdict = summary.get("verdict")
    if not verdict:
        return ""
    return (f"<p>Finalist vs baseline (means over seeds): <b>{verdict['gap_pts']:+.2f} points, "
            f"{html.escape(verdict['verdict'])}</b> (95 % seed band &plusmn;{verdict['band_pts']:.1f} points)"
            + (f"; settle it with fresh seeds on the test set: <code>nas confirm {html.escape(summary['run'])}</code>"
               if verdict["verdict"] == "within the seed noise" else "") + ".</p>")


def _html(summary: dict, drawn: list[Panel]) -> str:
    best = summary.get("best_id")
    tie_rule = summary.get("tie_rule") or "accuracies within the seed noise are ties, which go to the lower latency"

    def mark(point: dict) -> str:
        if point["id"] == best:
            return "finalist"
        if point.get("tied_with"):
            return "kept by a tie with " + ", ".join(point["tied_with"])
        return ""

    rows = "".join(f"<tr><td>{mark(f)}</td><td>{f['accuracy'] * 100:.2f}</td>"
                   f"<td>{_seeds(f.get('accuracies') or [f['accuracy']])}</td>"
                   f"<td>{_latency(f)}</td><td>{f['macs'] / 1e6:.1f}</td>"
                   f"<td>{f['params'] / 1e6:.2f}M</td><td>{html.escape(f['id'])}</td>"
                   f"<td><code>{html.escape(f['arch'])}</code></td></tr>"
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
its seeds; a vertical bar spans the seeds (a hollow point had one seed, so it has no range), and a horizontal bar is
the latency's error bar. Seed noise (sd): {f'{noise * 100:.1f} points' if noise else 'not measured'};
{html.escape(tie_rule)}. So a point can stay on the front beside a faster one that is a little more accurate: it is
ringed, and the table says which point it ties with. Hover a point to see its arch.</p>
{stages}
<div>{figures}</div>
{base}
{_verdict_paragraph(summary)}
<h2>Pareto front</h2>
<table><tr><th></th><th>acc % (mean)</th><th>seeds %</th><th>latency ms</th><th>MMACs</th><th>params</th><th>id</th>
<th>arch</th></tr>{rows}
</table>
</body></html>
"""
