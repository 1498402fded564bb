"""L-BFGS with its inverse-Hessian product in the compact form of Byrd, Nocedal & Schnabel
("Representations of quasi-Newton matrices and their use in limited memory methods", Math.
Programming 1994, Theorem 2.2):

    H = g I + [S  gY] [ R^-T (D + g Y^T Y) R^-1   -R^-T ] [  S^T ]
                      [ -R^-1                       0   ] [ gY^T ]

with S, Y the last m steps s_i = x_{i+1} - x_i and gradient changes y_i, R the upper triangle of
S^T Y, D its diagonal and g (gamma) = s^T y / y^T y of the newest pair. It gives the direction of
the two-loop recursion (Nocedal & Wright, Algorithm 7.4; torch.optim.LBFGS) in exact arithmetic,
but reads the history twice per step (one product S^T, Y^T against the gradient, one sum of the
pairs) where the two loops read and write the direction 2m times: at 512x384 px, 20 pairs of
2.4 MB vectors, that memory traffic was most of the optimizer's time.

Steps as torch.optim.LBFGS with max_iter=1, a fixed step lr and no line search: one gradient per
step, the first step -g scaled to min(1, 1/|g|_1) * lr, pairs with s^T y <= 1e-10 not kept.
"""

from __future__ import annotations

import torch

HISTORY = 20  # curvature pairs kept: few, as the direction costs two passes over them
CURVATURE_FLOOR = 1e-10  # s^T y at or below this: no usable curvature, the pair is not kept


class LBFGS:
    """Minimises over the contiguous tensor `x` (updated in place): call step(gradient) once per
    evaluation."""

    def __init__(self, x: torch.Tensor, history: int = HISTORY, lr: float = 1.0):
        self.x, self.m, self.lr = x, history, lr
        n = x.numel()
        # Slot i holds s_i in row 2i and y_i in row 2i+1; one slot more than the history is the
        # spare a new pair is written to before it is known to be kept.
        self.pairs = torch.empty(history + 1, 2, n, dtype=x.dtype, device=x.device)
        self.order: list[int] = []          # slots in use, oldest first
        self.spare = 0
        self.sy = torch.zeros(history + 1, history + 1, dtype=torch.float64)   # s_i^T y_j
        self.yy = torch.zeros(history + 1, history + 1, dtype=torch.float64)   # y_i^T y_j
        self.against = torch.zeros(history + 1, 2, dtype=torch.float64)       # s_i, y_i against g
        self.gamma = 1.0
        self.previous: torch.Tensor | None = None   # the last gradient
        self.direction = torch.empty(n, dtype=x.dtype, device=x.device)
        self.t = 0.0

    def step(self, gradient: torch.Tensor) -> None:
        g = gradient.reshape(-1)
        if self.previous is None:
            self.previous = g.clone()
            torch.neg(g, out=self.direction)
            size = g.abs().sum().item()
            self.t = (min(1.0, 1.0 / size) if size > 0 else 1.0) * self.lr
            self.x.view(-1).add_(self.direction, alpha=self.t)
            return
        slot = self.spare
        s, y = self.pairs[slot, 0], self.pairs[slot, 1]
        torch.mul(self.direction, self.t, out=s)
        torch.sub(g, self.previous, out=y)
        self.previous.copy_(g)
        used = max(self.order + [slot]) + 1
        rows = self.pairs[:used].view(2 * used, -1)
        # The one pass over the history: every s_i and y_i against the gradient. Their products
        # with the new y follow from the last step's against the last gradient (y = g - g_last).
        # (The small matrices live on the CPU in fp64, whatever the device.)
        against = (rows @ g).cpu().double().view(used, 2)
        with_y = against - self.against[:used]
        with_y[slot] = torch.stack((s.dot(y), y.dot(y))).cpu().double()
        self.against[:used] = against
        ys, yy = with_y[slot].tolist()
        if ys > CURVATURE_FLOOR:
            self.order.append(slot)
            # Filled in slot order until full; then the oldest pair's slot is the next spare.
            self.spare = self.order.pop(0) if len(self.order) > self.m else len(self.order)
            self.sy[:used, slot] = with_y[:, 0]
            self.yy[:used, slot] = self.yy[slot, :used] = with_y[:, 1]
            self.gamma = ys / yy
        self.t = self.lr
        if not self.order:
            torch.neg(g, out=self.direction)
        else:
            self._direction(g, rows, against)
        self.x.view(-1).add_(self.direction, alpha=self.t)

    def _direction(self, g: torch.Tensor, rows: torch.Tensor, against: torch.Tensor) -> None:
        """direction = -H g by the compact form (module docstring)."""
        idx = torch.tensor(self.order)
        sy = self.sy[idx][:, idx]
        r = torch.triu(sy)
        gamma = self.gamma
        p, q = against[idx, 0], against[idx, 1]           # S^T g, Y^T g
        a = torch.linalg.solve_triangular(r, p[:, None], upper=True)[:, 0]
        middle = torch.diag(sy).mul(a) + gamma * (self.yy[idx][:, idx] @ a) - gamma * q
        w = torch.linalg.solve_triangular(r.T, middle[:, None], upper=False)[:, 0]
        # H g = gamma g + S w - gamma Y a; the direction is its negative.
        coefficients = torch.zeros(rows.shape[0], dtype=torch.float64)
        coefficients[2 * idx] = -w
        coefficients[2 * idx + 1] = gamma * a
        torch.addmv(g, rows.T, coefficients.to(rows.device, rows.dtype), beta=-gamma, out=self.direction)
