"""K MLPs of one structure held as one stacked model: every tensor has the members on its first
axis, so one batched matrix product trains them all.

Each member keeps its own knobs (λ, l1_ratio, dropout, input noise, layer penalty, learning
rate) as a vector over the members, and its own optimizer state; an update of the stack is, member
by member, the update ``regtune.worker.trainers.minibatch`` makes to that member alone (Adam or SGD
with momentum, then the proximal L1 step). A member that stops is taken out with ``keep``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from regtune.worker.models import build_model
from regtune.worker.trainers.config import TrainConfig
from regtune.worker.trainers.draws import MemberDraws

BETAS = (0.9, 0.999)
EPS = 1e-8
"""``torch.optim.Adam``'s defaults, which the minibatch trainer uses."""
BN_MOMENTUM = 0.1
BN_EPS = 1e-5
"""``nn.BatchNorm1d``'s defaults."""


KNOB_NAMES = ("lam", "l1_ratio", "dropout", "input_noise", "layer_penalty", "learning_rate")
"""What members of one stack may set each for themselves (the rest is their shared structure)."""


@dataclass
class Knobs:
    """The per-member knobs, one entry per member (shape ``(K,)``)."""

    lam: torch.Tensor
    l1_ratio: torch.Tensor
    dropout: torch.Tensor
    input_noise: torch.Tensor
    layer_penalty: torch.Tensor
    learning_rate: torch.Tensor

    @classmethod
    def of(cls, configs: Sequence[TrainConfig]) -> Knobs:
        def vector(name: str) -> torch.Tensor:
            return torch.tensor([float(getattr(c, name)) for c in configs], dtype=torch.float32)

        return cls(**{name: vector(name) for name in KNOB_NAMES})

    def take(self, index: torch.Tensor) -> Knobs:
        return Knobs(**{name: getattr(self, name)[index] for name in KNOB_NAMES})

    def layer_scale(self, layer: int) -> torch.Tensor:
        """λ's multiplier on a layer, per member: 1 on the input layer, ``layer_penalty`` after."""
        return torch.ones_like(self.lam) if layer == 0 else self.layer_penalty


class StackedMLP:
    """(Linear → [BatchNorm] → ReLU → Dropout)* → Linear for K members, on one fold.

    Every member starts from ``template``'s weights, so K members built after one
    ``torch.manual_seed`` start where K models trained alone from that seed start.
    """

    def __init__(self, template: nn.Sequential, members: int, config: TrainConfig) -> None:
        linears = [m for m in template if isinstance(m, nn.Linear)]
        norms = [m for m in template if isinstance(m, nn.BatchNorm1d)]

        def stack(t: torch.Tensor) -> torch.Tensor:
            return t.detach().unsqueeze(0).repeat(members, *([1] * t.dim())).contiguous()

        self.weights = [stack(m.weight) for m in linears]
        self.biases = [stack(m.bias) for m in linears]
        self.gammas = [stack(m.weight) for m in norms]
        self.betas = [stack(m.bias) for m in norms]
        self.running_mean = [stack(_buffer(m.running_mean)) for m in norms]
        self.running_var = [stack(_buffer(m.running_var)) for m in norms]
        self.batch_norm = bool(norms)
        self.task = config.task
        self.adam = config.optimizer == "adam"
        self.momentum = config.momentum
        self.steps = 0
        self.state: list[list[torch.Tensor]] = []
        """Per parameter: Adam's two averages, or SGD's momentum buffer."""
        for p in self.parameters():
            p.requires_grad_(True)

    @property
    def members(self) -> int:
        return self.weights[0].shape[0]

    def parameters(self) -> list[torch.Tensor]:
        """What the optimizer trains: not the biases before a batch norm (one per norm, the
        first ones: ``models.build_model``)."""
        return [*self.weights, *self.biases[len(self.gammas) :], *self.gammas, *self.betas]

    def keep(self, index: torch.Tensor) -> None:
        """Keep only the members at ``index`` (in that order), with their optimizer state."""

        def take(ts: list[torch.Tensor], grad: bool) -> list[torch.Tensor]:
            return [t.detach()[index].contiguous().requires_grad_(grad) for t in ts]

        normed = len(self.gammas)  # the biases before a norm are not trained
        self.weights = take(self.weights, True)
        self.biases = take(self.biases[:normed], False) + take(self.biases[normed:], True)
        self.gammas, self.betas = take(self.gammas, True), take(self.betas, True)
        self.running_mean = take(self.running_mean, False)
        self.running_var = take(self.running_var, False)
        self.state = [take(s, False) for s in self.state]

    # ------------------------------------------------------------------ forward

    def forward(
        self,
        x: torch.Tensor,
        *,
        train: bool,
        dropout: torch.Tensor | None = None,
        draws: MemberDraws | None = None,
    ) -> torch.Tensor:
        """``x``: (rows, in), shared by every member, or (K, rows, in); → (K, rows, out).
        ``dropout``: each member's rate, its masks drawn by ``draws`` (training only)."""
        h = x if x.dim() == 3 else x.expand(self.members, *x.shape)
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = torch.baddbmm(b.unsqueeze(1), h, w.transpose(1, 2))
            if i == last:
                break
            if self.batch_norm:
                h = self._norm(h, i, train=train)
            h = F.relu(h)
            if train and dropout is not None and draws is not None:
                h = _dropout(h, dropout, draws)
        return h

    def _norm(self, h: torch.Tensor, i: int, *, train: bool) -> torch.Tensor:
        if train:
            mean = h.mean(dim=1, keepdim=True)
            var = h.var(dim=1, unbiased=False, keepdim=True)
            with torch.no_grad():
                n = h.shape[1]
                self.running_mean[i].lerp_(mean.squeeze(1), BN_MOMENTUM)
                self.running_var[i].lerp_(var.squeeze(1) * n / (n - 1), BN_MOMENTUM)
        else:
            mean = self.running_mean[i].unsqueeze(1)
            var = self.running_var[i].unsqueeze(1)
        scaled = (h - mean) * torch.rsqrt(var + BN_EPS)
        return scaled * self.gammas[i].unsqueeze(1) + self.betas[i].unsqueeze(1)

    # ------------------------------------------------------------------ loss and step

    def loss(self, out: torch.Tensor, target: torch.Tensor, knobs: Knobs) -> torch.Tensor:
        """The sum over members of each member's smooth objective (data term + L2 part): its
        gradient with respect to one member's weights is that member's own."""
        k, rows = out.shape[0], out.shape[1]
        if self.task == "regression":
            data = 0.5 * (out.squeeze(-1) - target).square().mean(dim=1)
        elif self.task == "binary":
            data = F.binary_cross_entropy_with_logits(
                out.squeeze(-1), target.float().expand(k, rows), reduction="none"
            ).mean(dim=1)
        else:
            data = (
                F.cross_entropy(out.reshape(k * rows, -1), target.repeat(k), reduction="none")
                .view(k, rows)
                .mean(dim=1)
            )
        total = data.sum()
        l2 = knobs.lam * (1 - knobs.l1_ratio) / 2
        if bool((l2 != 0).any()):
            for i, w in enumerate(self.weights):
                total = total + (l2 * knobs.layer_scale(i) * w.square().sum(dim=(1, 2))).sum()
        return total

    @torch.no_grad()
    def step(self, grads: Sequence[torch.Tensor], knobs: Knobs) -> None:
        """One optimizer step per member with its own learning rate, then its proximal L1 step."""
        self.steps += 1
        params = self.parameters()
        if not self.state:
            self.state = [
                [torch.zeros_like(p) for _ in range(2 if self.adam else 1)] for p in params
            ]
        for p, g, state in zip(params, grads, self.state, strict=True):
            lr = knobs.learning_rate.view(-1, *([1] * (p.dim() - 1)))
            if self.adam:
                _adam(p, g, state, lr, self.steps)
            else:
                _sgd(p, g, state, lr, self.momentum, self.steps)
        threshold = knobs.learning_rate * knobs.lam * knobs.l1_ratio
        if bool((threshold > 0).any()):
            for i, w in enumerate(self.weights):
                cut = (threshold * knobs.layer_scale(i)).clamp(min=0).view(-1, 1, 1)
                w.copy_(torch.sign(w) * torch.clamp(w.abs() - cut, min=0.0))

    # ------------------------------------------------------------------ one member alone

    @torch.no_grad()
    def member(self, k: int, config: TrainConfig, n_in: int) -> nn.Sequential:
        """Member ``k`` as the model the minibatch trainer builds (to score, count and save)."""
        model = build_model(
            "mlp",
            n_in=n_in,
            n_out=config.n_out,
            hidden_layers=list(config.hidden_layers),
            batch_norm=config.batch_norm,
            dropout=config.dropout,
        )
        self.load_into(model, self.snapshot(k))
        return model

    @torch.no_grad()
    def snapshot(self, k: int) -> list[torch.Tensor]:
        """Member ``k``'s weights and batch-norm statistics (``load_into`` restores them)."""
        return [
            t[k].clone()
            for t in (
                *self.weights,
                *self.biases,
                *self.gammas,
                *self.betas,
                *self.running_mean,
                *self.running_var,
            )
        ]

    def load_into(self, model: nn.Sequential, snapshot: list[torch.Tensor]) -> None:
        linears = [m for m in model if isinstance(m, nn.Linear)]
        norms = [m for m in model if isinstance(m, nn.BatchNorm1d)]
        targets = [
            *(m.weight for m in linears),
            *(m.bias for m in linears),
            *(m.weight for m in norms),
            *(m.bias for m in norms),
            *(_buffer(m.running_mean) for m in norms),
            *(_buffer(m.running_var) for m in norms),
        ]
        with torch.no_grad():
            for target, value in zip(targets, snapshot, strict=True):
                target.copy_(value)
            for m in norms:
                _buffer(m.num_batches_tracked).fill_(self.steps)


def _buffer(t: torch.Tensor | None) -> torch.Tensor:
    """A batch-norm statistic (always there: ``build_model`` tracks running statistics)."""
    assert t is not None
    return t


def _dropout(h: torch.Tensor, p: torch.Tensor, draws: MemberDraws) -> torch.Tensor:
    """Inverted dropout with each member's own rate and masks (a rate of 0 leaves its rows
    untouched)."""
    if not bool((p > 0).any()):
        return h
    rate = p.view(-1, 1, 1)
    keep = draws.uniforms(h.shape, p, h.dtype) >= rate
    return h * keep / (1 - rate)


def _adam(
    p: torch.Tensor, g: torch.Tensor, state: list[torch.Tensor], lr: torch.Tensor, step: int
) -> None:
    """``torch.optim.Adam``'s single-tensor update, with a learning rate per member."""
    exp_avg, exp_avg_sq = state
    beta1, beta2 = BETAS
    exp_avg.lerp_(g, 1 - beta1)
    exp_avg_sq.mul_(beta2).addcmul_(g, g, value=1 - beta2)
    step_size = lr / (1 - beta1**step)
    denom = (exp_avg_sq.sqrt() / (1 - beta2**step) ** 0.5).add_(EPS)
    p.sub_(step_size * (exp_avg / denom))


def _sgd(
    p: torch.Tensor,
    g: torch.Tensor,
    state: list[torch.Tensor],
    lr: torch.Tensor,
    momentum: float,
    step: int,
) -> None:
    """``torch.optim.SGD``'s update (no dampening, no Nesterov), with a learning rate per member."""
    if momentum == 0:
        p.sub_(lr * g)
        return
    (buf,) = state
    if step == 1:
        buf.copy_(g)
    else:
        buf.mul_(momentum).add_(g)
    p.sub_(lr * buf)
