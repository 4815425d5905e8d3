"""The ``nas`` command: parses arguments, calls the library, prints.

Every user error (:class:`~nas.errors.NasError`, bad arguments) becomes one line on stderr and exit
status 2, without a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from nas.errors import NasError

Handler = Callable[[argparse.Namespace], int]


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line (the default prints the whole usage)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message} (see '{self.prog} --help')\n")
        raise SystemExit(2)


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
    _print_table(rows)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from nas.model import arch_cost, layer_cost
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
    _print_table(rows)
    return 0


def cmd_sample(args: argparse.Namespace) -> int:
    from nas.model import arch_cost
    from nas.space import load_space

    if args.n < 1:
        raise NasError(f"--n must be at least 1, got {args.n}")
    space = load_space(args.space)
    for arch in space.sample_random(args.n, args.seed):
        cost = arch_cost(arch)
        print(f"{arch.id}  {cost.macs / 1e6:8.2f} MMACs  {cost.params / 1e6:6.3f} M params  {arch}")
    return 0


def _print_table(rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="nas", description="Hardware-aware neural architecture search for small CNNs.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("spaces", help="list the search spaces with their sizes and cost ranges")
    p.set_defaults(handler=cmd_spaces)

    p = sub.add_parser("show", help="blocks, FLOPs and params of an arch")
    p.add_argument("arch", help="arch string, arch YAML file, or baseline name (e.g. mobilenet_v2_1.0)")
    p.set_defaults(handler=cmd_show)

    p = sub.add_parser("sample", help="draw random archs from a space")
    p.add_argument("--space", required=True, help="space name or YAML path")
    p.add_argument("--n", type=int, default=5, help="how many archs (default 5)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.set_defaults(handler=cmd_sample)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    handler: Handler = args.handler
    try:
        return handler(args)
    except NasError as exc:
        sys.stderr.write(f"nas: error: {exc}\n")
        return 2
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        sys.stderr.write("nas: interrupted\n")
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
