"""`optim.LBFGS`: limited-memory BFGS driven by a closure, with PyTorch's options and
iteration (two-loop recursion over the last `history_size` steps, first step
`min(1, 1/|g|_1) * lr`, optional strong-Wolfe line search).

Each `step(closure)` runs up to `max_iter` iterations; the closure re-evaluates the
loss and its gradients (`opt.zero_grad(); loss = f(); loss.backward(); return loss`),
so LBFGS runs in the literal loop, not inside a compiled step. The search direction is
computed on the host in the parameters' precision; every closure call is one compiled
forward and backward.

>>> opt = optim.LBFGS([image], lr=1, max_iter=20)
>>> def closure():
...     opt.zero_grad()
...     loss = style_loss(image)
...     loss.backward()
...     return loss
>>> opt.step(closure)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ember.autograd.grad_mode import enable_grad, no_grad
from ember.optim.line_search import strong_wolfe

__all__ = ["LBFGS"]


class LBFGS:
    """L-BFGS over one parameter group (as in PyTorch)."""

    def __init__(
        self,
        params: Any,
        lr: float = 1.0,
        max_iter: int = 20,
        max_eval: int | None = None,
        tolerance_grad: float = 1e-7,
        tolerance_change: float = 1e-9,
        history_size: int = 100,
        line_search_fn: str | None = None,
    ):
        params = list(params)
        if params and isinstance(params[0], dict):
            if len(params) != 1:
                raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
            options = {k: v for k, v in params[0].items() if k != "params"}
            params = list(params[0]["params"])
            lr = options.get("lr", lr)
        if not params:
            raise ValueError("LBFGS got an empty parameter list")
        if line_search_fn not in (None, "strong_wolfe"):
            raise ValueError(
                f"LBFGS: line_search_fn must be None or 'strong_wolfe', got {line_search_fn!r}"
            )
        if lr <= 0:
            raise ValueError(f"LBFGS: invalid learning rate {lr}")
        self.defaults = {
            "lr": lr,
            "max_iter": max_iter,
            "max_eval": max_eval if max_eval is not None else max_iter * 5 // 4,
            "tolerance_grad": tolerance_grad,
            "tolerance_change": tolerance_change,
            "history_size": history_size,
            "line_search_fn": line_search_fn,
        }
        self.param_groups = [{"params": params, **self.defaults}]
        self.state: dict[str, Any] = {"func_evals": 0, "n_iter": 0}

    @property
    def _params(self) -> list:
        return self.param_groups[0]["params"]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self._params:
            p.grad = None if set_to_none or p.grad is None else p.grad * 0

    # -- flat views of the parameters and gradients (host arrays) --------------------
    def _flat_grad(self) -> np.ndarray:
        parts = []
        for p in self._params:
            g = p.grad
            parts.append(np.zeros(p.shape, p.dtype) if g is None else np.asarray(g))
        return np.concatenate([x.reshape(-1) for x in parts]).astype(self._dtype)

    def _flat_params(self) -> np.ndarray:
        return np.concatenate([np.asarray(p.detach()).reshape(-1) for p in self._params])

    def _set_flat(self, flat: np.ndarray) -> None:
        offset = 0
        with no_grad():
            for p in self._params:
                n = int(np.prod(p.shape))
                p.copy_(flat[offset : offset + n].reshape(p.shape).astype(p.dtype))
                offset += n

    def _evaluate(self, closure: Callable) -> float:
        with enable_grad():
            return float(closure())

    def _directional_evaluate(self, closure, x: np.ndarray, t: float, d: np.ndarray):
        self._set_flat(x + self._dtype.type(t) * d)
        loss = self._evaluate(closure)
        grad = self._flat_grad()
        self._set_flat(x)
        return loss, grad

    # -- the iteration ----------------------------------------------------------------
    def step(self, closure: Callable):
        """Run up to `max_iter` L-BFGS iterations; returns the closure's first loss."""
        if closure is None:
            raise RuntimeError(
                "LBFGS.step needs a closure that re-evaluates the loss; fix: "
                "opt.step(closure) with closure = lambda: (opt.zero_grad(), loss_fn().backward()) "
                "returning the loss (see the optim.LBFGS docs)"
            )
        group = self.param_groups[0]
        lr, max_iter, max_eval = group["lr"], group["max_iter"], group["max_eval"]
        tol_grad, tol_change = group["tolerance_grad"], group["tolerance_change"]
        history_size = group["history_size"]
        state = self.state
        with enable_grad():
            orig_loss = closure()
        loss = float(orig_loss)
        self._dtype = np.dtype(str(self._params[0].dtype))
        flat_grad = self._flat_grad()
        state["func_evals"] += 1
        current_evals = 1
        if np.abs(flat_grad).max() <= tol_grad:
            return orig_loss

        d, t = state.get("d"), state.get("t")
        old_dirs, old_stps, ro = state.get("old_dirs"), state.get("old_stps"), state.get("ro")
        h_diag, prev_grad = state.get("H_diag"), state.get("prev_flat_grad")
        prev_loss = state.get("prev_loss")
        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1
            if state["n_iter"] == 1:
                d = -flat_grad
                old_dirs, old_stps, ro, h_diag = [], [], [], 1.0
            else:
                y = flat_grad - prev_grad
                s = d * self._dtype.type(t)
                ys = float(y @ s)
                if ys > 1e-10:  # keep the pair only where the curvature condition holds
                    if len(old_dirs) == history_size:
                        old_dirs.pop(0), old_stps.pop(0), ro.pop(0)
                    old_dirs.append(y), old_stps.append(s), ro.append(1.0 / ys)
                    h_diag = ys / float(y @ y)
                d = self._two_loop(-flat_grad, old_dirs, old_stps, ro, h_diag)
            prev_grad = flat_grad.copy()
            prev_loss = loss
            t = min(1.0, 1.0 / float(np.abs(flat_grad).sum())) * lr if state["n_iter"] == 1 else lr
            gtd = float(flat_grad @ d)
            if gtd > -tol_change:  # not a descent direction
                break
            evals = 0
            if group["line_search_fn"] == "strong_wolfe":
                x = self._flat_params()
                loss, flat_grad, t, evals = strong_wolfe(
                    lambda x_, t_, d_: self._directional_evaluate(closure, x_, t_, d_),
                    x,
                    t,
                    d,
                    loss,
                    flat_grad,
                    gtd,
                    tolerance_change=tol_change,
                )
                self._set_flat(x + self._dtype.type(t) * d)
                opt_cond = np.abs(flat_grad).max() <= tol_grad
            else:
                self._set_flat(self._flat_params() + self._dtype.type(t) * d)
                opt_cond = False
                if n_iter != max_iter:
                    loss = self._evaluate(closure)
                    flat_grad = self._flat_grad()
                    opt_cond = np.abs(flat_grad).max() <= tol_grad
                    evals = 1
            current_evals += evals
            state["func_evals"] += evals
            if n_iter == max_iter or current_evals >= max_eval or opt_cond:
                break
            if np.abs(d * self._dtype.type(t)).max() <= tol_change:
                break
            if abs(loss - prev_loss) < tol_change:
                break
        state.update(
            d=d,
            t=t,
            old_dirs=old_dirs,
            old_stps=old_stps,
            ro=ro,
            H_diag=h_diag,
            prev_flat_grad=prev_grad,
            prev_loss=prev_loss,
        )
        return orig_loss

    def _two_loop(self, q, old_dirs, old_stps, ro, h_diag) -> np.ndarray:
        """The inverse-Hessian approximation applied to `q` (the negative gradient)."""
        alphas = [0.0] * len(old_dirs)
        for i in range(len(old_dirs) - 1, -1, -1):
            alphas[i] = float(old_stps[i] @ q) * ro[i]
            q = q - self._dtype.type(alphas[i]) * old_dirs[i]
        r = q * self._dtype.type(h_diag)
        for i in range(len(old_dirs)):
            beta = float(old_dirs[i] @ r) * ro[i]
            r = r + self._dtype.type(alphas[i] - beta) * old_stps[i]
        return r

    # -- checkpoints: plain arrays and numbers, data only -------------------------------
    def state_dict(self) -> dict:
        options = {k: v for k, v in self.param_groups[0].items() if k != "params"}
        params = list(range(len(self._params)))
        return {"state": dict(self.state), "param_groups": [{**options, "params": params}]}

    def load_state_dict(self, state_dict: dict) -> None:
        (group,) = state_dict["param_groups"]
        if len(group["params"]) != len(self._params):
            raise ValueError(
                f"LBFGS.load_state_dict: the checkpoint has {len(group['params'])} parameters, "
                f"this optimizer {len(self._params)}"
            )
        self.param_groups[0].update({k: v for k, v in group.items() if k != "params"})
        self.state = dict(state_dict["state"])

    def __repr__(self) -> str:
        options = "\n".join(f"    {k}: {v}" for k, v in self.defaults.items())
        return f"LBFGS (\nParameter Group 0\n{options}\n)"
