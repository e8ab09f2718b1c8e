"""Slow, obvious reference implementations that the fast kernels and metrics are tested against.

Each is written out from its definition (DESIGN.md's words) with Python loops or a full
sort, and imports nothing from sltsim: a reference that called the code it checks would
share its bugs.
"""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

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


def naive_restricted_mask(scores: np.ndarray, searchable: np.ndarray, prune_rate: float) -> np.ndarray:
    """(n,) uint8: the n - floor(k n + 0.5) largest |s| among the searchable edges only (full sort,
    ties to the lower index); an edge outside ``searchable`` is never kept."""
    flat = np.abs(scores.reshape(-1).astype(np.float64))
    ok = np.asarray(searchable).reshape(-1) != 0
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


def naive_keep_largest(values: np.ndarray, n_keep: int) -> np.ndarray:
    """(n,) bool: the ``n_keep`` largest entries of a flat array as they are (signed), by a full
    sort; ties go to the lower index."""
    flat = values.reshape(-1).astype(np.float64)
    order = sorted(range(flat.size), key=lambda i: (-flat[i], i))
    keep = np.zeros(flat.size, bool)
    keep[order[:n_keep]] = True
    return keep


def naive_smart_keep_ratios(sizes, k, resnet):
    """Smart keep ratios in exact fractions: weights w_l = (L-l+1)^2 + (L-l+1) (over l^2 unless
    resnet), the last layer 0.3, one scale c meeting the budget, then every ratio above 1 cut to
    1 and its excess handed to the following layers in order."""
    n = [Fraction(s) for s in sizes]
    L = len(n)
    budget = Fraction(naive_keep_count(sum(sizes), k))  # EP's global budget, n - floor(k n + 0.5)
    w = []
    for l in range(1, L):
        depth = L - l + 1
        w.append(Fraction(depth * depth + depth, 1 if resnet else l * l))
    c = (budget - Fraction(3, 10) * n[-1]) / sum(wi * ni for wi, ni in zip(w, n))
    r = [c * wi for wi in w]
    carry = Fraction(0)
    for i in range(L - 1):
        want = r[i] * n[i] + carry
        r[i] = min(Fraction(1), want / n[i])
        carry = want - r[i] * n[i]
    return [float(x) for x in r] + [0.3]


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


def naive_enrichment(dying: list[np.ndarray], ticket: list[np.ndarray]) -> float:
    """(share of P's edges that are dying) / (share of the other edges that are dying), from the
    masks edge by edge; NaN when either share is undefined or both are 0, inf when only the
    other edges' share is 0."""
    p_all = p_dying = rest_all = rest_dying = 0
    for d, t in zip(dying, ticket):
        for di, ti in zip(np.asarray(d).reshape(-1), np.asarray(t).reshape(-1)):
            if ti:
                p_all, p_dying = p_all + 1, p_dying + bool(di)
            else:
                rest_all, rest_dying = rest_all + 1, rest_dying + bool(di)
    if p_all == 0 or rest_all == 0 or (p_dying == 0 and rest_dying == 0):
        return math.nan
    if rest_dying == 0:
        return math.inf
    return (p_dying / p_all) / (rest_dying / rest_all)


def naive_recall_chance(ticket: list[np.ndarray], kept: list[int]) -> float:
    """The mean recall of P over every mask that keeps ``kept[l]`` edges of layer l, by enumerating
    all of them (tiny layers only): what a search blind to P recovers on average."""
    layers = [np.asarray(t).reshape(-1) != 0 for t in ticket]
    n_p = sum(int(t.sum()) for t in layers)
    choices = [list(itertools.combinations(range(t.size), m)) for t, m in zip(layers, kept)]
    total, count = 0.0, 0
    for masks in itertools.product(*choices):
        hits = sum(int(t[list(m)].sum()) for t, m in zip(layers, masks))
        total += hits / n_p
        count += 1
    return total / count


def naive_unexplained(predicted: np.ndarray, target: np.ndarray) -> float:
    """1 - R^2 pooled over outputs, by loops: sum (y_hat - y)^2 / sum over outputs of sum (y - its mean)^2."""
    N, D = target.shape
    residual = sum((float(predicted[i, j]) - float(target[i, j])) ** 2 for i in range(N) for j in range(D))
    spread = 0.0
    for j in range(D):
        column = [float(target[i, j]) for i in range(N)]
        if len(set(column)) == 1:  # a constant output spreads by nothing, whatever its float mean
            continue
        mean = sum(column) / N
        spread += sum((y - mean) ** 2 for y in column)
    return residual / spread if spread > 0 else math.nan


# -- engine ops --------------------------------------------------------------------------------


def _pair(v) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def naive_im2col(x: np.ndarray, kernel, stride, padding) -> np.ndarray:
    """(C kh kw, B Ho Wo): row (c kh + i) kw + j, column b Ho Wo + oh Wo + ow holds
    x[b, c, oh sh + i - ph, ow sw + j - pw], 0 where that reads the zero padding; by loops.
    kernel, stride, padding: int or (h, w)."""
    (kh, kw), (sh, sw), (ph, pw) = _pair(kernel), _pair(stride), _pair(padding)
    B, C, H, W = x.shape
    Ho, Wo = (H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1
    cols = np.zeros((C * kh * kw, B * Ho * Wo), x.dtype)
    for b, c, i, j, oh, ow in itertools.product(range(B), range(C), range(kh), range(kw), range(Ho), range(Wo)):
        h, w = oh * sh + i - ph, ow * sw + j - pw
        if 0 <= h < H and 0 <= w < W:
            cols[(c * kh + i) * kw + j, b * Ho * Wo + oh * Wo + ow] = x[b, c, h, w]
    return cols


def naive_col2im(cols: np.ndarray, x_shape: tuple, kernel, stride, padding) -> np.ndarray:
    """The adjoint of :func:`naive_im2col`: every column entry added back onto the pixel it was read
    from (entries that read padding dropped); by loops, summed in float64."""
    (kh, kw), (sh, sw), (ph, pw) = _pair(kernel), _pair(stride), _pair(padding)
    B, C, H, W = x_shape
    Ho, Wo = (H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1
    x = np.zeros(x_shape)
    for b, c, i, j, oh, ow in itertools.product(range(B), range(C), range(kh), range(kw), range(Ho), range(Wo)):
        h, w = oh * sh + i - ph, ow * sw + j - pw
        if 0 <= h < H and 0 <= w < W:
            x[b, c, h, w] += cols[(c * kh + i) * kw + j, b * Ho * Wo + oh * Wo + ow]
    return x


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


def naive_max_pool2d(x: np.ndarray, kernel, stride) -> tuple[np.ndarray, np.ndarray]:
    """(y, argmax): the max of each window and the flat index h * W + w of its first maximum
    in row-major order, by loops over every window. kernel, stride: int or (h, w)."""
    (kh, kw), (sh, sw) = _pair(kernel), _pair(stride)
    B, C, H, W = x.shape
    Ho, Wo = (H - kh) // sh + 1, (W - kw) // sw + 1
    y = np.zeros((B, C, Ho, Wo), x.dtype)
    arg = np.zeros((B, C, Ho, Wo), np.int64)
    for b, c, i, j in itertools.product(range(B), range(C), range(Ho), range(Wo)):
        best, where = None, -1
        for u, v in itertools.product(range(kh), range(kw)):
            h, w = i * sh + u, j * sw + v
            if best is None or x[b, c, h, w] > best:
                best, where = x[b, c, h, w], h * W + w
        y[b, c, i, j], arg[b, c, i, j] = best, where
    return y, arg


def naive_avg_pool2d(x: np.ndarray, kernel, stride) -> np.ndarray:
    """The mean of each window, by loops (summed in float64). kernel, stride: int or (h, w)."""
    (kh, kw), (sh, sw) = _pair(kernel), _pair(stride)
    B, C, H, W = x.shape
    Ho, Wo = (H - kh) // sh + 1, (W - kw) // sw + 1
    y = np.zeros((B, C, Ho, Wo), x.dtype)
    for b, c, i, j in itertools.product(range(B), range(C), range(Ho), range(Wo)):
        window = [float(x[b, c, i * sh + u, j * sw + v]) for u in range(kh) for v in range(kw)]
        y[b, c, i, j] = sum(window) / len(window)
    return y


# -- optimiser and schedule --------------------------------------------------------------------


def naive_sgd(p: np.ndarray, grads: list[np.ndarray], lr: float, momentum: float, weight_decay: float,
              nesterov: bool, theta0: np.ndarray | None = None) -> np.ndarray:
    """Parameters after SGD steps on ``grads`` (torch.optim.SGD, dampening 0), element by element:
    g <- g + wd p; v <- mu v + g (v starts at 0); step = g + mu v (Nesterov) or v; p <- p - lr step.

    With ``theta0`` the parameters are scores and each gradient is dL/dw_eff: the straight-through
    score gradient is sign(s) * dL/dw_eff * theta0 at the current s (sign(0) = 0).
    """
    p = [float(v) for v in p.reshape(-1)]
    v = [0.0] * len(p)
    t0 = None if theta0 is None else [float(w) for w in theta0.reshape(-1)]
    for grad in grads:
        for i, g in enumerate(grad.reshape(-1)):
            g = float(g)
            if t0 is not None:
                g = (1.0 if p[i] > 0 else -1.0 if p[i] < 0 else 0.0) * g * t0[i]
            g += weight_decay * p[i]
            v[i] = momentum * v[i] + g
            p[i] -= lr * (g + momentum * v[i] if nesterov else v[i])
    return np.array(p)


def naive_epoch_cosine_lr(base: float, epoch: int, epochs: int, warmup: int) -> float:
    """The edge-popup release's per-epoch lr as described: a linear warm-up (epoch + 1) / W,
    then a cosine with eta_min = 0 over the remaining epochs, evaluated once per epoch."""
    if epoch < warmup:
        return base * (epoch + 1) / warmup
    return 0.5 * (1 + math.cos(math.pi * (epoch - warmup) / (epochs - warmup))) * base
