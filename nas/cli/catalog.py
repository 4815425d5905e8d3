"""``nas spaces``, ``nas show``, ``nas sample``: what the spaces hold and what an arch costs."""

from __future__ import annotations

import argparse

from nas.cli.common import SEED_MAX, bounded, print_table
from nas.errors import NasError


def register(sub: argparse._SubParsersAction) -> None:
    """This group's commands and their options."""
    p = sub.add_parser("spaces", help="list the search spaces with their sizes and cost ranges")
    p.set_defaults(handler=cmd_spaces)

    p = sub.add_parser("show", help="blocks, FLOPs and params of an arch")
    p.add_argument("arch", help="arch string, arch YAML file, or baseline name (e.g. mobilenet_v2_1.0)")
    p.set_defaults(handler=cmd_show)

    p = sub.add_parser("sample", help="draw random archs from a space")
    p.add_argument("--space", required=True, help="space name or YAML path")
    p.add_argument("--n", type=bounded(1, 100_000), default=5, help="how many archs (default 5)")
    p.add_argument("--seed", type=bounded(0, SEED_MAX), default=0, help="random seed (default 0)")
    p.set_defaults(handler=cmd_sample)


def _fmt_count(value: int) -> str:
    return f"{value:,}" if value < 10**9 else f"{value:.3e}"


def cmd_spaces(args: argparse.Namespace) -> int:
    from nas.space import iter_spaces

    rows = [("space", "archs", "MMACs min-max", "params min-max", "layer keys", "description")]
    for space in iter_spaces():
        low, high = space.cost_range()
        rows.append((space.name, _fmt_count(space.size()), f"{low.macs / 1e6:.1f}-{high.macs / 1e6:.1f}",
                     f"{low.params / 1e6:.2f}M-{high.params / 1e6:.2f}M", str(len(space.layers())),
                     space.description))
    print_table(rows)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from nas.cost import arch_cost, layer_cost
    from nas.space import resolve_arch

    arch = resolve_arch(args.arch)
    print(f"arch  {arch}")
    print(f"id    {arch.id}   resolution {arch.resolution}   width {arch.width:g}   classes {arch.num_classes}")
    rows = [("#", "layer", "in", "out", "MMACs", "params")]
    for i, layer in enumerate(arch.layers()):
        cost = layer_cost(layer)
        name = layer.key.split("|")[0]
        detail = f"k{layer.kernel} s{layer.stride}" + (f" mid{layer.mid}" if layer.mid else "")
        if layer.se:
            detail += f" se{layer.se}"
        if layer.kind == "head":
            detail = f"fc{layer.hidden} -> {layer.classes}" if layer.hidden else f"-> {layer.classes}"
        out = f"{layer.cout}x{layer.hw_out}x{layer.hw_out}" if layer.kind != "head" else f"{layer.classes}"
        rows.append((str(i), f"{name} {detail}", f"{layer.cin}x{layer.hw}x{layer.hw}", out,
                     f"{cost.macs / 1e6:.3f}", f"{cost.params:,}"))
    total = arch_cost(arch)
    rows.append(("", "total", "", "", f"{total.macs / 1e6:.3f}", f"{total.params:,}"))
    print_table(rows)
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from nas.cost import arch_cost
    from nas.space import load_space

    if args.n < 1:
        raise NasError(f"--n must be at least 1, got {args.n}")
    if args.seed < 0:
        raise NasError(f"--seed must be >= 0, got {args.seed}")
    space = load_space(args.space)
    for arch in space.sample_random(args.n, args.seed):
        cost = arch_cost(arch)
        print(f"{arch.id}  {cost.macs / 1e6:8.2f} MMACs  {cost.params / 1e6:6.3f} M params  {arch}")
    return 0
