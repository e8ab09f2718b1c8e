"""Planted-target metrics: the exact false/true-negative split of dying edges, and recovery of P.

Words (DESIGN.md): an edge is *dying* when it was never selected in the cycle (e_t = 0).
A false-negative dying edge is dying and in the planted ticket P; a true-negative dying
edge is dying and not in P; fn + tn = dying, exactly (integer counts).

Recovery of P by the final mask M (m_{T+1}): recall = |P and M| / |P|, precision =
|P and M| / |M|. A search may find an equally good subnetwork on other hidden units
(the symmetry of paper Section 3), so recall is also reported after alignment:

aligned recall. For each hidden group g (a hidden layer, or conv channels) let A_T be the
teacher's pre-activations of its w_g kept units and A_S the student's pre-activations of
all d_g units (the output of the unit's weight layer, on the first ``PROBE_SIZE`` test
inputs; conv maps contribute one row per input and pixel), student with w_eff = M * theta0,
teacher with w_eff = P * theta0. pi_g maps each kept teacher unit to a distinct student
unit maximising the summed Pearson correlation corr(A_T[:, u], A_S[:, pi_g(u)])
(scipy.optimize.linear_sum_assignment; constant columns have correlation 0). Inputs and
outputs map to themselves. An edge of P from in-unit u to out-unit v (at kernel entry /
flattened pixel q) maps to the student edge pi(u) -> pi(v) at the same q; aligned recall
= |mapped P edges that are in M| / |P|. With a residual student, or layers the probe cannot
reach, it is None. Its chance level, ``aligned_recall_chance``, is the density of M in the
block of edges among the aligned units (all pi(u) -> pi(v), every q): the aligned recall of
a ticket spread uniformly over that block. A search that keeps dense rows or columns at
the aligned units raises both; only aligned recall above its chance says P's own pattern
was found.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
from scipy.optimize import linear_sum_assignment

from sltsim.metrics.recovery import above_chance, enrichment, recall_chance, unexplained
from sltsim.teacher import layer_io, outputs, restricted_to, teacher_outputs

PROBE_SIZE = 512
TIE_DIGITS = 5  # correlations equal to this many decimals are a tie (see align_units)


def fn_tn_counts(dying_masks, ticket_masks) -> tuple[np.ndarray, np.ndarray]:
    """Per-layer (false-negative, true-negative) dying edge counts, int64 arrays (layers,).

    Parameters
    ----------
    dying_masks : per layer, a bool array (any shape, e.g. ``MaskHistory.dying_masks()``),
        True where the edge is dying.
    ticket_masks : per layer, an array of the same size, nonzero where the edge is in P.
    """
    dying_masks, ticket_masks = list(dying_masks), list(ticket_masks)
    if len(dying_masks) != len(ticket_masks):
        raise ValueError(f"got {len(dying_masks)} dying masks but {len(ticket_masks)} ticket masks")
    fn = np.zeros(len(dying_masks), np.int64)
    tn = np.zeros(len(dying_masks), np.int64)
    for i, (d, t) in enumerate(zip(dying_masks, ticket_masks)):
        d, t = np.asarray(d).reshape(-1) != 0, np.asarray(t).reshape(-1) != 0
        if d.size != t.size:
            raise ValueError(f"layer {i}: dying mask has {d.size} edges but ticket mask {t.size}")
        fn[i] = np.count_nonzero(d & t)
        tn[i] = np.count_nonzero(d) - fn[i]
    return fn, tn


def first_selected_counts(history, ticket_masks) -> tuple[list[int], np.ndarray, np.ndarray]:
    """When P's edges were first selected, from MaskHistory's log2 snapshots.

    Returns (bin_upper_step, counts (layers, bins), never (layers,)): counts[l, j] edges of
    P in layer l were first selected at a step in (bin_upper_step[j-1], bin_upper_step[j]]
    (bin_upper_step[-1] read as 0); ``never`` are dying (the false negatives).
    """
    steps = list(history.snapshot_steps)
    late = bool(history.step) and (not steps or steps[-1] < history.step)
    if late:  # edges selected after the last snapshot, without touching the history
        steps.append(history.step)
    counts = np.zeros((len(ticket_masks), len(steps)), np.int64)
    never = np.zeros(len(ticket_masks), np.int64)
    for i, (first, ever, t) in enumerate(zip(history.first_selected, history.ever, ticket_masks)):
        t = np.asarray(t).reshape(-1) != 0
        stamp = first[t].astype(np.int64)
        if late:
            stamp[(stamp == 0) & (ever[t] != 0)] = len(steps)
        never[i] = np.count_nonzero(ever[t] == 0)
        counts[i] = np.bincount(stamp, minlength=len(steps) + 1)[1:]
    return steps, counts, never


def correlation(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """(a, b) Pearson correlations between the columns of A (N, a) and B (N, b); 0 for a constant column."""
    def standardise(X):
        X = X.astype(np.float64) - X.mean(axis=0)
        norm = np.sqrt((X * X).sum(axis=0))
        return X / np.where(norm > 0, norm, np.inf)

    return standardise(A).T @ standardise(B)


def align_units(teacher_acts: np.ndarray, student_acts: np.ndarray, prefer: np.ndarray | None = None) -> np.ndarray:
    """(w,) distinct student unit per teacher unit maximising the summed correlation.

    teacher_acts : (N, w) activations of the teacher's units; student_acts : (N, d), d >= w.
    prefer : (w,) optional student unit of each teacher unit (its own index) that wins ties:
        correlations are compared to ``TIE_DIGITS`` decimals, so that a unit and its exact
        replica (equal activations up to float rounding) map to the unit itself.
    """
    if teacher_acts.shape[1] > student_acts.shape[1]:
        raise ValueError(f"cannot align {teacher_acts.shape[1]} teacher units to {student_acts.shape[1]} student units")
    corr = correlation(teacher_acts, student_acts)
    if prefer is not None:
        corr = np.round(corr, TIE_DIGITS)
        corr[np.arange(corr.shape[0]), prefer] += 0.1 ** (TIE_DIGITS + 2)
    rows, cols = linear_sum_assignment(corr, maximize=True)
    out = np.empty(teacher_acts.shape[1], np.int64)
    out[rows] = cols
    return out


def hidden_activations(model, ticket, X: np.ndarray) -> dict | None:
    """{hidden group: (rows, units) pre-activations} with the model's current w_eff, or None
    when the ticket is residual or a hidden group's layer is not a top-level layer."""
    if ticket.residual:
        return None
    seen = layer_io(model, X)
    acts = {}
    for link in ticket.links:
        if link.in_group is None or link.out_group == "output":
            continue
        if link.name not in seen:
            return None
        Y = seen[link.name][1]
        acts[link.out_group] = np.moveaxis(Y, 1, -1).reshape(-1, Y.shape[1]) if Y.ndim > 2 else Y
    return acts


def alignment(model, ticket, X: np.ndarray) -> dict | None:
    """{group: (d,) student unit of each teacher unit (-1 where the teacher has none)} for
    every group, identity for inputs and outputs; None when activations cannot be read."""
    student = hidden_activations(model, ticket, X)
    with restricted_to(model, ticket.masks):
        teacher = hidden_activations(model, ticket, X)
    if student is None or teacher is None:
        return None
    maps = {}
    for group, kept in ticket.units.items():
        if group in ("input", "output"):
            maps[group] = np.arange(kept.size)
            continue
        m = np.full(student[group].shape[1], -1, np.int64)
        m[kept] = align_units(teacher[group][:, kept], student[group], prefer=kept)
        maps[group] = m
    return maps


def aligned_image(ticket, name: str, shape, ticket_mask: np.ndarray, maps: dict) -> np.ndarray:
    """Flat indices of the aligned image of P's edges in one tensor (distinct: the maps are injective)."""
    link = ticket.link(name)
    idx = np.flatnonzero(ticket_mask.reshape(-1))
    if link.in_group is None:
        return maps[link.out_group][idx]
    n_in, kernel = shape[1], int(np.prod(shape[2:], dtype=np.int64))
    out, rest = np.divmod(idx, n_in * kernel)
    feat, q = np.divmod(rest, kernel)
    unit, pixel = np.divmod(feat, link.repeat)
    return (maps[link.out_group][out] * n_in + maps[link.in_group][unit] * link.repeat + pixel) * kernel + q


def aligned_counts(ticket, name: str, shape, ticket_mask: np.ndarray, mask: np.ndarray,
                   maps: dict) -> tuple[int, int, int]:
    """(hits, kept, block) for one tensor: edges of P whose aligned image is in ``mask``, and
    the edges of ``mask`` among all ``block`` edges between the aligned units (module docstring)."""
    link = ticket.link(name)
    idx = np.flatnonzero(ticket_mask.reshape(-1))
    mask = mask.reshape(-1) != 0
    rows = maps[link.out_group][ticket.units[link.out_group]]
    if np.any(rows < 0) or (link.in_group and np.any(maps[link.in_group][ticket.units[link.in_group]] < 0)):
        raise ValueError(f"alignment of {name} leaves a ticket unit unmapped")
    if link.in_group is None:
        return int(np.count_nonzero(mask[maps[link.out_group][idx]])), int(np.count_nonzero(mask[rows])), rows.size
    n_in, kernel = shape[1], int(np.prod(shape[2:], dtype=np.int64))
    mapped = aligned_image(ticket, name, shape, ticket_mask, maps)
    cols = (maps[link.in_group][ticket.units[link.in_group]][:, None] * link.repeat
            + np.arange(link.repeat)).reshape(-1)
    block = mask.reshape(shape[0], n_in, kernel)[np.ix_(rows, cols)]
    return int(np.count_nonzero(mask[mapped])), int(np.count_nonzero(block)), block.size


def teacher_agreement(student_out: np.ndarray, teacher_out: np.ndarray, task: str) -> float:
    """Classification: fraction of inputs where argmax student == argmax teacher. Regression:
    R^2 = 1 - sum (student - teacher)^2 / sum (teacher - its per-output mean)^2 (pooled over outputs)."""
    if task == "classification":
        return float(np.mean(student_out.argmax(axis=1) == teacher_out.argmax(axis=1)))
    t = teacher_out.astype(np.float64)
    total = float(((t - t.mean(axis=0)) ** 2).sum())
    residual = float(((student_out.astype(np.float64) - t) ** 2).sum())
    return 1.0 - residual / total if total > 0 else math.nan


def _ratio(a, b):
    return float(a / b) if b else math.nan


def padded_ticket(search) -> dict:
    """P padded with uniformly random other edges up to the final mask's keep count in each
    searched layer (P itself when the ticket is feasible): the mask of the search space
    closest to P. Draws from a stream of its own (seed child len(STREAMS) + 2)."""
    from sltsim.engine.topk import keep_count
    from sltsim.streams import STREAMS

    ticket = search.ticket
    if ticket.feasible:
        return ticket.masks
    rng = np.random.default_rng(np.random.SeedSequence(search.config.seed).spawn(len(STREAMS) + 2)[-1])
    masks = {}
    for p in search.searched:
        P = ticket.masks[p.name].reshape(-1).copy()
        missing = keep_count(p.size, search.config.final_prune_rate) - int(P.sum())
        if missing > 0:
            P[rng.choice(np.flatnonzero(P == 0), missing, replace=False)] = 1
        masks[p.name] = P.reshape(p.shape)
    return masks


def planted_metrics(search, history) -> dict:
    """Planted-target metrics of a finished run, as plain JSON-ready values.

    Called after the final masks m_{T+1} are set; ``history`` is the last cycle's
    MaskHistory or None (then the dying-edge entries are None). Fractions of dying edges
    are over all searched edges and come from integer counts, so
    false_negative_dying + true_negative_dying == history.dying_ratio() up to rounding.
    The ``aligned_`` entries score the aligned image of P (module docstring) instead of P;
    enrichment, recall above chance and ``*_unexplained`` (1 - R^2) are defined in
    :mod:`sltsim.metrics.recovery`. ``ticket_train_loss`` is the search's training loss of P
    at the searched budget (:func:`padded_ticket`): 0 for a feasible ticket on clean
    regression targets, above 0 for a sub-budget one (P plus padding changes the function).
    """
    from sltsim.engine.evaluate import evaluate

    ticket, model, searched, data = search.ticket, search.model, search.searched, search.data
    names = [p.name for p in searched]
    P = [ticket.masks[n].reshape(-1) != 0 for n in names]
    M = [p.mask.reshape(-1) != 0 for p in searched]
    sizes = np.array([p.size for p in searched], np.int64)
    n_P = np.array([t.sum() for t in P], np.int64)
    n_M = np.array([m.sum() for m in M], np.int64)
    hits = np.array([np.count_nonzero(t & m) for t, m in zip(P, M)], np.int64)
    X_test = data.X_test
    teacher_test = ticket.teacher_test
    if teacher_test is None or teacher_test.shape[0] != X_test.shape[0]:
        teacher_test = teacher_outputs(model, ticket, X_test)
    student_test = outputs(model, X_test)
    agreement = teacher_agreement(student_test, teacher_test, data.task)
    maps = alignment(model, ticket, X_test[:PROBE_SIZE])
    aligned = None if maps is None else np.array(
        [aligned_counts(ticket, p.name, p.shape, ticket.masks[p.name], p.mask, maps) for p in searched], np.int64)
    total, n_ticket = int(sizes.sum()), int(n_P.sum())
    chance = recall_chance(n_P, n_M, sizes)
    recall = _ratio(hits.sum(), n_ticket)
    aligned_recall = None if aligned is None else _ratio(aligned[:, 0].sum(), n_ticket)
    regression = data.task == "regression"  # teacher_digest: P's masks and the teacher's test outputs
    with restricted_to(model, padded_ticket(search)):
        ticket_loss, _ = evaluate(model, data.X_train, data.y_train, search.loss)
        ticket_unexplained = unexplained(outputs(model, data.X_train), data.y_train) if regression else None
    replicas = ticket.replicas or {}
    all_replicas = np.concatenate([np.asarray(r) for r in replicas.values()]) if replicas else np.zeros(0)
    digest = hashlib.sha256()
    for n in names:
        digest.update(np.ascontiguousarray(ticket.masks[n]).tobytes())
    digest.update(np.ascontiguousarray(teacher_test).tobytes())
    # feasible: P keeps what the final mask keeps, layer by layer (in total under a global top-k);
    # a method with budgets of its own (random-smart) cannot return a P planted at the uniform k
    same_budget = n_P.sum() == n_M.sum() if search.global_topk else bool((n_P == n_M).all())
    out = {"ticket_feasible": bool(ticket.feasible and same_budget), "ticket_train_loss": float(ticket_loss),
           "teacher_digest": digest.hexdigest()[:16],
           "ticket_train_unexplained": ticket_unexplained,
           "ticket_width": ticket.ticket_width, "ticket_edges": n_ticket,
           "ticket_remaining": _ratio(n_ticket, total), "start_recall": ticket.start_recall,
           "recall": recall, "precision": _ratio(hits.sum(), n_M.sum()), "recall_chance": chance,
           "recall_above_chance": above_chance(recall, chance),
           "aligned_recall": aligned_recall,
           "aligned_recall_chance": None if aligned is None else _ratio(aligned[:, 1].sum(), aligned[:, 2].sum()),
           "aligned_recall_above_chance": above_chance(aligned_recall, chance),
           "teacher_agreement": agreement,
           "train_unexplained": unexplained(outputs(model, data.X_train), data.y_train) if regression else None,
           "test_unexplained": unexplained(student_test, teacher_test) if regression else None,
           "ticket_unit_replicas": {g: np.asarray(r).tolist() for g, r in replicas.items()},
           "mean_ticket_unit_replicas": float(all_replicas.mean()) if all_replicas.size else None,
           "ticket_units_with_replica": float((all_replicas > 0).mean()) if all_replicas.size else None,
           "false_negative_dying": None, "true_negative_dying": None, "ticket_dying_ratio": None,
           "non_ticket_dying_ratio": None, "enrichment": None, "aligned_false_negative_dying": None,
           "aligned_true_negative_dying": None, "aligned_enrichment": None, "first_selected_histogram": None}
    per_layer = {n: {"size": int(s), "ticket_edges": int(k), "ticket_remaining": _ratio(k, s),
                     "recall": _ratio(h, k), "precision": _ratio(h, m),
                     "aligned_recall": None if aligned is None else _ratio(aligned[i, 0], k),
                     "aligned_recall_chance": None if aligned is None else _ratio(aligned[i, 1], aligned[i, 2])}
                 for i, (n, s, k, h, m) in enumerate(zip(names, sizes, n_P, hits, n_M))}
    if history is not None:
        dying = [np.asarray(d).reshape(-1) != 0 for d in history.dying_masks()]
        fn, tn = fn_tn_counts(dying, P)
        steps, counts, never = first_selected_counts(history, P)
        out.update(false_negative_dying=_ratio(fn.sum(), total), true_negative_dying=_ratio(tn.sum(), total),
                   ticket_dying_ratio=_ratio(fn.sum(), n_ticket),
                   non_ticket_dying_ratio=_ratio(tn.sum(), total - n_ticket),
                   enrichment=enrichment(int(fn.sum()), int(tn.sum()), n_ticket, total),
                   first_selected_histogram={"bin_upper_step": steps, "counts": counts.sum(axis=0).tolist(),
                                             "never": int(never.sum())})
        if maps is not None:
            fn_al = sum(int(np.count_nonzero(d[aligned_image(ticket, p.name, p.shape, ticket.masks[p.name], maps)]))
                        for d, p in zip(dying, searched))
            tn_al = int(fn.sum() + tn.sum()) - fn_al
            out.update(aligned_false_negative_dying=_ratio(fn_al, total), aligned_true_negative_dying=_ratio(tn_al, total),
                       aligned_enrichment=enrichment(fn_al, tn_al, n_ticket, total))
        for i, n in enumerate(names):
            per_layer[n].update(false_negative_dying=_ratio(fn[i], sizes[i]), true_negative_dying=_ratio(tn[i], sizes[i]),
                                ticket_dying_ratio=_ratio(fn[i], n_P[i]),
                                first_selected_histogram={"bin_upper_step": steps, "counts": counts[i].tolist(),
                                                          "never": int(never[i])})
    out["planted_per_layer"] = per_layer
    return out
