"""The style-prediction network P of Ghiasi, Lee, Kudlur, Dumoulin & Shlens (BMVC 2017), section 3:

    S = P(s)                         a painting s -> its style embedding S (here 100 numbers)
    (gamma, beta) = (S, 1) @ T       each conditional norm's scale and shift, T learned

The paper reads s with Inception-v3; impasto reads it with its own loss network, VGG16, whose
feature statistics are Huang & Belongie's style representation (AdaIN, ICCV 2017): each channel's
mean and standard deviation at the style layers, the same features whose Grams the loss matches.
(S, 1) is handed to the transformation network as its "style weights" over 101 rows, so the last
row of each norm's table is the shared (gamma, beta) and the other rows its slope along S: the
paper's linear map from S to the norm parameters, and every runner, export and mix of
several-style networks applies unchanged.
"""

from __future__ import annotations

import torch
from torch import nn

STYLE_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")   # VGG16 layers read (and matched in training)
CHANNELS = {"relu1_2": 64, "relu2_2": 128, "relu3_3": 256, "relu4_3": 512}
EMBEDDING = 100                                              # the paper's |S|
HIDDEN = 512


def statistics(features: dict[str, torch.Tensor]) -> torch.Tensor:
    """(B, 2 sum C): log(1 + mu) and log(1 + sigma) of each channel at each style layer. The
    logarithm brings the layers' very different ranges (relu1_2 in the tens, relu4_3 near one)
    to one scale."""
    parts = []
    for layer in STYLE_LAYERS:
        f = features[layer].float().flatten(2)
        parts += [torch.log1p(f.mean(2)), torch.log1p(f.std(2))]
    return torch.cat(parts, 1)


class StylePrediction(nn.Module):
    """P: painting statistics -> style embedding S (B, EMBEDDING). The statistics are standardised
    first by the collection's own mean and spread (`shift`, `scale`, set once before training): a
    painting differs from another by a small part of their common mean, which the perceptron
    would otherwise learn as a constant (seen: one embedding for every painting after 950 steps)."""

    def __init__(self, embedding: int = EMBEDDING, hidden: int = HIDDEN):
        super().__init__()
        inputs = 2 * sum(CHANNELS.values())
        self.register_buffer("shift", torch.zeros(inputs))
        self.register_buffer("scale", torch.ones(inputs))
        self.mlp = nn.Sequential(nn.Linear(inputs, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, embedding))
        # Every painting starts at S = 0, the base network's mean style: a random S scales the
        # norms' rows at random, and the network escapes the saturated outputs that follow by
        # collapsing to black (seen at step 300 of a first run).
        nn.init.zeros_(self.mlp[2].weight)
        nn.init.zeros_(self.mlp[2].bias)

    def forward(self, stats: torch.Tensor) -> torch.Tensor:
        return self.mlp((stats - self.shift) / self.scale)

    def standardise(self, stats: torch.Tensor) -> None:
        """Set `shift` and `scale` to the mean and spread of many paintings' statistics (N, inputs)."""
        self.shift.copy_(stats.mean(0))
        self.scale.copy_(stats.std(0) + 1e-2)


def style_weights(embedding: torch.Tensor) -> torch.Tensor:
    """(S, 1): the transformation network's style input for embeddings (B, EMBEDDING)."""
    return torch.cat([embedding, embedding.new_ones(embedding.shape[0], 1)], 1)
