"""Exporting a run's chosen architectures: one folder per arch, ready to deploy.

``runs/<name>/export/<id>/``: ``arch.yaml``, ``weights.pt`` (state_dict, ``torch.load(weights_only=True)``),
``model.onnx`` (BN folded, checked by onnx.checker and against torch through ONNX Runtime), and
``metrics.json``: validation accuracy with its fidelity, official test accuracy, predicted latency on
every device whose table covers the arch (with the share from measured/predicted/imported entries),
latency measured end to end on this host, FLOPs and params.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from nas.arch import Arch, arch_to_yaml, parse_arch
from nas.cost import arch_cost
from nas.errors import ExportError, NasError
from nas.fileio import atomic_write_text
from nas.latency.onnx_io import export_onnx, max_abs_difference
from nas.latency.ortbench import session, time_callable
from nas.latency.table import load_table, other_tables
from nas.model import build
from nas.progress import Stages
from nas.search.evaluator import Evaluator
from nas.search.run_folder import RunFolder
from nas.train import Fidelity, evaluate_test, save_weights

log = logging.getLogger(__name__)
PARITY_TOLERANCE = 1e-4


def _select(folder: RunFolder, top: int | None, trial: str | None) -> list[Arch]:
    front = folder.pareto(("front",))
    if trial is not None:
        rows = [r for r in folder.trials() if r["id"] == trial]
        if not rows:
            raise NasError(f"no trial with id {trial!r} in {folder.trials_path}")
        return [parse_arch(rows[0]["arch"])]
    if top is not None:
        rows = folder.trials()
        rung_columns = sorted(c for c in rows[0] if c.startswith("accuracy_rung")) if rows else []

        def best(row: dict[str, str]) -> float:
            values = [row[c] for c in rung_columns if row[c]]
            return float(values[-1]) if values else 0.0

        return [parse_arch(r["arch"]) for r in sorted(rows, key=best, reverse=True)[:top]]
    return [parse_arch(item["arch"]) for item in front["front"]]


def load_weights(path: Path, model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A run's saved state_dict, or one error line: a truncated file, a pickle that is not plain tensors (refused by
    ``weights_only=True`` before anything in it runs) and a state_dict of another arch are all named as such."""
    try:
        state = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as exc:  # noqa: BLE001 (torch raises many types for a bad file: pickle, zip, runtime errors)
        raise NasError(f"{path} is not a weights file this tool wrote ({exc.__class__.__name__}: "
                       f"{str(exc).splitlines()[0][:120] if str(exc) else 'unreadable'}); delete it and export again "
                       "(the arch is trained anew)") from None
    expected = model.state_dict()
    if not isinstance(state, dict) or set(state) != set(expected) or any(
            not isinstance(v, torch.Tensor) or v.shape != expected[k].shape for k, v in state.items()):
        raise NasError(f"{path} holds no state_dict of this arch; delete it and export again (the arch is trained "
                       "anew)")
    return state


def selection_name(top: int | None, trial: str | None) -> str:
    """What ``nas export`` exports, in words: the Pareto front unless --top or --trial says otherwise."""
    if trial is not None:
        return f"trial {trial}"
    return f"the {top} most accurate archs" if top is not None else "the Pareto front (the default)"


EXPORT_STEPS = ("weights", "ONNX + parity check", "latency on this host", "official test set")


def export_run(run: str | Path, pareto: bool = True, top: int | None = None, trial: str | None = None,
               retrain_epochs: float | None = None, show_progress: bool = False) -> list[Path]:
    """Export the selection (the Pareto front by default) of a finished run, one folder per arch; with
    ``show_progress``, each arch's steps as they begin and a summary table at the end."""
    folder = RunFolder(Path(run))
    folder.require_finished()
    config = folder.config()
    archs = _select(folder, top, trial)  # the run's files are checked before any work starts
    if not archs:
        raise NasError(f"{folder.path}: {selection_name(top, trial)} is empty: nothing to export (no candidate was trained "
                       "under the budget; see the run's pareto.json)")
    evaluator = Evaluator(config, folder.journal())
    rung = len(config.fidelities) - 1
    fidelity = config.fidelities[rung]
    if retrain_epochs is not None:
        fidelity = Fidelity(**{**fidelity.__dict__, "epochs": retrain_epochs, "subset": None})
        rung = len(config.fidelities)  # a rung of its own in the journal
    stages = Stages(len(archs) * len(EXPORT_STEPS), show_progress)
    if show_progress:
        print(f"exporting {selection_name(top, trial)} of {folder.path}: {len(archs)} arch(s), "
              f"{len(EXPORT_STEPS)} steps each ({', '.join(EXPORT_STEPS)})", file=sys.stderr)
    folders = []
    for number, arch in enumerate(archs, 1):
        def step(name: str, number: int = number, arch: Arch = arch) -> None:
            stages.begin(f"arch {number}/{len(archs)} ({arch.id}): {name}")

        folders.append(export_arch(evaluator, arch, rung, fidelity, folder.path / "export" / arch.id, show_progress,
                                   step))
    return folders


def export_summary(folders: list[Path], device: str) -> list[tuple[str, ...]]:
    """A header and one row per exported arch: accuracy with its seeds and fidelity, test accuracy, latency with its
    error bar on the run's device, and the latency measured here (what ``nas export`` ends with)."""
    rows = [("id", "val acc % (seeds, fidelity)", "test acc %", f"latency ms on {device}", "measured here ms")]
    for out in folders:
        m = json.loads((out / "metrics.json").read_text())
        seeds = m.get("val_accuracies") or [m["val_accuracy"]]
        bar = (m.get("predicted_latency_error_bar_ms") or {}).get(device)
        predicted = m["predicted_latency_ms"].get(device)
        rows.append((m["id"], f"{sum(seeds) / len(seeds) * 100:.2f} ({len(seeds)} seed{'s' * (len(seeds) > 1)}, "
                              f"{m['fidelity']})", f"{m['test_accuracy'] * 100:.2f}",
                     "-" if predicted is None else f"{predicted:.3f} " + (f"+-{bar:.3f}" if bar is not None else "+-?"),
                     f"{m['measured_latency_ms_this_host']['ms']:.3f}"))
    return rows


def export_arch(evaluator: Evaluator, arch: Arch, rung: int, fidelity: Fidelity, out: Path,
                show_progress: bool = False, step: Callable[[str], None] | None = None) -> Path:
    """Weights (trained now if the run kept none), ONNX with a parity check, latencies, test accuracy."""
    step = step or (lambda name: None)
    config = evaluator.config
    seed = config.seed
    weights = evaluator.folder.weights_path(arch, rung, seed)
    step(EXPORT_STEPS[0])
    evaluation = evaluator.evaluate(arch, rung, seed, fidelity=fidelity, keep_weights=True)
    model = build(arch)
    if not weights.is_file():  # trained by an older run or below the top rung: train now
        from nas.train import train

        _, model = train(arch, evaluator.data, fidelity, seed=seed, progress=show_progress)
        save_weights(model, weights)
    model.load_state_dict(load_weights(weights, model))
    model = model.cpu().eval()
    out.mkdir(parents=True, exist_ok=True)
    save_weights(model, out / "weights.pt")
    atomic_write_text(out / "arch.yaml", arch_to_yaml(arch))
    step(EXPORT_STEPS[1])
    shape = (1, 3, arch.resolution, arch.resolution)
    onnx_path = export_onnx(model, shape, out / "model.onnx")
    parity = max_abs_difference(model, onnx_path, shape)
    if parity > PARITY_TOLERANCE:
        raise ExportError(f"{arch.id}: ONNX Runtime output differs from torch by {parity:.2e} (> {PARITY_TOLERANCE})")
    step(EXPORT_STEPS[2])
    sess = session(str(onnx_path), 1)
    feed = {sess.get_inputs()[0].name: torch.randn(shape).numpy()}
    measured = time_callable(lambda: sess.run(None, feed), target_s=1.0)
    step(EXPORT_STEPS[3])
    cost = arch_cost(arch)
    seeds = sorted((e for e in evaluator.journal.all() if e.arch == str(arch) and e.rung == rung),
                   key=lambda e: e.seed)
    metrics: dict[str, Any] = {
        "id": arch.id, "arch": str(arch),
        "val_accuracy": evaluation.accuracy, "fidelity": evaluation.fidelity, "seed": seed,
        "val_accuracies": [e.accuracy for e in seeds] or [evaluation.accuracy],
        "val_seeds": [e.seed for e in seeds] or [seed],
        "test_accuracy": evaluate_test(model, evaluator.data, arch.resolution, torch.device("cpu")),
        "predicted_latency_ms": {}, "latency_sources": {}, "latency_provenance": {},
        "macs": cost.macs, "params": cost.params,
        "measured_latency_ms_this_host": {"ms": measured.ms, "spread": measured.spread,
                                          "runtime": "onnxruntime CPU, 1 thread, batch 1"},
        "onnx_parity_max_abs": parity,
    }
    from nas.latency.host import is_foreign
    from nas.latency.provenance import provenance

    for device, table in {config.device: load_table(config.device), **other_tables(config.device)}.items():
        if not table.missing(arch.keys()):
            metrics["predicted_latency_ms"][device] = table.predict(arch)
            metrics["latency_sources"][device] = table.breakdown(arch)
            metrics.setdefault("predicted_latency_error_bar_ms", {})[device] = table.error_bar(arch, is_foreign(table))
            metrics["latency_provenance"][device] = provenance(table, arch)
    atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=1) + "\n")
    return out
