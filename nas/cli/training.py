"""``nas train``: one arch trained on CIFAR-10, the evaluator the search uses."""

from __future__ import annotations

import argparse

from nas.cli.common import SEED_MAX, bounded
from nas.errors import NasError


def register(sub: argparse._SubParsersAction) -> None:
    """This group's commands and their options."""
    p = sub.add_parser("train", help="train one arch on CIFAR-10 (the evaluator the search uses)")
    p.add_argument("arch", help="arch string, arch YAML file or baseline name")
    p.add_argument("--epochs", type=bounded(0.01, 1000, float), default=1.0, help="passes over the training subset (default 1)")
    p.add_argument("--subset", type=bounded(0, 50_000), default=10_000, help="training images (class-balanced); 0 = all")
    p.add_argument("--batch-size", type=bounded(1, 65_536), default=None,
                   help="default by run length, like the search's rungs: 32 up to 32,000 images seen (epochs x "
                        "subset), else 128")
    p.add_argument("--lr", type=bounded(1e-9, 1e6, float), default=None,
                   help="peak learning rate; default by run length: 0.03 up to 32,000 images seen, else 0.1 "
                        "(short runs diverge at long-run rates; a diverged run stops and says so)")
    p.add_argument("--resolution", type=bounded(8, 1024), default=None, help="override the arch's input resolution")
    p.add_argument("--val-size", type=bounded(10, 49_000), default=2_000, help="validation images held out of the training set")
    p.add_argument("--seed", type=bounded(0, SEED_MAX), default=0,
                   help="seed of the weights, data order and augmentation (default 0)")
    p.add_argument("--threads", type=bounded(1, 1024), default=None, help="torch threads (default: all cores)")
    p.add_argument("--data", default=None, help="CIFAR-10 folder or archive (default: $NAS_DATA, then the cache); "
                                               "'synthetic' for the test set")
    p.add_argument("--no-download", action="store_true", help="never try to download CIFAR-10")
    p.add_argument("--test", action="store_true", help="also report accuracy on the official test set")
    p.add_argument("--out", default=None, help="output folder (default runs/train_<id>_<fidelity>_s<seed>)")
    p.set_defaults(handler=cmd_train)


def cmd_train(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from nas.arch import arch_to_yaml
    from nas.data import load_cifar10
    from nas.fileio import atomic_write_text
    from nas.space import resolve_arch
    from nas.train import Fidelity, evaluate_test, recommended_recipe, save_weights, set_threads, train

    arch = resolve_arch(args.arch)
    for option in ("threads", "batch_size"):
        if getattr(args, option) is not None and getattr(args, option) < 1:
            raise NasError(f"--{option.replace('_', '-')} must be at least 1, got {getattr(args, option)}")
    if args.seed < 0:
        raise NasError(f"--seed must be >= 0, got {args.seed}")
    data = load_cifar10(args.data, download=not args.no_download)
    subset = args.subset or None
    images = args.epochs * min(subset or len(data.train_y), max(len(data.train_y) - args.val_size, 0))
    batch_size, lr = recommended_recipe(images)
    fidelity = Fidelity(epochs=args.epochs, subset=subset, batch_size=args.batch_size or batch_size,
                        resolution=args.resolution, lr=args.lr if args.lr is not None else lr, val_size=args.val_size)
    set_threads(args.threads)
    result, model = train(arch, data, fidelity, seed=args.seed, progress=True)
    if result.diverged:
        raise NasError(f"training diverged ({result.diverged}); nothing written: lower --lr (the rule for "
                       f"{images:,.0f} images is {lr:g} at batch {batch_size}, see 'nas train --help')")
    if args.test:
        result.test_accuracy = evaluate_test(model, data, fidelity.resolution or arch.resolution)
    out = Path(args.out or f"runs/train_{arch.id}_{fidelity.label()}_s{args.seed}")
    out.mkdir(parents=True, exist_ok=True)
    save_weights(model, out / "weights.pt")
    atomic_write_text(out / "arch.yaml", arch_to_yaml(arch))
    metrics = {**result.to_json(), "data": data.source}
    atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=1) + "\n")
    test = f", test {result.test_accuracy * 100:.2f}%" if result.test_accuracy is not None else ""
    print(f"val {result.accuracy * 100:.2f}%{test} at {fidelity.label()} in {result.seconds:.0f}s "
          f"({result.images_per_second:.0f} img/s); wrote {out}")
    return 0
