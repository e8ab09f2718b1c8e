"""Slow, obvious reference implementations that the fast kernels and metrics are tested against.

Each is written out from its definition (DESIGN.md's words) with Python loops or a full
sort, and imports nothing from sltsim: a reference that called the code it checks would
share its bugs.
"""

from __future__ import annotations

import math

import numpy as np


# -- top-k selection ---------------------------------------------------------------------------


def naive_masked_count(n: int, prune_rate: float) -> int:
    """Edges masked out of ``n`` at prune rate k: k n rounded, halves up, floor(k n + 0.5)."""
    return int(math.floor(prune_rate * n + 0.5))


def naive_keep_count(n: int, prune_rate: float) -> int:
    """Edges kept out of ``n`` at prune rate k: n - floor(k n + 0.5)."""
    return n - naive_masked_count(n, prune_rate)


def naive_topk_mask(scores: np.ndarray, prune_rate: float) -> np.ndarray:
    """Keep the n - floor(k*n + 0.5) largest |s| by a full stable sort; ties go to the lower index."""
    flat = np.abs(scores.reshape(-1).astype(np.float64))
    n_keep = naive_keep_count(flat.size, prune_rate)
    order = sorted(range(flat.size), key=lambda i: (-flat[i], i))
    mask = np.zeros(flat.size, np.uint8)
    mask[order[:n_keep]] = 1
    return mask.reshape(scores.shape)


def naive_restricted_mask(scores: np.ndarray, allowed: np.ndarray, prune_rate: float) -> np.ndarray:
    """(n,) uint8: the n - floor(k n + 0.5) largest |s| among the allowed edges only (full sort,
    ties to the lower index); an edge outside ``allowed`` is never kept."""
    flat = np.abs(scores.reshape(-1).astype(np.float64))
    ok = np.asarray(allowed).reshape(-1) != 0
    n_keep = naive_keep_count(flat.size, prune_rate)
    order = sorted((i for i in range(flat.size) if ok[i]), key=lambda i: (-flat[i], i))
    mask = np.zeros(flat.size, np.uint8)
    mask[order[:n_keep]] = 1
    return mask


def naive_mask_pass(scores, theta0, threshold, mask_before, ever_before):
    """The fused mask pass written out edge by edge, with every tie kept (|s| >= threshold).

    Returns (mask, w_eff, ever, new_ever, flips): m = [|s| >= t], w_eff = m * theta0,
    e = e_before OR m, new_ever = edges with m = 1 and e_before = 0, flips = edges whose
    mask changed.
    """
    n = scores.size
    mask = np.zeros(n, np.uint8)
    w_eff = np.zeros(n, theta0.dtype)
    ever = np.array(ever_before, np.uint8, copy=True)
    new_ever = flips = 0
    for i in range(n):
        m = 1 if abs(scores[i]) >= threshold else 0
        mask[i] = m
        w_eff[i] = theta0[i] * m
        flips += int(m != mask_before[i])
        if m and not ever_before[i]:
            new_ever += 1
            ever[i] = 1
    return mask, w_eff, ever, new_ever, flips


# -- mask history ------------------------------------------------------------------------------


def naive_mask_history(masks: list[list[np.ndarray]]) -> dict:
    """Replay a recorded sequence of masks (``masks[t][layer]``, flat 0/1) from scratch.

    Returns, per step t: ``dying`` (edges never selected in m_1..m_t), ``dying_ratio``
    (that over all edges), ``reverted`` (edges selected at some step <= t but not in m_t),
    ``selected`` (edges in m_t) and ``flips`` (edges whose mask differs from m_{t-1}; 0 at
    the first step, which flips from no mask); and ``ever`` per layer after the last step.
    """
    n_layers = len(masks[0])
    total = sum(int(m.size) for m in masks[0])
    ever = [[False] * int(m.size) for m in masks[0]]
    out = {"dying": [], "dying_ratio": [], "reverted": [], "selected": [], "flips": []}
    previous = None
    for step in masks:
        flips = 0
        for layer in range(n_layers):
            for i, m in enumerate(step[layer]):
                if m:
                    ever[layer][i] = True
                if previous is not None and bool(m) != bool(previous[layer][i]):
                    flips += 1
        dying = sum(1 for layer in ever for e in layer if not e)
        reverted = sum(1 for layer in range(n_layers) for i, e in enumerate(ever[layer])
                       if e and not step[layer][i])
        out["dying"].append(dying)
        out["dying_ratio"].append(dying / total)
        out["reverted"].append(reverted)
        out["selected"].append(sum(int(v != 0) for layer in step for v in layer))
        out["flips"].append(flips)
        previous = step
    out["ever"] = [np.array(layer, np.uint8) for layer in ever]
    return out


# -- planted metrics ---------------------------------------------------------------------------


def naive_fn_tn(dying: list[np.ndarray], ticket: list[np.ndarray]) -> tuple[list[int], list[int]]:
    """Per layer, (false-negative, true-negative) dying edges: a dying edge in P is a false
    negative, a dying edge outside P a true negative; counted edge by edge."""
    fn, tn = [], []
    for d, t in zip(dying, ticket):
        d, t = np.asarray(d).reshape(-1), np.asarray(t).reshape(-1)
        fn.append(sum(1 for i in range(d.size) if d[i] and t[i]))
        tn.append(sum(1 for i in range(d.size) if d[i] and not t[i]))
    return fn, tn


# -- engine ops --------------------------------------------------------------------------------


def naive_relu(x: np.ndarray) -> np.ndarray:
    """max(x, 0) element by element (+0.0 for every x <= 0)."""
    flat = x.reshape(-1)
    return np.array([v if v > 0 else 0.0 for v in flat], x.dtype).reshape(x.shape)


def naive_relu_backward(dy: np.ndarray, y: np.ndarray) -> np.ndarray:
    """dL/dx of ReLU from its output: dy where y > 0, else 0."""
    return np.array([g if v > 0 else 0.0 for g, v in zip(dy.reshape(-1), y.reshape(-1))],
                    dy.dtype).reshape(dy.shape)


def naive_softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean over rows of -log softmax(z)[y], and (softmax(z) - onehot(y)) / B, row by row in float64."""
    B, C = logits.shape
    loss = 0.0
    grad = np.zeros((B, C))
    for b in range(B):
        z = [float(v) for v in logits[b]]
        top = max(z)
        exps = [math.exp(v - top) for v in z]
        total = sum(exps)
        loss += -(z[labels[b]] - top - math.log(total))
        for c in range(C):
            grad[b, c] = (exps[c] / total - (1.0 if c == labels[b] else 0.0)) / B
    return loss / B, grad


def naive_max_pool2d(x: np.ndarray, kernel: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """(y, argmax): the max of each window and the flat index h * W + w of its first maximum
    in row-major order, by loops over every window."""
    B, C, H, W = x.shape
    Ho, Wo = (H - kernel) // stride + 1, (W - kernel) // stride + 1
    y = np.zeros((B, C, Ho, Wo), x.dtype)
    arg = np.zeros((B, C, Ho, Wo), np.int64)
    for b in range(B):
        for c in range(C):
            for i in range(Ho):
                for j in range(Wo):
                    best, where = -math.inf, -1
                    for u in range(kernel):
                        for v in range(kernel):
                            h, w = i * stride + u, j * stride + v
                            if x[b, c, h, w] > best or where < 0:
                                best, where = x[b, c, h, w], h * W + w
                    y[b, c, i, j], arg[b, c, i, j] = best, where
    return y, arg


def naive_avg_pool2d(x: np.ndarray, kernel: int, stride: int) -> np.ndarray:
    """The mean of each window, by loops (summed in float64)."""
    B, C, H, W = x.shape
    Ho, Wo = (H - kernel) // stride + 1, (W - kernel) // stride + 1
    y = np.zeros((B, C, Ho, Wo), x.dtype)
    for b in range(B):
        for c in range(C):
            for i in range(Ho):
                for j in range(Wo):
                    window = [float(x[b, c, i * stride + u, j * stride + v]) for u in range(kernel)
                              for v in range(kernel)]
                    y[b, c, i, j] = sum(window) / len(window)
    return y


# -- optimiser and schedule --------------------------------------------------------------------


def naive_sgd(p: np.ndarray, grads: list[np.ndarray], lr: float, momentum: float, weight_decay: float,
              nesterov: bool) -> np.ndarray:
    """Parameters after SGD steps on ``grads`` (torch.optim.SGD, dampening 0), element by element:
    g <- g + wd p; v <- mu v + g (v = g at the first step); step = g + mu v (Nesterov) or v;
    p <- p - lr step."""
    p = [float(v) for v in p.reshape(-1)]
    v = [0.0] * len(p)
    for t, grad in enumerate(grads):
        for i, g in enumerate(grad.reshape(-1)):
            g = float(g) + weight_decay * p[i]
            v[i] = g if t == 0 else momentum * v[i] + g
            p[i] -= lr * (g + momentum * v[i] if nesterov else v[i])
    return np.array(p)


def naive_epoch_cosine_lr(base: float, epoch: int, epochs: int, warmup: int) -> float:
    """The edge-popup release's per-epoch lr as described: a linear warm-up (epoch + 1) / W,
    then a cosine with eta_min = 0 over the remaining epochs, evaluated once per epoch."""
    if epoch < warmup:
        return base * (epoch + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * (epoch - warmup) / (epochs - warmup))) * base
