"""The strong-Wolfe line search of `optim.LBFGS(line_search_fn="strong_wolfe")`:
bracketing, then zooming with safeguarded cubic interpolation (Nocedal & Wright,
Algorithms 3.5 and 3.6), on host arrays.

`evaluate(x, t, d) -> (loss, flat gradient)` at `x + t * d`; returns the accepted
`(loss, gradient, t, number of evaluations)`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["cubic_minimizer", "strong_wolfe"]


def cubic_minimizer(x1, f1, g1, x2, f2, g2, bounds: tuple | None = None) -> float:
    """The minimizer of the cubic through (x1, f1) and (x2, f2) with slopes g1, g2,
    clipped to `bounds` (the interval between x1 and x2 by default); the interval's
    midpoint when the cubic has no minimum."""
    lo, hi = bounds if bounds is not None else (min(x1, x2), max(x1, x2))
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1 * d1 - g1 * g2
    if d2_square < 0:
        return (lo + hi) / 2.0
    d2 = float(np.sqrt(d2_square))
    if x1 <= x2:
        point = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
    else:
        point = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
    return min(max(point, lo), hi)


def strong_wolfe(
    evaluate: Callable,
    x: np.ndarray,
    t: float,
    d: np.ndarray,
    f: float,
    g: np.ndarray,
    gtd: float,
    c1: float = 1e-4,
    c2: float = 0.9,
    tolerance_change: float = 1e-9,
    max_ls: int = 25,
) -> tuple[float, np.ndarray, float, int]:
    d_norm = float(np.abs(d).max())
    f_new, g_new = evaluate(x, t, d)
    evals = 1
    gtd_new = float(g_new @ d)
    t_prev, f_prev, g_prev, gtd_prev = 0.0, f, g, gtd
    done = False
    ls_iter = 0
    # bracketing: find an interval that contains a point satisfying the conditions
    while ls_iter < max_ls:
        if f_new > f + c1 * t * gtd or (ls_iter > 1 and f_new >= f_prev):
            bracket = [t_prev, t]
            values, grads, slopes = [f_prev, f_new], [g_prev, g_new], [gtd_prev, gtd_new]
            break
        if abs(gtd_new) <= -c2 * gtd:
            bracket, values, grads, slopes = [t], [f_new], [g_new], [gtd_new]
            done = True
            break
        if gtd_new >= 0:
            bracket = [t_prev, t]
            values, grads, slopes = [f_prev, f_new], [g_prev, g_new], [gtd_prev, gtd_new]
            break
        low, high = t + 0.01 * (t - t_prev), t * 10
        t_prev, t = t, cubic_minimizer(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, (low, high))
        f_prev, g_prev, gtd_prev = f_new, g_new, gtd_new
        f_new, g_new = evaluate(x, t, d)
        evals += 1
        gtd_new = float(g_new @ d)
        ls_iter += 1
    if ls_iter == max_ls:
        bracket, values, grads, slopes = [0.0, t], [f, f_new], [g, g_new], [gtd, gtd_new]

    # zoom: shrink the bracket until a point satisfies both conditions
    insufficient_progress = False
    low_pos, high_pos = (0, 1) if values[0] <= values[-1] else (1, 0)
    while not done and ls_iter < max_ls:
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:
            break
        t = cubic_minimizer(bracket[0], values[0], slopes[0], bracket[1], values[1], slopes[1])
        # keep away from the bracket's ends: a point there makes little progress
        eps = 0.1 * (max(bracket) - min(bracket))
        if min(max(bracket) - t, t - min(bracket)) < eps:
            if insufficient_progress or t >= max(bracket) or t <= min(bracket):
                if abs(t - max(bracket)) < abs(t - min(bracket)):
                    t = max(bracket) - eps
                else:
                    t = min(bracket) + eps
                insufficient_progress = False
            else:
                insufficient_progress = True
        else:
            insufficient_progress = False
        f_new, g_new = evaluate(x, t, d)
        evals += 1
        gtd_new = float(g_new @ d)
        ls_iter += 1
        if f_new > f + c1 * t * gtd or f_new >= values[low_pos]:
            bracket[high_pos], values[high_pos] = t, f_new
            grads[high_pos], slopes[high_pos] = g_new, gtd_new
            low_pos, high_pos = (0, 1) if values[0] <= values[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket[high_pos] - bracket[low_pos]) >= 0:
                bracket[high_pos], values[high_pos] = bracket[low_pos], values[low_pos]
                grads[high_pos], slopes[high_pos] = grads[low_pos], slopes[low_pos]
            bracket[low_pos], values[low_pos] = t, f_new
            grads[low_pos], slopes[low_pos] = g_new, gtd_new
    return values[low_pos], grads[low_pos], bracket[low_pos], evals
