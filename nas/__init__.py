"""nas: hardware-aware neural architecture search for small CNNs.

Library use, without the CLI::

    from nas import load_space, build
    space = load_space("ghost_mbv2")
    arch = space.sample_random(1, seed=0)[0]
    model = build(arch)
"""

from nas.arch import Arch, BlockSpec, HeadSpec, Layer, StemSpec, parse_arch, read_arch_file
from nas.cost import arch_cost
from nas.errors import NasError
from nas.space import SearchSpace, load_space, resolve_arch

__version__ = "0.1.0"



def build(arch: Arch):  # noqa: ANN201 (torch.nn.Sequential; torch is imported only when a model is built)
    """The torch model of ``arch`` (:func:`nas.model.build`)."""
    from nas.model import build as build_model

    return build_model(arch)


__all__ = [
    "Arch", "BlockSpec", "HeadSpec", "Layer", "NasError", "SearchSpace", "StemSpec", "arch_cost", "build",
    "load_space", "parse_arch", "read_arch_file", "resolve_arch", "__version__",
]
