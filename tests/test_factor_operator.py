"""The factor-model covariance operator of the core (``_core.FactorModel``) and its free block.

Every operation is checked against numpy on the formed matrix S = X F X' + diag(d) (the code under
test never forms it), and the quadratic form against exact rational arithmetic. The free block is
driven through random sequences of reset / assign / append / remove and checked after each step
against ``np.linalg.solve`` on the formed Ht_FF = ra S_FF + sigma 11'; its Singular verdict is
checked against the eigenvalues of the formed Ht_{F+j}.
"""

from __future__ import annotations

import gc
import sys
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from microalloc import _core

EPS = np.finfo(float).eps


# ---------------------------------------------------------------------------------------------
# Models


class Model:
    """Arrays of a factor model and the formed S (for the checks only)."""

    def __init__(self, X: np.ndarray, F: np.ndarray, d: np.ndarray) -> None:
        self.X, self.F, self.d = X, F, d
        self.S = X @ F @ X.T + np.diag(d)
        # |X| |F| |X'| + diag(d): the scale of the rounding of any entry computed from the factors
        self.absS = np.abs(X) @ np.abs(F) @ np.abs(X).T + np.diag(d)
        self.core = _core.FactorModel(X, F, d)

    @property
    def n(self) -> int:
        return len(self.d)


@st.composite
def models(draw: st.DrawFn, max_n: int = 60, max_k: int = 10) -> Model:
    n = draw(st.integers(1, max_n))
    k = draw(st.integers(1, max_k))
    rank = draw(st.integers(0, k))  # F rank-deficient (or zero) sometimes
    zero_d = draw(st.sampled_from([0.0, 0.0, 0.2, 0.6]))  # share of assets with d = 0
    n_dup = draw(st.integers(0, n // 2))  # duplicated loadings
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((k, rank)) * rng.uniform(0.05, 1.0)
    F = A @ A.T
    F = 0.5 * (F + F.T)
    X = rng.standard_normal((n, k))
    d = rng.uniform(0.05, 1.0, n)
    d[rng.random(n) < zero_d] = 0.0
    for _ in range(n_dup):
        i, j = rng.integers(0, n, 2)
        X[j] = X[i]
        if rng.random() < 0.5:
            d[j] = d[i]
    return Model(np.ascontiguousarray(X), F, d)


def random_model(rng: np.random.Generator, n: int, k: int, rank: int | None = None) -> Model:
    rank = k if rank is None else rank
    A = rng.standard_normal((k, rank)) / np.sqrt(k)
    return Model(rng.standard_normal((n, k)), A @ A.T, rng.uniform(0.05, 1.0, n))


# ---------------------------------------------------------------------------------------------
# The operator


@given(models(), st.integers(0, 2**32 - 1))
@settings(max_examples=150)
def test_products_match_the_formed_matrix(m: Model, seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = m.n
    x = rng.standard_normal(n)
    tol = 64 * EPS * (m.absS @ np.abs(x)) + 1e-300
    assert np.all(np.abs(m.core.apply(x) - m.S @ x) <= tol)

    W = rng.standard_normal((int(rng.integers(1, 6)), n))
    tol_rows = 64 * EPS * (np.abs(W) @ m.absS)
    assert m.core.apply_rows(W).shape == W.shape
    assert np.all(np.abs(m.core.apply_rows(W) - W @ m.S) <= tol_rows + 1e-300)

    j = int(rng.integers(0, n))
    alpha = float(rng.standard_normal())
    y0 = rng.standard_normal(n)
    y = y0.copy()
    assert m.core.add_column(j, alpha, y) is None
    assert np.all(np.abs(y - (y0 + alpha * m.S[:, j])) <= 64 * EPS * (np.abs(y0) + abs(alpha) * m.absS[:, j]))

    assert np.all(np.abs(m.core.diagonal() - np.diag(m.S)) <= 64 * EPS * np.diag(m.absS))
    assert (m.core.n, m.core.k) == (n, m.X.shape[1])
    # the rank is that of F: the eigenvalues above 1e-12 of the largest (the model's rule); a draw
    # with one within a factor 100 of that line (a nearly dependent A) cannot tell either way
    lam = np.linalg.eigvalsh(m.F)
    top = max(lam.max(), 0.0)
    if not np.any((lam > 1e-14 * top) & (lam < 1e-10 * top)):
        assert m.core.rank == int(np.sum(lam > 1e-12 * top))


@given(models(), st.integers(0, 2**32 - 1))
@settings(max_examples=100)
def test_gather_matches_the_formed_matrix(m: Model, seed: int) -> None:
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, m.n, int(rng.integers(0, 2 * m.n + 1)))  # repeats and any order
    cols = rng.integers(0, m.n, int(rng.integers(0, 2 * m.n + 1)))
    got = m.core.gather(rows, cols)
    assert got.shape == (len(rows), len(cols))
    assert np.all(np.abs(got - m.S[np.ix_(rows, cols)]) <= 64 * EPS * m.absS[np.ix_(rows, cols)])
    # the diagonal entries are exactly the model's variances
    diag = m.core.diagonal()
    for a, i in enumerate(rows):
        for b, jj in enumerate(cols):
            if i == jj:
                assert got[a, b] == diag[i]


def test_gather_of_more_than_one_block() -> None:
    rng = np.random.default_rng(5)
    m = random_model(rng, 700, 4)
    rows = rng.permutation(700)[:600]
    cols = np.arange(700)
    assert np.allclose(m.core.gather(rows, cols), m.S[np.ix_(rows, cols)], rtol=1e-13, atol=1e-13)


def exact_quadratic(m: Model, x: np.ndarray) -> Fraction:
    X = [[Fraction(v) for v in row] for row in m.X.tolist()]
    xs = [Fraction(v) for v in x.tolist()]
    k = m.X.shape[1]
    t = [sum((X[i][a] * xs[i] for i in range(m.n)), Fraction(0)) for a in range(k)]
    F = [[Fraction(v) for v in row] for row in m.F.tolist()]
    q = sum((t[a] * F[a][b] * t[b] for a in range(k) for b in range(k)), Fraction(0))
    return q + sum((Fraction(di) * xi * xi for di, xi in zip(m.d.tolist(), xs, strict=True)), Fraction(0))


@given(models(max_n=30, max_k=6), st.integers(0, 2**32 - 1), st.booleans())
@settings(max_examples=60)
def test_quadratic_is_accurate_and_non_negative(m: Model, seed: int, hedged: bool) -> None:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(m.n)
    if hedged and m.n > m.X.shape[1]:
        # a portfolio with (almost) no factor exposure: X'x cancels
        q, _ = np.linalg.qr(m.X, mode="complete")
        x = q[:, m.X.shape[1] :] @ rng.standard_normal(m.n - m.X.shape[1])
    got = m.core.quadratic(x)
    assert got >= 0.0
    exact = exact_quadratic(m, x)
    scale = float(np.abs(x) @ m.absS @ np.abs(x))
    assert abs(Fraction(got) - exact) <= Fraction(1e-13) * Fraction(scale) + Fraction(1e-300)


def test_quadratic_of_a_hedged_portfolio_with_no_specific_risk() -> None:
    # d = 0 and X'x = 0 exactly: x'Sx = 0. The model works on V = X R (R irrational), so V'x is
    # only about eps x sum |x_i v_i| (here 1e-15): the form is that squared, and never negative.
    X = np.array([[1.0, 2.0], [1.0, -1.0], [2.0, 1.0], [0.5, 3.0]])
    x = np.array([1.0, 1.0, -1.0, 0.0])  # X'x = (0, 0)
    m = _core.FactorModel(X, np.array([[2.0, 0.3], [0.3, 1.0]]), np.zeros(4))
    assert 0.0 <= m.quadratic(x) <= 1e-28


def test_factor_covariance_with_no_rank() -> None:
    # F = 0: S = diag(d), rank 0
    m = Model(np.ones((3, 2)), np.zeros((2, 2)), np.array([1.0, 2.0, 0.0]))
    assert m.core.rank == 0
    x = np.array([1.0, -2.0, 3.0])
    assert np.array_equal(m.core.apply(x), m.S @ x)
    assert m.core.quadratic(x) == 9.0


def test_the_model_borrows_its_arrays_and_keeps_them_alive() -> None:
    rng = np.random.default_rng(1)
    X, A, d = rng.standard_normal((5, 2)), rng.standard_normal((2, 2)), rng.uniform(0.1, 1.0, 5)
    F = A @ A.T
    counts = [sys.getrefcount(a) for a in (X, F, d)]
    m = _core.FactorModel(X, F, d)
    # one more reference to each array (held by the model), no copy
    assert [sys.getrefcount(a) for a in (X, F, d)] == [c + 1 for c in counts]
    S = X @ F @ X.T + np.diag(d)
    del X, F, d
    gc.collect()
    x = rng.standard_normal(5)
    assert np.allclose(m.apply(x), S @ x, rtol=1e-14, atol=1e-14)
    block = m.free_block()
    del m
    gc.collect()
    assert block.reset(np.array([0, 2]), 1.0, 0.0)  # the block keeps its model alive
    assert np.allclose(block.solve(np.array([1.0, 2.0])), np.linalg.solve(S[np.ix_([0, 2], [0, 2])], [1.0, 2.0]))


def test_bad_arguments_raise() -> None:
    X, F, d = np.ones((3, 2)), np.eye(2), np.ones(3)
    with pytest.raises(TypeError):  # not float64: no conversion (that would copy)
        _core.FactorModel(X.astype(np.float32), F, d)
    with pytest.raises(TypeError):  # not C-contiguous
        _core.FactorModel(np.asfortranarray(np.ones((3, 2))), F, d)
    with pytest.raises(ValueError, match="specific_var"):
        _core.FactorModel(X, F, np.ones(4))
    with pytest.raises(ValueError, match="factor_cov"):
        _core.FactorModel(X, np.eye(3), d)
    with pytest.raises(ValueError, match="loadings"):
        _core.FactorModel(np.ones(3), F, d)
    with pytest.raises(ValueError, match="not symmetric"):
        _core.FactorModel(X, np.array([[1.0, 0.5], [0.4, 1.0]]), d)
    with pytest.raises(ValueError, match="not positive semidefinite"):
        _core.FactorModel(X, np.array([[1.0, 2.0], [2.0, 1.0]]), d)
    with pytest.raises(ValueError, match="negative"):
        _core.FactorModel(X, F, np.array([1.0, -1e-30, 1.0]))
    with pytest.raises(ValueError, match="non-finite"):
        _core.FactorModel(np.array([[1.0, np.nan], [0.0, 1.0], [1.0, 1.0]]), F, d)
    m = _core.FactorModel(X, F, d)
    with pytest.raises(ValueError):
        m.apply(np.ones(4))
    with pytest.raises(ValueError):
        m.apply_rows(np.ones((2, 4)))
    with pytest.raises(ValueError):
        m.quadratic(np.ones(2))
    with pytest.raises(ValueError):
        m.add_column(0, 1.0, np.ones(2))
    with pytest.raises(IndexError):
        m.add_column(3, 1.0, np.ones(3))
    with pytest.raises(IndexError):
        m.gather(np.array([0, 3]), np.array([0]))
    fb = m.free_block()
    with pytest.raises(ValueError):
        fb.reset(np.array([0, 0]), 1.0, 0.0)  # repeated
    with pytest.raises(IndexError):
        fb.assign(np.array([5]), 1.0, 0.0)
    with pytest.raises(ValueError):
        fb.reset(np.array([0]), 0.0, 0.0)  # ra must be > 0
    assert fb.reset(np.array([0]), 1.0, 0.0)
    with pytest.raises(ValueError):
        fb.append(0)  # already free
    with pytest.raises(ValueError):
        fb.solve(np.ones(2))
    with pytest.raises(IndexError):
        fb.remove(1)


# ---------------------------------------------------------------------------------------------
# The free block


def ht(m: Model, ra: float, sigma: float, F: list[int]) -> np.ndarray:
    return ra * m.S[np.ix_(F, F)] + sigma


def check_solve(m: Model, block: object, ra: float, sigma: float, F: list[int], rng: np.random.Generator) -> None:
    assert block.size() == len(F)  # type: ignore[attr-defined]
    if not F:
        return
    H = ht(m, ra, sigma, F)
    b = rng.standard_normal(len(F))
    x = block.solve(b)  # type: ignore[attr-defined]
    # backward error: a stable solve (residual against the formed matrix, in its own scale)
    absH = ra * m.absS[np.ix_(F, F)] + sigma
    resid = np.abs(H @ x - b)
    assert np.all(resid <= 1e-12 * (absH @ np.abs(x) + np.abs(b))), resid.max()
    # forward error against numpy, relative to the conditioning of Ht_FF: the entries of Ht_FF are
    # themselves known to rounding of the scale of |X||F||X'| (numpy forms X F X', the core V V'),
    # so the bound grows by that scale over Ht_FF's where the factors cancel
    ref = np.linalg.solve(H, b)
    cond = np.linalg.cond(H)
    cancel = max(1.0, np.linalg.norm(absH, 2) / np.linalg.norm(H, 2))
    assert np.linalg.norm(x - ref) <= 1e-13 * cond * cancel * np.linalg.norm(ref) + 1e-300, (F, cond, cancel)


def singular_verdict(m: Model, ra: float, sigma: float, F: list[int], j: int) -> bool | None:
    """Whether Ht_{F+j} is singular, from its eigenvalues; None when too close to call."""
    lam = np.linalg.eigvalsh(ht(m, ra, sigma, [*F, j]))
    top = max(lam[-1], 1e-300)
    if lam[0] <= 1e-13 * top:
        return True
    if lam[0] >= 1e-8 * top:
        return False
    return None


def check_append(m: Model, block: object, ra: float, sigma: float, F: list[int], j: int) -> bool:
    status, direction = block.append(j)  # type: ignore[attr-defined]
    assert status in ("ok", "singular")  # a factor model is PSD: never negative curvature
    verdict = singular_verdict(m, ra, sigma, F, j)
    if verdict is not None:
        assert (status == "singular") == verdict, (status, F, j)
    if status == "singular":
        # dir = Ht_FF^{-1} Ht_{F,j}, and F is unchanged
        H = ht(m, ra, sigma, F)
        h = ra * m.S[F, j] + sigma
        assert direction.shape == (len(F),)
        scale = (ra * m.absS[np.ix_(F, F)] + sigma) @ np.abs(direction) + np.abs(h)
        assert np.all(np.abs(H @ direction - h) <= 1e-11 * scale)
        return False
    assert direction is None
    F.append(j)
    return True


@given(models(max_n=40, max_k=8), st.integers(0, 2**32 - 1))
@settings(max_examples=80)
def test_free_block_follows_random_sequences(m: Model, seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = m.n
    block = m.core.free_block()
    F: list[int] = []
    ra, sigma = 1.0, 0.0
    for _ in range(25):
        op = rng.choice(["reset", "assign", "append", "append", "remove"])
        if op in ("reset", "assign"):
            ra = float(rng.choice([0.5, 1.0, 3.0]))
            sigma = float(rng.choice([0.0, 0.0, 0.1 * ra * np.mean(np.diag(m.S))]))
            if op == "assign" and F:
                # keep some, drop some, add some: the incremental path
                keep = [i for i in F if rng.random() < 0.7]
                new = [int(i) for i in rng.permutation(n) if int(i) not in F and rng.random() < 0.2]
                cand = keep + new
                rng.shuffle(cand)
            else:
                cand = [int(i) for i in rng.permutation(n)[: int(rng.integers(0, n + 1))]]
            ok = block.reset(np.array(cand, dtype=np.int64), ra, sigma) if op == "reset" else block.assign(
                np.array(cand, dtype=np.int64), ra, sigma
            )
            # False exactly when Ht_FF is singular (up to the zone too close to call)
            if cand:
                lam = np.linalg.eigvalsh(ht(m, ra, sigma, cand))
                if lam[0] <= 1e-13 * lam[-1]:
                    assert not ok
                elif lam[0] >= 1e-8 * lam[-1]:
                    assert ok
            else:
                assert ok
            F = list(cand) if ok else []
        elif op == "append":
            outside = [i for i in range(n) if i not in F]
            if outside:
                check_append(m, block, ra, sigma, F, int(rng.choice(outside)))
        elif F:
            pos = int(rng.integers(0, len(F)))
            block.remove(pos)
            del F[pos]
        check_solve(m, block, ra, sigma, F, rng)


@given(models(max_n=30, max_k=5), st.integers(0, 2**32 - 1))
@settings(max_examples=40)
def test_assign_gives_the_same_factorisation_as_reset(m: Model, seed: int) -> None:
    rng = np.random.default_rng(seed)
    a, b = m.core.free_block(), m.core.free_block()
    sigma = 0.2 * np.mean(np.diag(m.S))
    first = [int(i) for i in rng.permutation(m.n)[: m.n // 2]]
    assume(a.reset(np.array(first, dtype=np.int64), 1.0, sigma))
    second = [int(i) for i in rng.permutation(m.n)[: int(rng.integers(1, m.n + 1))]]
    ok_a = a.assign(np.array(second, dtype=np.int64), 2.0, sigma)
    ok_b = b.reset(np.array(second, dtype=np.int64), 2.0, sigma)
    assert ok_a == ok_b
    if ok_a:
        rhs = rng.standard_normal(len(second))
        assert np.allclose(a.solve(rhs), b.solve(rhs), rtol=1e-9, atol=1e-12 * np.abs(b.solve(rhs)).max())
    else:
        assert a.size() == 0 == b.size()


def test_singular_exactly_when_zero_d_assets_outnumber_the_factors() -> None:
    # k = 3, F full rank, 6 assets with d = 0: at most r = 3 of them (r + 1 = 4 with sigma > 0)
    # can be free together; a 4th (5th) makes Ht singular.
    rng = np.random.default_rng(3)
    n = 10
    X = rng.standard_normal((n, 3))
    d = rng.uniform(0.2, 1.0, n)
    d[:6] = 0.0
    m = Model(X, np.diag([1.0, 0.5, 0.2]), d)
    for sigma, limit in ((0.0, 3), (0.3, 4)):
        block = m.core.free_block()
        F = [7, 8]
        assert block.reset(np.array(F), 1.5, sigma)
        for j in range(6):
            free_before = len(F)
            check_append(m, block, 1.5, sigma, F, j)
            assert (len(F) > free_before) == (j < limit), (sigma, j)
        # a positive-d asset can always come in
        assert check_append(m, block, 1.5, sigma, F, 9)
        check_solve(m, block, 1.5, sigma, F, rng)


def test_duplicate_of_a_zero_d_asset_is_singular() -> None:
    rng = np.random.default_rng(4)
    X = rng.standard_normal((6, 4))
    X[5] = X[1]
    d = np.array([0.3, 0.0, 0.5, 0.4, 0.6, 0.0])
    m = Model(X, np.eye(4), d)
    block = m.core.free_block()
    F = [0, 1, 2]
    assert block.reset(np.array(F), 1.0, 0.0)
    assert not check_append(m, block, 1.0, 0.0, F, 5)
    assert F == [0, 1, 2] and block.size() == 3
    # with d > 0 the duplicate is fine
    assert check_append(m, block, 1.0, 0.0, F, 4)
    # reset and assign refuse a set holding both, and leave the set empty
    assert not block.reset(np.array([1, 5]), 1.0, 0.0)
    assert block.size() == 0
    assert block.reset(np.array([0, 1]), 1.0, 0.0)
    assert not block.assign(np.array([0, 1, 5]), 1.0, 0.0)
    assert block.size() == 0


def test_zero_variance_asset_is_singular_without_shift() -> None:
    # an asset with no loadings and d = 0 (cash-like): Ht_jj = sigma
    X = np.array([[1.0], [0.5], [0.0]])
    m = Model(X, np.eye(1), np.array([0.2, 0.3, 0.0]))
    block = m.core.free_block()
    assert block.reset(np.array([0, 1]), 1.0, 0.0)
    status, direction = block.append(2)
    assert status == "singular" and np.array_equal(direction, np.zeros(2))
    assert block.assign(np.array([0, 1]), 1.0, 0.5)
    F = [0, 1]
    assert check_append(m, block, 1.0, 0.5, F, 2)
    check_solve(m, block, 1.0, 0.5, F, np.random.default_rng(0))


def min_relative_pivot(H: np.ndarray) -> float:
    """Smallest Cholesky pivot of H over its diagonal entry (numpy, in the given order)."""
    try:
        L = np.linalg.cholesky(H)
    except np.linalg.LinAlgError:
        return 0.0
    return float(np.min(np.diag(L) ** 2 / np.diag(H)))


def test_tiny_specific_variances_go_to_the_dense_block() -> None:
    # d / S_ii from 1e-3 down to 1e-17: Woodbury alone would lose up to all digits (below eps the
    # capacitance matrix cannot even hold its identity part); the dense block and the refinement
    # keep the solve backward stable.
    rng = np.random.default_rng(6)
    n, k = 30, 3
    X = rng.standard_normal((n, k))
    d = rng.uniform(0.1, 1.0, n)
    d[:12] = np.logspace(-3, -17, 12) * np.sum(X[:12] ** 2, axis=1)
    m = Model(X, np.eye(k), d)
    block = m.core.free_block()
    for drop in ([], [11], [10, 11], [7, 8, 9, 10, 11], [0, 1, 2, 3, 4, 5]):
        F = [int(i) for i in rng.permutation(n) if i not in drop]
        for sigma in (0.0, 0.5):
            ok = block.reset(np.array(F), 2.0, sigma)
            # (the pivots depend on the order of elimination: only clear cases are checked)
            if min_relative_pivot(ht(m, 2.0, sigma, F)) > 1e-10:
                assert ok
            if ok:
                check_solve(m, block, 2.0, sigma, F, rng)
            else:
                assert block.size() == 0
    F = [i for i in range(n) if i >= 4] + [3]  # the smallest d's out, one of them in the dense block
    assert block.assign(np.array(F), 2.0, 0.5)
    for _ in range(5):
        check_solve(m, block, 2.0, 0.5, F, rng)


def test_no_drift_after_many_incremental_changes() -> None:
    # An asset whose contribution to the capacitance dwarfs the others' comes and goes many times,
    # among thousands of single changes: the incremental path must not accumulate its rounding.
    rng = np.random.default_rng(7)
    n, k = 200, 5
    m = random_model(rng, n, k)
    big = 0
    m.d[big] = 2e-8 * max(m.S[big, big], np.mean(np.diag(m.S)))  # above the dense-block threshold: handled by Woodbury
    m = Model(m.X, m.F, m.d)
    block = m.core.free_block()
    F = [int(i) for i in range(1, 120)]
    assert block.reset(np.array(F), 1.0, 0.1)
    start = block.factorizations()
    for step in range(3000):
        if step % 2 == 0:
            check_append(m, block, 1.0, 0.1, F, big)
            outside = [i for i in range(1, n) if i not in F]
            check_append(m, block, 1.0, 0.1, F, int(rng.choice(outside)))
        else:
            block.remove(F.index(big))
            F.remove(big)
            pos = int(rng.integers(0, len(F)))
            block.remove(pos)
            del F[pos]
    check_solve(m, block, 1.0, 0.1, F, rng)
    # recomputed from scratch only periodically (about every max(256, |P|) changes), never at
    # each departure of the large contribution
    assert 0 < block.factorizations() - start < 12000 // 256 + 2


def test_assign_follows_changes_without_recomputing() -> None:
    rng = np.random.default_rng(8)
    n, k = 2000, 10
    m = random_model(rng, n, k)
    block = m.core.free_block()
    F = [int(i) for i in rng.permutation(n)[:1000]]
    assert block.reset(np.array(F), 1.0, 0.05)
    base = block.factorizations()
    for _ in range(5):
        # 40 changes out of 1000: incremental (no recomputation of the capacitance)
        out = set(rng.choice(F, 20, replace=False).tolist())
        inn = [int(i) for i in rng.permutation([i for i in range(n) if i not in F])[:20]]
        F = [i for i in F if i not in out] + inn
        rng.shuffle(F)
        assert block.assign(np.array(F), 1.0, 0.05)
        check_solve(m, block, 1.0, 0.05, F, rng)
    assert block.factorizations() == base
    # a new ra and sigma with the same set: still no recomputation
    assert block.assign(np.array(F), 3.0, 0.0)
    check_solve(m, block, 3.0, 0.0, F, rng)
    assert block.factorizations() == base
