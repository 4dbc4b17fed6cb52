"""The exact efficient frontier under group limits, linear rows and factor-exposure limits
(``constraints=`` of :func:`~microalloc.efficient_frontier` and :func:`~microalloc.max_sharpe`).

The parametric active-set path of frontier.cpp, with rows entering and leaving the working set
(docs/methods.md §4.1). For ``tau = 1 / risk_aversion`` the problem

    min (1/2)(w-b)'S(w-b) - tau mu'w   s.t.  A_hat w in [lo, hi],  l <= w <= u,

(row 0 of ``A_hat`` the budget, lo = hi = budget) has, for a fixed working set (free assets F, the
others held at a bound, active rows R held at a limit), a KKT system linear in tau:

    S_FF w_F + A_RF' lam = S_F.(b - w_H) + tau mu_F,   A_RF w_F = t_R - A_RH w_H.

So w = alpha + tau beta and lam = lam0 + tau lam1 along a segment. The segment holds while every
condition, each of the form p + tau q >= 0, holds: free weights inside their bounds, held assets'
reduced gradients of the right sign, inactive rows inside their limits, active rows' multipliers
of the right sign (>= 0 at an upper limit). The next turning point is the first condition to fail;
its asset or row changes sides. When that gives no usable system (ties, a vertex where the rows
leave no free asset), the working set is read off a certified rows solve just past the turning
point and accepted only if its own conditions hold back to the turning point and its weights meet
the path there. Every turning point is certified by the rows' duality gap (linear_rows.hpp), here
from the weights and the segment's multipliers.

The walk is in Python over numpy: each segment is one factorisation of the free block (|F| x |F|,
gathered from the covariance model) and four products with S. A frontier with rows keeps at most
O(n + |F|^2 + m n) at its peak.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import _core
from ._validate import EMPTY
from .status import Status, from_core

_TOL_P = 1e-9     # relative: a condition violated by less holds (rounding)
_TOL_Q = 1e-11    # relative: slopes below this are not events
_TIE = 1e-12      # relative: turning points this close are one
_PROBES = 48      # certified solves tried to find the working set past a turning point
_MAX_ITER = 20_000

FREE, LOWER, UPPER, FIXED = 0, 1, 2, 3  # sides of an asset; of a row: inactive, lower, upper, equality


@dataclass
class _Segment:
    side: np.ndarray   # (n,) int8
    rside: np.ndarray  # (m+1,) int8; row 0 the budget (always FIXED)
    alpha: np.ndarray
    beta: np.ndarray
    lam0: np.ndarray   # (m+1,) zero on inactive rows
    lam1: np.ndarray
    s_alpha: np.ndarray  # S alpha, S beta
    s_beta: np.ndarray
    cond: tuple | None = None  # the conditions, once computed (RowsWalk.conditions)

    def at(self, tau: float) -> np.ndarray:
        return self.alpha + tau * self.beta if self.beta.any() else self.alpha.copy()


class RowsWalk:
    """The walk; its steps in order: start, then per turning point next_turn, cross (or probe),
    certify, record; collect gives the core's frontier fields."""

    def __init__(self, p: Any, rows: Any, max_points: int) -> None:
        self.p, self.rows = p, rows
        self.cov, self.mu = p.cov, p.mu
        n = len(p.mu)
        self.n = n
        self.l, self.u, row_lo, row_hi = _presolve(rows.a, rows.row_lower, rows.row_upper, p.lower, p.upper)
        self.cert_l, self.cert_u = _implied_box(self.l, self.u, p.budget)  # the certificate's box
        self.b = p.benchmark if p.benchmark.size else np.zeros(n)
        self.sb = self.cov @ self.b if p.benchmark.size else np.zeros(n)
        self.a_hat = np.vstack([np.ones((1, n)), rows.a])
        self.lo = np.r_[p.budget, row_lo]
        self.hi = np.r_[p.budget, row_hi]
        self.dropped = ~(np.isfinite(row_lo) | np.isfinite(row_hi))  # rows the presolve made void
        diag = np.asarray(self.cov.diagonal(), dtype=float)
        self.mean_var = max(float(diag.mean()) if n else 1.0, 1e-300)
        self.mu_scale = max(float(np.abs(self.mu).max()) if n else 1.0, 1e-300)
        self.wscale = max(1.0, abs(p.budget))
        self.row_norm = np.maximum(np.abs(self.a_hat).sum(axis=1), 1e-300)
        self.tau_scale = self.mean_var * self.wscale / self.mu_scale  # where tau mu ~ S w
        self.max_points = max_points if max_points > 0 else 20 * (n + len(self.lo)) + 100
        self.points: list[tuple[float, np.ndarray, _Segment]] = []
        self.max_rel_gap = 0.0
        self.status, self.message = Status.OPTIMAL, ""
        self.unbounded = False
        self.singular = False  # stopped where no working set had a definite system
        self._held: tuple[np.ndarray, np.ndarray] | None = None  # (w_H, S w_H) of the last segment
        self._held_age = 0

    # ---- one segment: the KKT system of a working set
    def segment(self, side: np.ndarray, rside: np.ndarray) -> _Segment | None:
        """The segment of a working set, or None when its KKT system is singular."""
        free = np.flatnonzero(side == FREE)
        active = np.flatnonzero(rside != 0)
        if free.size == 0:
            return None
        w_held = np.where(side == UPPER, self.u, np.where(side == FREE, 0.0, self.l))
        w_held = np.where(np.isfinite(w_held), w_held, 0.0)
        target = np.where(rside[active] == UPPER, self.hi[active], self.lo[active])
        e = self.a_hat[np.ix_(active, free)]
        rhs_rows = target - self.a_hat[active] @ w_held
        s_held = self._s_held(w_held)
        c = self.sb - s_held
        solved = _kkt(self._free_block(free), e, np.column_stack([c[free], self.mu[free]]), rhs_rows,
                      sigma=self.mean_var)
        if solved is None:
            return None
        w_f, lam = solved
        alpha, beta = w_held.copy(), np.zeros(self.n)
        alpha[free], beta[free] = w_f[:, 0], w_f[:, 1]
        lam0, lam1 = np.zeros(len(self.lo)), np.zeros(len(self.lo))
        lam0[active], lam1[active] = lam[:, 0], lam[:, 1]
        s_free = self._s_free(free, w_f)  # S alpha = S w_H + S_.F alpha_F; S beta = S_.F beta_F
        return _Segment(side.copy(), rside.copy(), alpha, beta, lam0, lam1, s_held + s_free[:, 0], s_free[:, 1])

    def _s_held(self, w_held: np.ndarray) -> np.ndarray:
        """S w_H, updated by the columns of the assets that changed since the last segment (an event
        moves one) and recomputed from scratch every 32 segments (the updates drift by rounding)."""
        last = self._held
        if last is not None and self._held_age < 32:
            changed = np.flatnonzero(w_held != last[0])
            if changed.size <= 8:
                self._held_age += 1
                if changed.size:
                    delta = w_held[changed] - last[0][changed]
                    if isinstance(self.cov, np.ndarray):
                        update = delta @ self.cov[changed]  # S symmetric: rows, read contiguously
                    else:
                        full = np.zeros(self.n)
                        full[changed] = delta
                        update = self.cov @ full
                    last = (w_held, last[1] + update)
                    self._held = last
                return last[1]
        self._held, self._held_age = (w_held, self.cov @ w_held), 0
        return self._held[1]

    def _s_free(self, free: np.ndarray, w_f: np.ndarray) -> np.ndarray:
        """S_.F x_F for the two columns of the free weights (n x 2)."""
        if isinstance(self.cov, np.ndarray):  # S symmetric: the rows of F, read contiguously
            return (w_f.T @ self.cov[free]).T
        out = np.empty((self.n, 2))
        for j in range(2):
            full = np.zeros(self.n)
            full[free] = w_f[:, j]
            out[:, j] = self.cov @ full
        return out

    def _free_block(self, free: np.ndarray) -> np.ndarray:
        if isinstance(self.cov, np.ndarray):
            return self.cov[np.ix_(free, free)]
        return self.cov.gather(free, free)

    # ---- the conditions p + tau q >= 0 of a segment, with what each one's failure changes
    def conditions(self, seg: _Segment, tau: float) -> tuple[np.ndarray, ...]:
        """(p, q, p_tol, kind, index, new side): kind 0 an asset, 1 a row. The tolerance of the
        reduced gradients and multipliers grows with tau (their tau mu term); the rest is kept
        on the segment (every turning point asks for them two to four times)."""
        if seg.cond is None:
            seg.cond = self._conditions(seg)
        p, q, tol_w, tol_g, kind, idx, new = seg.cond
        return p, q, tol_w + tol_g * (self.mean_var * self.wscale + max(tau, self.tau_scale) * self.mu_scale), \
            kind, idx, new

    def _conditions(self, seg: _Segment) -> tuple[np.ndarray, ...]:
        parts: list[tuple] = []  # (p, q, weight tolerance, gradient tolerance factor, kind, index, new side)
        side, rside = seg.side, seg.rside
        wtol = _TOL_P * self.wscale
        fr = np.flatnonzero(side == FREE)
        for bound, sign, new in ((self.l, 1.0, LOWER), (self.u, -1.0, UPPER)):
            i = fr[np.isfinite(bound[fr])]
            parts.append((sign * (seg.alpha[i] - bound[i]), sign * seg.beta[i], wtol, 0.0, 0, i, new))
        gamma = seg.s_alpha - self.sb + self.a_hat.T @ seg.lam0
        delta = seg.s_beta - self.mu + self.a_hat.T @ seg.lam1
        for which, sign in ((LOWER, 1.0), (UPPER, -1.0)):
            i = np.flatnonzero(side == which)
            parts.append((sign * gamma[i], sign * delta[i], 0.0, _TOL_P, 0, i, FREE))
        v0, v1 = self.a_hat @ seg.alpha, self.a_hat @ seg.beta
        out = np.flatnonzero(rside == 0)
        for limit, sign, new in ((self.lo, 1.0, LOWER), (self.hi, -1.0, UPPER)):
            j = out[np.isfinite(limit[out])]
            parts.append((sign * (v0[j] - limit[j]), sign * v1[j], wtol * self.row_norm[j], 0.0, 1, j, new))
        for which, sign in ((UPPER, 1.0), (LOWER, -1.0)):
            j = np.flatnonzero(rside == which)
            parts.append((sign * seg.lam0[j], sign * seg.lam1[j], 0.0, _TOL_P / self.row_norm[j], 1, j, 0))
        sizes = [len(x[0]) for x in parts]
        return (np.concatenate([x[0] for x in parts]), np.concatenate([x[1] for x in parts]),
                np.concatenate([np.broadcast_to(x[2], (k,)) for x, k in zip(parts, sizes)]),
                np.concatenate([np.broadcast_to(x[3], (k,)) for x, k in zip(parts, sizes)]),
                np.repeat([x[4] for x in parts], sizes), np.concatenate([x[5] for x in parts]),
                np.repeat([x[6] for x in parts], sizes))

    def interval(self, seg: _Segment, tau: float, blocked: frozenset | set = frozenset()) -> tuple[float, float, int] | None:
        """(first, last, k): the segment's conditions hold for tau in [first, last]; k the condition
        that ends it (-1 when none does). None when they fail at ``tau`` itself. Conditions in
        ``blocked`` (their asset or row just crossed at ``tau``) cannot end it at ``tau``."""
        p, q, ptol, kind, idx, _ = self.conditions(seg, tau)
        if (p + tau * q < -ptol).any():
            return None
        qtol = _TOL_Q * np.abs(q).max(initial=0.0) + 1e-3 * ptol / max(tau, self.tau_scale)
        rising, falling = q > qtol, q < -qtol
        with np.errstate(divide="ignore", invalid="ignore"):
            cross = np.where(rising | falling, -p / np.where(rising | falling, q, 1.0), np.nan)
        first = float(np.max(cross[rising], initial=-np.inf))
        ends = np.where(falling, np.maximum(cross, tau), np.inf)
        for k in np.flatnonzero(falling & (ends <= tau * (1 + _TIE))):
            if (int(kind[k]), int(idx[k])) in blocked:
                ends[k] = np.inf
        end = int(np.argmin(ends)) if ends.size else -1
        last = float(ends[end]) if end >= 0 else np.inf
        return min(first, tau), last, (end if np.isfinite(last) else -1)

    # ---- the walk
    def run(self) -> None:
        found = self.start()
        if found is None or found[0] is None:
            return
        seg: _Segment = found[0]
        tau = found[1]
        if tau > 0.0:  # the minimum-variance point holds still up to tau
            self.record(tau, seg)
        blocked: set = set()
        stuck, at = 0, tau  # changes of the working set at one tau
        while self.status == Status.OPTIMAL:
            stuck = stuck + 1 if tau <= at * (1 + _TIE) else 0
            at = tau
            if stuck > 2 * len(self.lo) + self.n + 10:  # every asset and row once, and more: a cycle
                self.singular = _singular(self.cov)
                self.fail(Status.NUMERICAL_ERROR, f"the working set kept changing at risk aversion {_ra(tau):.6g}")
                return
            span = self.interval(seg, tau, blocked)
            if span is None:  # a segment checked where it starts fails there: never claim an end
                self.fail(Status.NUMERICAL_ERROR, f"the segment at risk aversion {_ra(tau):.6g} lost its conditions")
                return
            last, k = span[1], span[2]
            if k < 0:
                self.finish(seg, tau)
                return
            w = seg.at(last)
            nxt: _Segment | None = self.cross(seg, k, last)
            start = last
            if nxt is not None:
                blocked = (blocked if last <= tau * (1 + _TIE) else set()) | {self.crossed(seg, k, last)}
            else:
                probed = self.probe(last, w)
                if probed is None:
                    return
                (nxt, start), blocked = probed, set()
            if nxt is None or start > last:  # the weights stay at w from last to start
                self.record(last, _constant(seg, last))
            if nxt is None:  # ... for ever: the maximum-return end
                return
            tau, seg = start, nxt
            self.record(tau, seg)

    def crossed(self, seg: _Segment, k: int, tau: float) -> tuple[int, int]:
        _, _, _, kind, idx, _ = self.conditions(seg, tau)
        return int(kind[k]), int(idx[k])

    def cross(self, seg: _Segment, k: int, tau: float) -> _Segment | None:
        """The next segment by the event rule: condition k's asset or row changes sides. None when
        the new system is singular or does not hold at ``tau`` (ties, vertices: the probe decides)."""
        _, _, _, kind, idx, new = self.conditions(seg, tau)
        side, rside = seg.side.copy(), seg.rside.copy()
        (side if kind[k] == 0 else rside)[idx[k]] = new[k]
        nxt = self.segment(side, rside)
        if nxt is None or self.interval(nxt, tau) is None or not self.near(nxt.at(tau), seg.at(tau)):
            return None
        return nxt

    def near(self, x: np.ndarray, y: np.ndarray) -> bool:
        return bool(np.abs(x - y).max(initial=0.0) <= 1e-9 * self.wscale)

    def start(self) -> tuple[_Segment | None, float] | None:
        """The minimum-variance point and the segment that leaves it. A vertex (no free asset, or
        rows that leave the free ones no freedom) is certified by the rows solve's multipliers
        and left by probing."""
        seg, w, lam = self.read(0.0, EMPTY)
        if w is None:
            self.singular = _singular(self.cov)
            self.fail(Status.NUMERICAL_ERROR, "the minimum-variance portfolio under the constraints was not certified")
            return None
        if seg is not None and self.interval(seg, 0.0) is not None:
            self.record(0.0, seg)
            return seg, 0.0
        self.record(0.0, self.vertex(w, lam))
        return self.probe(0.0, w) if self.status == Status.OPTIMAL else None

    def vertex(self, w: np.ndarray, lam: np.ndarray) -> _Segment:
        """A constant segment at w whose multipliers are the rows solve's (at tau = 0), with the
        budget's chosen to make the box gap least (a weighted median)."""
        h = self.cov @ (w - self.b) + self.a_hat[1:].T @ lam
        nu = _least_gap_multiplier(h, w, self.l, self.u)
        lam_all = np.r_[nu, lam]
        side = np.where(w <= self.l, LOWER, np.where(w >= self.u, UPPER, FREE)).astype(np.int8)
        rside = np.r_[np.int8(FIXED), np.where(lam > 0, UPPER, np.where(lam < 0, LOWER, 0)).astype(np.int8)]
        zero = np.zeros(self.n)
        return _Segment(side, rside, w.copy(), zero, lam_all, np.zeros_like(lam_all), self.cov @ w, zero)

    def probe(self, tau: float, w: np.ndarray) -> tuple[_Segment | None, float] | None:
        """(segment, where it starts) past the turning point ``tau`` (at ``w``), read off certified rows solves at tau + step: a step that lands past a short
        segment is halved towards it, one that finds the weights still at ``w`` grows tenfold.
        (None, inf) when they stay at ``w`` up to 1e9 of the problem's scale of tau (the end)."""
        step = 1e-6 * max(tau, self.tau_scale)
        floor = 1e-12 * max(tau, self.tau_scale)  # a step below this no longer tells segments apart
        for _ in range(_PROBES):
            if step < floor:
                break
            t = tau + step
            seg, sol, _ = self.read(t, w)
            if self.status != Status.OPTIMAL:
                return None
            span = None if seg is None else self.interval(seg, t)
            still = sol is not None and self.near(sol, w)
            if span is None:
                if still and t >= 1e9 * max(tau, self.tau_scale):
                    return None, np.inf
                step *= 10.0 if still else 0.25
                continue
            first = max(span[0], tau)
            assert seg is not None  # span is not None
            if self.near(seg.at(first), w):
                return seg, first
            step = 10.0 * step if still else (0.5 * (first - tau) if first > tau else 0.25 * step)
        self.singular = True
        self.fail(Status.NUMERICAL_ERROR, f"the path could not be followed past risk aversion {_ra(tau):.6g}: no "
                                          "working set there has a definite system (a covariance singular on the "
                                          "free assets and active rows makes the path not unique)")
        return None

    def read(self, tau: float, start: np.ndarray) -> tuple[_Segment | None, Any, Any]:
        """The working set of a certified rows solve at tau (tau = 0: minimum variance): its
        segment (None when singular), the solve's weights and row multipliers in the units of the
        tau-scaled objective (None when it was not certified)."""
        rows, p = self.rows, self.p
        mu = np.zeros(self.n) if tau == 0.0 else self.mu
        ra = 1.0 if tau == 0.0 else 1.0 / tau
        raw, lam, _, _, _, _ = _core.solve_with_rows(
            self.cov, mu, p.lower, p.upper, p.benchmark, ra, p.budget, rows.a, rows.row_lower, rows.row_upper,
            start, p.tol, _MAX_ITER, EMPTY, EMPTY, EMPTY, math.inf, EMPTY)
        status = from_core(raw.status)
        if status == Status.INFEASIBLE:
            self.fail(Status.INFEASIBLE, "no portfolio meets the constraints")
        if status != Status.OPTIMAL:
            return None, None, None
        w = np.asarray(raw.weights, dtype=float)
        tol = 1e-9 * max(self.wscale, float(np.abs(w).max(initial=0.0)))  # not the width: bounds may be 1e300
        side = np.where(self.l == self.u, FIXED, np.where(w <= self.l + tol, LOWER,
                        np.where(w >= self.u - tol, UPPER, FREE))).astype(np.int8)
        lam_t = np.asarray(lam, dtype=float) / ra  # in the units of the tau-scaled objective
        ltol = 1e-10 * (self.mean_var * self.wscale + tau * self.mu_scale) / self.row_norm[1:]
        rside = np.where(self.lo[1:] == self.hi[1:], FIXED,
                         np.where(lam_t > ltol, UPPER, np.where(lam_t < -ltol, LOWER, 0))).astype(np.int8)
        rside[self.dropped] = 0
        return self.segment(side, np.r_[np.int8(FIXED), rside]), w, lam_t

    def finish(self, seg: _Segment, tau: float) -> None:
        """No condition ever fails: the path ends here, or runs on for ever along beta."""
        moving = np.abs(seg.beta).max(initial=0.0) * max(tau, self.tau_scale) > 1e-9 * self.wscale
        self.unbounded = bool(moving)
        if not moving:  # the last point's segment is constant
            self.points[-1] = (tau, self.points[-1][1], _constant(seg, tau))

    # ---- turning points
    def record(self, tau: float, seg: _Segment) -> None:
        w = seg.at(tau)
        if self.points and tau <= self.points[-1][0] * (1 + _TIE):
            self.points.pop()  # a zero-length segment: one turning point
        if len(self.points) >= self.max_points:
            self.fail(Status.MAX_ITER, f"more than {self.max_points} turning points")
            return
        if not self.certify(tau, w, seg):
            return
        self.points.append((tau, w, seg))

    def certify(self, tau: float, w: np.ndarray, seg: _Segment) -> bool:
        """The rows' duality gap at w with the segment's multipliers, and w's feasibility."""
        lam = seg.lam0 + tau * seg.lam1
        # any multipliers give a valid bound: those of a row at one limit are kept to its side (a
        # rounding-sized one of the other sign would price the infinite other limit)
        lam = np.where(seg.rside == UPPER, np.maximum(lam, 0.0), np.where(seg.rside == LOWER, np.minimum(lam, 0.0), lam))
        g = seg.s_alpha + tau * seg.s_beta - self.sb - tau * self.mu
        h = g + self.a_hat[1:].T @ lam[1:]
        values = self.a_hat @ w
        with np.errstate(invalid="ignore"):
            comp = np.where(lam[1:] > 0, lam[1:] * (self.hi[1:] - values[1:]), 0.0) + \
                np.where(lam[1:] < 0, -lam[1:] * (values[1:] - self.lo[1:]), 0.0)
        comp = np.where(np.isnan(comp) | np.isinf(comp), np.inf, comp)
        gtol = 1e-9 * max(np.abs(g).max(initial=0.0), 1e-300)
        # any budget multiplier gives a valid bound: the segment's, else the one that makes the box
        # gap least (where a thousand free assets leave the segment's 1e-9 of the gap)
        gap = float(comp.sum()) + self._box_gap(h + lam[0], w, gtol)
        risk_sq = max(float((w - self.b) @ (g + tau * self.mu)), 0.0)
        scale = max(0.5 * risk_sq + tau * abs(float(self.mu @ w)), 1e-4 * self.mean_var * self.wscale**2)
        if gap > self.p.tol * scale:
            gap = min(gap, float(comp.sum()) + self._box_gap(
                h + _least_gap_multiplier(h, w, self.cert_l, self.cert_u), w, gtol))
        rel = gap / scale
        self.max_rel_gap = max(self.max_rel_gap, rel)
        excess = np.maximum(np.maximum(values - self.hi, self.lo - values) / self.row_norm, 0.0).max()
        bounds = max(np.maximum(self.l - w, 0.0).max(initial=0.0), np.maximum(w - self.u, 0.0).max(initial=0.0))
        if not (rel <= self.p.tol and excess <= 1e-9 * self.wscale and bounds <= 1e-9 * self.wscale):
            self.fail(Status.NUMERICAL_ERROR, f"the certificate failed at risk aversion {_ra(tau):.6g} "
                                              f"(rel_gap {rel:.2e}, row excess {excess:.2e})")
            return False
        return True

    def _box_gap(self, r: np.ndarray, w: np.ndarray, gtol: float) -> float:
        """The box-and-budget gap of the reduced gradient r at w (an infinite bound enters only
        through an r that should be 0: within gtol it is, else the gap is infinite)."""
        with np.errstate(invalid="ignore"):
            box = np.where(r > 0, r * (w - self.cert_l), 0.0) + np.where(r < 0, -r * (self.cert_u - w), 0.0)
        box = np.where(np.isnan(box) | np.isinf(box), np.where(np.abs(r) <= gtol, 0.0, np.inf), box)
        return float(box.sum())

    def fail(self, status: Status, message: str) -> None:
        if self.status == Status.OPTIMAL:
            self.status, self.message = status, message

    def collect(self, elapsed: float) -> dict:
        """The fields of the core's frontier (frontier._from_raw reads them)."""
        pts = self.points
        tau = np.array([t for t, _, _ in pts])
        weights = np.array([w for _, w, _ in pts]).reshape(len(pts), self.n)
        seg = np.array([_coefficients(s, self.mu, self.b, self.sb) for _, _, s in pts]).reshape(len(pts), 5)
        risk = np.sqrt(np.maximum(seg[:, 2] + 2 * tau * seg[:, 3] + tau**2 * seg[:, 4], 0.0)) if len(pts) else tau
        return {
            "status": self.status, "message": self.message, "tau": tau, "weights": weights,
            "expected_return": weights @ self.mu, "risk": risk,
            "mean0": seg[:, 0], "mean1": seg[:, 1], "var0": seg[:, 2], "var1": seg[:, 3], "var2": seg[:, 4],
            "unbounded": self.unbounded, "ray": pts[-1][2].beta if self.unbounded else EMPTY,
            "truncated": False, "singular": self.singular, "max_rel_gap": self.max_rel_gap, "solve_time_s": elapsed,
        }


def _kkt(s_ff: np.ndarray, e: np.ndarray, rhs: np.ndarray, rhs_rows: np.ndarray, *, sigma: float):
    """Solves S_FF x + E' lam = rhs (two columns), E x = [rhs_rows, 0], by the range space:
    H = S_FF + sigma 11' (the budget is row 0 of E, so 1'x is fixed and the shift changes nothing
    but makes H definite where S_FF is only so on the budget plane), refined once by the system's
    residuals (at a thousand free assets one solve leaves 1e-9 of the gap). Rows that depend on
    the others on F (a row equal to the budget, a group with no free asset, sector limits fixing
    the budget between them) are left out: their multipliers are 0 and they hold because the
    others do, which is checked. None when H is singular or a dependent row does not hold."""
    h = s_ff + sigma
    if _cholesky(h) is None:
        return None
    h_inv = np.linalg.inv(h)
    shift = np.zeros_like(rhs)
    shift[:, 0] = sigma * rhs_rows[0]  # sigma 1 (1'x) with 1'x = the budget row's right-hand side
    rhs = rhs + shift
    rows = np.column_stack([rhs_rows, np.zeros(len(rhs_rows))])
    z_all = h_inv @ e.T
    kk_all = e @ z_all
    keep = _independent(kk_all)
    e_k, z_e, kk = e[keep], z_all[:, keep], kk_all[np.ix_(keep, keep)]

    def solve(r_free, r_rows):
        z_r = h_inv @ r_free
        lam = np.linalg.solve(kk, e_k @ z_r - r_rows)
        return z_r - z_e @ lam, lam

    x, lam = solve(rhs, rows[keep])
    dx, dlam = solve(rhs - h @ x - e_k.T @ lam, rows[keep] - e_k @ x)
    x, lam = x + dx, lam + dlam
    scale = (1.0 + np.abs(rows).max(initial=0.0)) * max(1.0, float(np.abs(e).sum(axis=1).max(initial=0.0)))
    if np.abs(e @ x - rows).max(initial=0.0) > 1e-9 * scale:
        return None
    lam_all = np.zeros((e.shape[0], 2))
    lam_all[keep] = lam
    return x, lam_all


def _independent(kk: np.ndarray) -> list[int]:
    """The rows, in order, whose block of E H^-1 E' stays definite as each is added (a greedy
    pivoted Cholesky: the budget, row 0, comes first)."""
    if _cholesky(kk) is not None:  # the usual case: all of them
        return list(range(kk.shape[0]))
    keep: list[int] = []
    for i in range(kk.shape[0]):
        if _cholesky(kk[np.ix_(keep + [i], keep + [i])]) is not None:
            keep.append(i)
    return keep


def _cholesky(m: np.ndarray) -> np.ndarray | None:
    try:
        c = np.linalg.cholesky(m)
    except np.linalg.LinAlgError:
        return None
    d = np.diag(c) ** 2
    return c if d.size and d.min() > 1e-12 * max(np.abs(np.diag(m)).max(), 1e-300) else None


def _presolve(a: np.ndarray, row_lo: np.ndarray, row_hi: np.ndarray, lower: np.ndarray,
              upper: np.ndarray) -> tuple[np.ndarray, ...]:
    """Bounds and row limits with the rows that the bounds decide taken out (relative 1e-12): a
    side the bounds never reach is void (a single-asset cap at the asset's own bound), and a limit
    only the bounds' extreme meets (a sector capped at 0, a floor equal to its assets' caps) fixes
    the row's assets at that extreme and voids the row. Such rows have multipliers that the free
    assets do not determine; the walk would find no definite system at their vertices."""
    lo_out, up_out = lower.copy(), upper.copy()
    row_lo, row_hi = row_lo.copy(), row_hi.copy()
    with np.errstate(invalid="ignore"):
        top = np.where(a > 0, a * upper, np.where(a < 0, a * lower, 0.0)).sum(axis=1)  # the most a w can be
        least = np.where(a > 0, a * lower, np.where(a < 0, a * upper, 0.0)).sum(axis=1)
    def meets(x: float, y: float) -> bool:  # x >= y to a relative 1e-12 of the two
        return bool(np.isfinite(y) and x >= y - 1e-12 * max(1.0, abs(x) if np.isfinite(x) else 1.0, abs(y)))

    for j in range(a.shape[0]):
        fix_top, fix_least = meets(row_lo[j], top[j]), meets(-row_hi[j], -least[j])
        if fix_top or fix_least:
            on = a[j] != 0
            at_upper = (a[j] > 0) == fix_top  # the bound each asset takes at the row's extreme
            value = np.where(at_upper, upper, lower)
            lo_out[on], up_out[on] = value[on], value[on]
            row_lo[j], row_hi[j] = -np.inf, np.inf
            continue
        if meets(row_hi[j], top[j]):
            row_hi[j] = np.inf
        if meets(-row_lo[j], -least[j]):
            row_lo[j] = -np.inf
    return lo_out, up_out, row_lo, row_hi


def _implied_box(lower: np.ndarray, upper: np.ndarray, budget: float) -> tuple[np.ndarray, np.ndarray]:
    """The box the budget implies: u_i <= budget - (the others' lower bounds), and l_i likewise.
    The others' sums are prefix plus suffix sums (the total minus one's own cancels to 0 beside a
    1e300 bound)."""
    def others(x: np.ndarray) -> np.ndarray:
        finite = np.where(np.isfinite(x), x, 0.0)
        before = np.r_[0.0, np.cumsum(finite)[:-1]]
        after = np.r_[np.cumsum(finite[::-1])[::-1][1:], 0.0]
        n_inf = (~np.isfinite(x)).sum()
        own_inf = ~np.isfinite(x)
        ok = (n_inf == 0) | ((n_inf == 1) & own_inf)  # the others' sum is finite
        return np.where(ok, before + after, np.nan)

    with np.errstate(invalid="ignore"):
        up = np.fmin(upper, budget - others(lower))
        lo = np.fmax(lower, budget - others(upper))
    return np.minimum(lo, upper), np.maximum(up, lower)


def _singular(cov: Any) -> bool:
    """The covariance is singular (relative 1e-12), so paths under rows may not be unique."""
    if isinstance(cov, np.ndarray):
        ev = np.linalg.eigvalsh(cov) if cov.size else np.ones(1)
        return bool(ev[0] <= 1e-12 * max(abs(ev[-1]), 1e-300))
    return bool(np.asarray(cov.diagonal()).min(initial=1.0) <= 0.0)  # a factor model: a riskless asset


def _least_gap_multiplier(h: np.ndarray, w: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    """The nu that makes sum max(h+nu, 0)(w-l) + max(-(h+nu), 0)(u-w) least: the gap's slope in
    nu, sum_{h_i > -nu} (w_i - l_i) - sum_{h_i < -nu} (u_i - w_i), changes sign at nu = -h_k for
    the k where the room below (w - l, taken from the largest -h down) meets the room above."""
    order = np.argsort(-h)  # candidates nu = -h_k, increasing
    below = np.nan_to_num(w - lower, posinf=1e300)[order]
    above = np.nan_to_num(upper - w, posinf=1e300)[order]
    # slope just above nu = -h_k: assets with h_i > h_k (earlier in the order) ... as nu rises
    # past -h_k, asset k moves from the 'above' side to the 'below' side
    slope = np.cumsum(below) - (above.sum() - np.cumsum(above))
    k = int(np.searchsorted(slope, 0.0)) if h.size else 0
    return float(-h[order[min(k, h.size - 1)]]) if h.size else 0.0


def _constant(seg: _Segment, tau: float) -> _Segment:
    w = seg.at(tau)
    return _Segment(seg.side, seg.rside, w, np.zeros_like(w), seg.lam0 + tau * seg.lam1, np.zeros_like(seg.lam1),
                    seg.s_alpha + tau * seg.s_beta, np.zeros_like(w))


def _coefficients(seg: _Segment, mu: np.ndarray, b: np.ndarray, sb: np.ndarray) -> tuple[float, ...]:
    """mean = m0 + tau m1, (w-b)'S(w-b) = v0 + 2 tau v1 + tau^2 v2 along the segment."""
    d = seg.alpha - b
    return (float(mu @ seg.alpha), float(mu @ seg.beta), float(d @ (seg.s_alpha - sb)), float(d @ seg.s_beta),
            float(seg.beta @ seg.s_beta))


def _ra(tau: float) -> float:
    return math.inf if tau == 0 else 1.0 / tau


def walk(p: Any, rows: Any, max_points: int) -> dict:
    """The frontier's fields (as the core's efficient_frontier returns them) under rows."""
    started = time.perf_counter()
    w = RowsWalk(p, rows, max_points)
    w.run()
    return w.collect(time.perf_counter() - started)
