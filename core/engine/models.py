"""The Playground MLP: 2 inputs -> [input dropout] -> (Linear, activation, dropout) x L -> 2 logits."""
from __future__ import annotations

import threading
from typing import Callable, NamedTuple

import torch
from torch import nn

from core.engine.config import ModelConfig
from core.engine.dropout import Dropout, dropout_modules
from core.engine.variants import ConcreteDropout, DropConnectLinear, DropConnectSlot, make_slot

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "gelu": nn.GELU,
    "selu": nn.SELU,
    "sigmoid": nn.Sigmoid,
}

_BUILD_LOCK = threading.Lock()
NUM_INPUTS = 2
NUM_CLASSES = 2


class HiddenLayer(NamedTuple):
    """One hidden layer of an ``MLP``, in the order its input goes through them."""

    linear: nn.Linear
    batchnorm: nn.BatchNorm1d | None
    activation: nn.Module
    dropout: Dropout

    @property
    def modules(self) -> tuple[nn.Module, ...]:
        return tuple(m for m in self if m is not None)


class MLP(nn.Module):
    def __init__(self, cfg: ModelConfig, num_inputs: int = NUM_INPUTS, num_classes: int = NUM_CLASSES):
        super().__init__()
        self.input_dropout = Dropout(cfg.p_input, classic=cfg.classic)
        hidden: list[HiddenLayer] = []
        width_in = num_inputs
        for width, p, variant in zip(cfg.num_hiddens, cfg.p_hidden, cfg.layer_variants()):
            slot = Dropout(p, classic=cfg.classic) if variant == "standard" else make_slot(variant, p)
            linear = DropConnectLinear(width_in, width, slot) if isinstance(slot, DropConnectSlot) \
                else nn.Linear(width_in, width)
            hidden.append(HiddenLayer(linear, nn.BatchNorm1d(width) if cfg.batchnorm else None,
                                      ACTIVATIONS[cfg.activation](), slot))
            width_in = width
        self.hidden = nn.Sequential(*(m for layer in hidden for m in layer.modules))
        self._hidden_layers = hidden
        self.out = nn.Linear(width_in, num_classes)
        # Found once: the trainer reads them at every step, and a module walk costs microseconds.
        self._dropouts = dropout_modules(self)
        self._linears = [m for m in self.modules() if isinstance(m, nn.Linear)]
        readers = [layer.linear for layer in hidden[1:]] + [self.out]
        self.regularized = [(layer.dropout, reader) for layer, reader in zip(hidden, readers)
                            if isinstance(layer.dropout, ConcreteDropout)]
        """(concrete dropout, the Linear that reads its output): ``variants.concrete_regularizer``'s pairs."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.hidden(self.input_dropout(x)))

    @property
    def dropouts(self) -> list[Dropout]:
        """Input dropout first, then one per hidden layer."""
        return self._dropouts

    @property
    def linears(self) -> list[nn.Linear]:
        return self._linears

    def hidden_layers(self) -> list[HiddenLayer]:
        """The hidden layers, input side first: the one place that knows how ``hidden`` is cut."""
        return list(self._hidden_layers)

    def set_p(self, p_input: float, p_hidden: tuple[float, ...]) -> None:
        if len(p_hidden) != len(self.dropouts) - 1:
            raise ValueError(f"expected {len(self.dropouts) - 1} hidden drop probabilities, got {len(p_hidden)}")
        for module, p in zip(self.dropouts, (p_input, *p_hidden)):
            module.p = p

    def set_generator(self, generator: torch.Generator) -> None:
        for module in self.dropouts:
            module.generator = generator


def pick_device(preference: str = "auto") -> torch.device:
    """``auto``: CUDA when available, else CPU. Asking for CUDA without one is an error."""
    if preference == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if preference == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was requested but no CUDA GPU is available")
    return torch.device(preference)


def build_mlp(
    cfg: ModelConfig, seed: int, device: torch.device | str = "cpu",
    num_inputs: int = NUM_INPUTS, num_classes: int = NUM_CLASSES,
) -> MLP:
    """Build the MLP with weights drawn from ``seed`` on the CPU, then moved: equal seeds give equal weights."""
    return seeded(seed, lambda: MLP(cfg, num_inputs, num_classes)).to(device)


def seeded(seed: int, make: Callable[[], nn.Module]) -> nn.Module:
    """``make()`` with the global RNG seeded to ``seed`` and then put back: its weights depend on the seed
    alone, whatever other threads draw meanwhile."""
    with _BUILD_LOCK, torch.random.fork_rng(devices=[]):  # the global RNG is shared by every thread
        torch.manual_seed(seed)
        return make()
