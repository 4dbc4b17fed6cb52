"""Labelled inputs follow one rule in every public function: a pandas input whose labels are the
assets' labels in any order is aligned by label; any other labelling (a foreign, missing or
repeated label) raises an InputError naming that argument.

Each case below is a call ``call(L, x)`` of one function with one per-asset argument ``x``; ``L``
labels the other inputs (the identity for the reference call). The reference is the unlabelled
numpy call with every vector in the assets' order, so the expected values do not go through the
alignment code: the labelled call with ``x`` shuffled (a permutation drawn by hypothesis) must give
the same numbers, bit for bit (the same arithmetic on the same values), and label its results by
the assets' labels.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import microalloc as ma

pd = pytest.importorskip("pandas")

N = 5
LABELS = ["XOM", "CVX", "AAPL", "MSFT", "JPM"]
_rng = np.random.default_rng(7)
_f = _rng.normal(size=(N, 2)) * 0.15
S = _f @ _f.T + np.diag(_rng.uniform(0.01, 0.04, N))
MU = np.array([0.08, 0.05, 0.12, 0.10, 0.03])
LO = np.array([0.05, 0.0, 0.02, 0.0, 0.1])
UP = np.array([0.5, 0.6, 0.15, 0.4, 0.3])  # binds on AAPL and MSFT: a misaligned cap changes the answer
BENCH = np.array([0.3, 0.1, 0.2, 0.25, 0.15])
W = np.array([0.22, 0.18, 0.25, 0.2, 0.15])
M = 3  # portfolios / problems in a batch
MU_ROWS = MU + np.array([[0.0], [0.01], [-0.02]]) * np.arange(N)
W_ROWS = np.array([[0.22, 0.18, 0.25, 0.2, 0.15], [0.3, 0.1, 0.2, 0.25, 0.15], [0.1, 0.3, 0.2, 0.2, 0.2]])
T = 60
PRICES = 100 * np.exp(np.cumsum(_rng.normal(0.0003, 0.01, size=(T, N)), axis=0))
R = S / np.sqrt(np.outer(np.diag(S), np.diag(S)))  # correlations
TE = np.sqrt(np.diag(S))
PORTFOLIOS = ["x", "y", "z"]


def _ident(a):
    return a


def _label(a):
    """The canonical labelling of a reference input: a covariance, a vector or (m, n) rows."""
    a = np.asarray(a)
    if a.ndim == 2 and a.shape == (N, N):
        return pd.DataFrame(a, index=LABELS, columns=LABELS)
    if a.ndim == 2:
        return pd.DataFrame(a, index=PORTFOLIOS[: a.shape[0]], columns=LABELS)
    return pd.Series(a, index=LABELS)


def _shuffled(a, perm, labels=None):
    """``a`` labelled by the assets' labels, its asset axis in the order ``perm``."""
    labels = np.array(LABELS if labels is None else labels, dtype=object)
    a = np.asarray(a, dtype=float)
    perm = list(perm)
    if a.ndim == 2:
        return pd.DataFrame(a[:, perm], index=PORTFOLIOS[: a.shape[0]], columns=list(labels[perm]))
    return pd.Series(a[perm], index=list(labels[perm]))


def _numbers(out):
    """The numbers of an output (checking that pandas outputs are labelled by the assets)."""
    if isinstance(out, tuple):
        return [_numbers(o) for o in out]
    if isinstance(out, pd.Series) and len(out) == N:
        assert list(out.index) == LABELS
    if isinstance(out, pd.DataFrame) and out.shape[1] == N:
        assert list(out.columns) == LABELS
    return np.asarray(out, dtype=float) if not np.isscalar(out) else float(out)


def _rc(r):
    return tuple(x for x in (r.component, r.percent, r.active_component, r.efficiency) if x is not None)


# name: (argument, its reference value, call(L, x) -> output)
CASES = {
    "solve_mean_variance/mu": ("mu", MU, lambda L, x: ma.solve_mean_variance(L(S), x, upper=UP, lower=LO).weights),
    "solve_mean_variance/lower": ("lower", LO, lambda L, x: ma.solve_mean_variance(L(S), MU, lower=x, upper=UP).weights),
    "solve_mean_variance/upper": ("upper", UP, lambda L, x: ma.solve_mean_variance(L(S), MU, upper=x).weights),
    "solve_mean_variance/benchmark": (
        "benchmark", BENCH, lambda L, x: ma.solve_mean_variance(L(S), MU, risk_aversion=8.0, benchmark=x).weights,
    ),
    "solve_mean_variance/warm_start": (
        "warm_start", W,
        lambda L, x: (lambda r: (r.weights, r.iterations))(ma.solve_mean_variance(L(S), MU, upper=UP, warm_start=x)),
    ),
    "solve_mean_variance/upper, labels from mu": (
        "upper", UP, lambda L, x: ma.solve_mean_variance(S, L(MU), upper=x).weights,
    ),
    "solve_mean_variance_batch/mu": (
        "mu", MU_ROWS, lambda L, x: ma.solve_mean_variance_batch(L(S), x, upper=UP, threads=1).weights,
    ),
    "solve_mean_variance_batch/lower": (
        "lower", LO, lambda L, x: ma.solve_mean_variance_batch(L(S), MU_ROWS, lower=x, upper=UP, threads=1).weights,
    ),
    "solve_mean_variance_batch/upper": (
        "upper", np.vstack([UP] * M), lambda L, x: ma.solve_mean_variance_batch(L(S), MU_ROWS, upper=x, threads=1).weights,
    ),
    "solve_mean_variance_batch/benchmark": (
        "benchmark", BENCH,
        lambda L, x: ma.solve_mean_variance_batch(L(S), MU_ROWS, benchmark=x, risk_aversion=8.0, threads=1).weights,
    ),
    "solve_mean_variance_batch/warm_start": (
        "warm_start", W_ROWS,
        lambda L, x: (lambda r: (r.weights, r.iterations))(
            ma.solve_mean_variance_batch(L(S), MU_ROWS, upper=UP, warm_start=x, threads=1)
        ),
    ),
    "efficient_frontier/mu": ("mu", MU, lambda L, x: ma.efficient_frontier(L(S), x, upper=UP).weights),
    "efficient_frontier/lower": ("lower", LO, lambda L, x: ma.efficient_frontier(L(S), MU, lower=x).weights),
    "efficient_frontier/upper": ("upper", UP, lambda L, x: ma.efficient_frontier(L(S), MU, upper=x).weights),
    "efficient_frontier/benchmark": (
        "benchmark", BENCH, lambda L, x: ma.efficient_frontier(L(S), MU, benchmark=x, upper=UP).tracking_error,
    ),
    "Frontier.at_return/upper": (
        "upper", UP, lambda L, x: ma.efficient_frontier(L(S), MU, upper=x).at_return(0.08),
    ),
    "max_sharpe/mu": ("mu", MU, lambda L, x: ma.max_sharpe(L(S), x, upper=UP).weights),
    "max_sharpe/lower": ("lower", LO, lambda L, x: ma.max_sharpe(L(S), MU, lower=x).weights),
    "max_sharpe/upper": ("upper", UP, lambda L, x: ma.max_sharpe(L(S), MU, upper=x).weights),
    "min_risk/mu": ("mu", MU, lambda L, x: ma.min_risk(L(S), x, 0.08, upper=UP).weights),
    "min_risk/lower": ("lower", LO, lambda L, x: ma.min_risk(L(S), MU, 0.08, lower=x).weights),
    "min_risk/upper": ("upper", UP, lambda L, x: ma.min_risk(L(S), MU, 0.08, upper=x).weights),
    "min_risk/benchmark": ("benchmark", BENCH, lambda L, x: ma.min_risk(L(S), MU, 0.09, benchmark=x).weights),
    "max_return/mu": ("mu", MU, lambda L, x: ma.max_return(L(S), x, target_volatility=0.2, upper=UP).weights),
    "max_return/upper": ("upper", UP, lambda L, x: ma.max_return(L(S), MU, target_volatility=0.2, upper=x).weights),
    "max_return/benchmark": (
        "benchmark", BENCH, lambda L, x: ma.max_return(L(S), MU, target_tracking_error=0.03, benchmark=x).weights,
    ),
    "project_box_budget/lower": (
        "lower", LO, lambda L, x: ma.project_box_budget(L(MU * 5), lower=x, upper=UP),
    ),
    "project_box_budget/upper": ("upper", UP, lambda L, x: ma.project_box_budget(L(MU * 5), upper=x)),
    "combine_funds/mu": ("mu", MU, lambda L, x: ma.combine_funds(L(S), x, upper=UP).weights),
    "combine_funds/upper": ("upper", UP, lambda L, x: ma.combine_funds(L(S), L(MU), upper=x).weights),
    "combine_funds/lower": ("lower", LO, lambda L, x: ma.combine_funds(L(S), L(MU), lower=x).weights),
    "combine_funds/tracking_errors": (
        "tracking_errors", TE,
        lambda L, x: ma.combine_funds(mu=L(MU), tracking_errors=x, correlations=L(R), target_alpha=0.08).weights,
    ),
    "money_risk_budget/allocation": (
        "allocation", np.array([0.4, 0.3, 0.1, 0.1, 0.1]),
        lambda L, x: (lambda r: (r.budget, r.excess))(
            ma.money_risk_budget(L(S), W, portfolio_value=1e6, risk_budget=6e4, allocation=x)
        ),
    ),
    "money_risk_budget/weights": (
        "weights", W,
        lambda L, x: ma.money_risk_budget(L(S), x, portfolio_value=1e6, risk_budget=6e4, allocation=np.full(N, 0.2)).excess,
    ),
    "risk_contributions/weights": ("weights", W, lambda L, x: _rc(ma.risk_contributions(L(S), x))),
    "risk_contributions/weights rows": ("weights", W_ROWS, lambda L, x: _rc(ma.risk_contributions(L(S), x))),
    "risk_contributions/benchmark": (
        "benchmark", BENCH, lambda L, x: _rc(ma.risk_contributions(L(S), W, benchmark=x)),
    ),
    "risk_contributions/mu": (
        "mu", MU, lambda L, x: _rc(ma.risk_contributions(L(S), W, benchmark=BENCH, mu=x)),
    ),
    "risk_budgeting/budgets": (
        "budgets", np.array([0.4, 0.3, 0.1, 0.1, 0.1]), lambda L, x: ma.risk_budgeting(L(S), x).weights,
    ),
    "risk_budgeting/lower": ("lower", np.array([0.3, 0, 0, 0, 0]), lambda L, x: ma.risk_budgeting(L(S), lower=x).weights),
    "risk_budgeting/upper": ("upper", np.array([0.1, 1, 1, 1, 1]), lambda L, x: ma.risk_budgeting(L(S), upper=x).weights),
    "active_share/benchmark": ("benchmark", BENCH, lambda L, x: ma.active_share(L(W), x)),
    "active_share/benchmark rows": ("benchmark", W_ROWS[::-1], lambda L, x: ma.active_share(L(W_ROWS), x)),
    "active_portfolio/mu": (
        "mu", MU, lambda L, x: ma.active_portfolio(L(S), x, BENCH, max_tracking_error=0.03).weights,
    ),
    "active_portfolio/benchmark": (
        "benchmark", BENCH, lambda L, x: ma.active_portfolio(L(S), MU, x, max_tracking_error=0.03).weights,
    ),
    "active_portfolio/active_bound": (
        "active_bound", np.array([0.02, 0.05, 0.01, 0.1, 0.03]),
        lambda L, x: ma.active_portfolio(L(S), MU, BENCH, max_tracking_error=0.03, active_bound=x).weights,
    ),
    "active_portfolio/upper": (
        "upper", UP, lambda L, x: ma.active_portfolio(L(S), MU, BENCH, max_tracking_error=0.03, upper=x).weights,
    ),
    "check_bands/weights": (
        "weights", W_ROWS, lambda L, x: (lambda c: (c.breach, c.max_drift, c.tracking_error))(
            ma.check_bands(x, BENCH, absolute=0.04, cov=L(S))
        ),
    ),
    "check_bands/targets": (
        "targets", BENCH, lambda L, x: (lambda c: (c.breach, c.max_drift))(ma.check_bands(L(W_ROWS), x, absolute=0.04)),
    ),
    "check_bands/absolute": (
        "absolute", np.array([0.01, 0.05, 0.02, 0.1, 0.03]),
        lambda L, x: (lambda c: (c.breach, c.max_drift))(ma.check_bands(L(W_ROWS), BENCH, absolute=x)),
    ),
    "check_bands/relative": (
        "relative", np.array([0.1, 0.5, 0.2, 0.3, 0.25]),
        lambda L, x: (lambda c: (c.breach, c.max_drift))(ma.check_bands(L(W_ROWS), BENCH, relative=x)),
    ),
    "rebalance_trades/targets": (
        "targets", BENCH, lambda L, x: ma.rebalance_trades(L(W_ROWS), x, absolute=0.02).trades,
    ),
    "rebalance_trades/prices": (
        "prices", PRICES[-1],
        lambda L, x: ma.rebalance_trades(L(W_ROWS), BENCH, absolute=0.02, portfolio_values=1e6, prices=x).units,
    ),
    "drift/returns": ("returns", np.array([0.01, -0.02, 0.03, 0.0, 0.05]), lambda L, x: ma.drift(L(W), x)),
    "weights_from_holdings/prices": (
        "prices", PRICES[-1], lambda L, x: ma.weights_from_holdings(L(np.array([10.0, 20, 5, 7, 1])), x),
    ),
    "backtest_rebalancing/targets": (
        "targets", BENCH,
        lambda L, x: ma.backtest_rebalancing(
            _prices(L), x, {"band": ma.Policy.band(absolute=0.01), "monthly": ma.Policy.calendar(5)}, costs=0.001, periods_per_year=252
        ).values,
    ),
    "backtest_rebalancing/costs": (
        "costs", np.array([0.001, 0.0, 0.01, 0.002, 0.0]),
        lambda L, x: ma.backtest_rebalancing(_prices(L), L(BENCH), [ma.Policy.band(absolute=0.01)], costs=x, periods_per_year=252).values,
    ),
    "backtest_rebalancing/impact": (
        "impact", np.array([0.001, 0.0, 0.01, 0.002, 0.0]),
        lambda L, x: ma.backtest_rebalancing(_prices(L), L(BENCH), [ma.Policy.band(absolute=0.01)], impact=x, periods_per_year=252).values,
    ),
    # a band inside a policy: the error names `policies`, then the policy and its field
    "backtest_rebalancing/absolute": (
        "policies", np.array([0.01, 0.05, 0.002, 0.1, 0.03]),
        lambda L, x: ma.backtest_rebalancing(_prices(L), L(BENCH), [ma.Policy.band(absolute=x)], periods_per_year=252).values,
    ),
}


def _prices(L):
    return PRICES if L is _ident else pd.DataFrame(PRICES, columns=LABELS)


def _call(case, L, x):
    return _numbers(CASES[case][2](L, x))


@pytest.mark.parametrize("case", list(CASES))
@settings(max_examples=8, deadline=None)
@given(perm=st.permutations(range(N)))
def test_shuffled_labels_give_the_answer_of_the_ordered_numpy_call(case, perm):
    _, value, _ = CASES[case]
    expected = _call(case, _ident, value)
    got = _call(case, _label, _shuffled(value, perm))
    for g, e in zip(got if isinstance(got, list) else [got], expected if isinstance(expected, list) else [expected]):
        np.testing.assert_array_equal(g, e)


def _foreign(value):
    return _shuffled(value, range(N), LABELS[:-1] + ["BP"])


def _missing(value):
    a = np.asarray(value, dtype=float)
    return pd.Series(a[:-1], index=LABELS[:-1]) if a.ndim == 1 else pd.DataFrame(a[:, :-1], columns=LABELS[:-1])


def _repeated(value):
    return _shuffled(value, range(N), LABELS[:-1] + [LABELS[0]])


@pytest.mark.parametrize("bad", [_foreign, _missing, _repeated], ids=["foreign", "missing", "repeated"])
@pytest.mark.parametrize("case", list(CASES))
def test_other_labels_raise_naming_the_argument(case, bad):
    argument, value, _ = CASES[case]
    with pytest.raises(ma.InputError) as e:
        _call(case, _label, bad(value))
    assert e.value.argument == argument, str(e.value)
    field = "policy 'band_0' ('band'): absolute: " if argument == "policies" else ""
    assert str(e.value).startswith(f"{argument}: {field}labels"), str(e.value)
    # the labels at fault are named
    fault = {"_foreign": "'BP'", "_missing": "'JPM'", "_repeated": "'XOM'"}[bad.__name__]
    assert fault in str(e.value), str(e.value)


@settings(max_examples=20, deadline=None)
@given(perm=st.permutations(range(N)))
def test_covariance_rows_follow_its_columns(perm):
    rows = [LABELS[i] for i in perm]
    frame = pd.DataFrame(S[perm], index=rows, columns=LABELS)
    np.testing.assert_array_equal(ma.Covariance(frame).matrix, S)
    expected = ma.solve_mean_variance(S, MU, upper=UP).weights
    np.testing.assert_array_equal(_numbers(ma.solve_mean_variance(frame, MU, upper=UP).weights), expected)


def test_covariance_rows_other_than_its_columns_are_refused():
    frame = pd.DataFrame(S, index=LABELS[:-1] + ["BP"], columns=LABELS)
    for call in (lambda: ma.Covariance(frame), lambda: ma.solve_mean_variance(frame, MU)):
        with pytest.raises(ma.InputError, match=r"^cov: row labels .*'BP'") as e:
            call()
        assert e.value.argument == "cov"
    with pytest.raises(ma.InputError) as e:
        ma.combine_funds(frame, MU)
    assert e.value.argument == "cov"


@settings(max_examples=20, deadline=None)
@given(perm=st.permutations(range(T)))
def test_tracking_error_matches_periods_by_label(perm):
    dates = pd.date_range("2024-01-01", periods=T, freq="D")
    rp = np.diff(np.log(PRICES[:, :2]), axis=0, prepend=np.log(PRICES[:1, :2]))
    rb = np.diff(np.log(PRICES[:, 2]), prepend=np.log(PRICES[0, 2]))
    expected = ma.tracking_error(rp, rb)
    portfolio = pd.DataFrame(rp, index=dates, columns=["p", "q"])
    benchmark = pd.Series(rb[list(perm)], index=dates[list(perm)])
    np.testing.assert_allclose(ma.tracking_error(portfolio, benchmark), expected, rtol=1e-13, atol=0)
    # one benchmark column per portfolio, in another order
    both = pd.DataFrame(np.column_stack([rb, 2 * rb])[list(perm)][:, ::-1], index=dates[list(perm)], columns=["q", "p"])
    want = ma.tracking_error(rp, np.column_stack([rb, 2 * rb]))
    np.testing.assert_allclose(ma.tracking_error(portfolio, both), want, rtol=1e-13, atol=0)
    with pytest.raises(ma.InputError) as e:
        ma.tracking_error(portfolio, pd.Series(rb, index=dates.shift(1)))
    assert e.value.argument == "benchmark_returns"


def test_messages_name_labelled_entries():
    cov = pd.DataFrame(S, index=LABELS, columns=LABELS)
    bad = cov.copy()
    bad.iloc[3, 1] = np.nan
    with pytest.raises(ma.NonFiniteError, match=r"^cov: entry \['MSFT', 'CVX'\] is nan"):
        ma.solve_mean_variance(bad, MU)
    up = pd.Series(UP, index=LABELS)
    up["AAPL"] = np.nan
    with pytest.raises(ma.NonFiniteError, match=r"^upper: entry 'AAPL' is nan"):
        ma.solve_mean_variance(cov, MU, upper=up[::-1])
    mu = pd.Series(MU, index=LABELS)
    mu["JPM"] = np.inf
    with pytest.raises(ma.NonFiniteError, match=r"^mu: entry 'JPM' is inf"):
        ma.efficient_frontier(cov, mu[::-1])
    crossed = pd.Series(LO, index=LABELS)
    crossed["CVX"] = 0.7
    with pytest.raises(ma.InfeasibleError, match=r"^lower: lower\['CVX'\] = 0.7 exceeds upper\['CVX'\] = 0.6$"):
        ma.solve_mean_variance(cov, MU, lower=crossed, upper=pd.Series(UP, index=LABELS))
    neg = pd.Series([0.4, 0.3, -0.1, 0.2, 0.2], index=LABELS)
    with pytest.raises(ma.InputError, match=r"^budgets: entry 'AAPL' = -0.1 is negative"):
        ma.risk_budgeting(cov, neg)
    w = pd.DataFrame(W_ROWS, index=PORTFOLIOS, columns=LABELS)
    targets = pd.Series(BENCH, index=LABELS)
    targets["JPM"] = np.nan
    with pytest.raises(ma.NonFiniteError, match=r"^targets: entry 'JPM' is nan"):
        ma.check_bands(w, targets, absolute=0.02)
    w.loc["y", "XOM"] = np.inf
    with pytest.raises(ma.NonFiniteError, match=r"^weights: entry \[1, 'XOM'\] is inf"):
        ma.rebalance_trades(w, BENCH, absolute=0.02)
    with pytest.raises(ma.NonFiniteError, match=r"^weights: entry \[1, 'XOM'\] is inf"):
        ma.check_bands(w, BENCH, absolute=0.02)
    with pytest.raises(ma.NonFiniteError, match=r"^weights: entry 'CVX' is nan"):
        ma.check_bands(pd.Series([0.5, np.nan, 0.5], index=["XOM", "CVX", "BP"]), [0.5, 0, 0.5], absolute=0.02)


def test_numbers_in_messages_are_plain():
    lo = np.array([0.3, 0.3, 0.3])  # sum(lower) = 0.8999999999999999 in floating point
    assert lo.sum() != 0.9
    s3 = S[:3, :3]
    with pytest.raises(ma.InfeasibleError) as e:
        ma.solve_mean_variance(s3, MU[:3], lower=lo, budget=0.5)
    assert str(e.value) == "lower: sum(lower) = 0.9 exceeds budget = 0.5: no portfolio is feasible"
    with pytest.raises(ma.InputError) as e:
        ma.money_risk_budget(s3, [0.2, 0.3, 0.5], portfolio_value=1e6, risk_budget=6e4, allocation=np.array(lo) + 0.01)
    assert str(e.value) == "allocation: shares must sum to 1, got sum = 0.93"
    with pytest.raises(ma.InputError) as e:
        ma.active_share(np.array([0.3, 0.3, 0.3]), np.array([0.5, 0.3, 0.2]))
    assert "sum = 0.9 but the benchmark sums to 1" in str(e.value)
    # two numbers a message compares keep the digits that tell them apart
    with pytest.raises(ma.InfeasibleError) as e:
        ma.solve_mean_variance(s3, MU[:3], lower=[0.1 + 0.2, 0, 0], upper=[0.3, 1, 1])
    assert str(e.value) == "lower: lower[0] = 0.30000000000000004 exceeds upper[0] = 0.3"
    bad = S.copy()
    bad[0, 0] = -0.0125
    with pytest.raises(ma.InputError) as e:
        ma.solve_mean_variance(pd.DataFrame(bad, index=LABELS, columns=LABELS), MU)
    assert str(e.value) == "cov: variance cov['XOM', 'XOM'] = -0.0125 is not positive"
    for message in (str(e.value),):
        assert "np." not in message


@settings(max_examples=10, deadline=None)
@given(perm=st.permutations(range(N)), perm2=st.permutations(range(N)))
def test_batch_weights_are_labelled_and_match_the_ordered_numpy_call(perm, perm2):
    """A shuffled labelled covariance (rows and columns), per-problem rows and bounds labelled in
    other orders: the batch aligns each by label and labels its weights (assets as columns, in the
    covariance's order; the problems as rows, from the per-problem DataFrame)."""
    expected = ma.solve_mean_variance_batch(S, MU_ROWS, lower=LO, upper=UP, benchmark=BENCH, risk_aversion=4.0,
                                            warm_start=W_ROWS, threads=1)
    order = [LABELS[i] for i in perm]
    cov = pd.DataFrame(S, index=LABELS, columns=LABELS).loc[order, order]
    got = ma.solve_mean_variance_batch(
        cov, _shuffled(MU_ROWS, perm2), lower=_shuffled(LO, perm2), upper=_shuffled(UP, perm[::-1]),
        benchmark=_shuffled(BENCH, perm2), warm_start=_shuffled(W_ROWS, perm[::-1]), risk_aversion=4.0, threads=1,
    )
    assert isinstance(got.weights, pd.DataFrame) and list(got.weights.columns) == order
    assert list(got.weights.index) == PORTFOLIOS
    # the covariance in another order is the same problem solved in another order: equal to rounding
    np.testing.assert_allclose(got.weights[LABELS].to_numpy(), expected.weights, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(got.objective, expected.objective, rtol=1e-12)
    assert (got.status == "OPTIMAL").all()


def test_batch_refuses_rows_labelled_by_other_assets():
    rows = pd.DataFrame(MU_ROWS, columns=LABELS[:-1] + ["BP"])
    with pytest.raises(ma.InputError) as info:
        ma.solve_mean_variance_batch(pd.DataFrame(S, index=LABELS, columns=LABELS), rows)
    assert info.value.argument == "mu" and "BP" in str(info.value)
    with pytest.raises(ma.InputError) as info:
        ma.solve_mean_variance_batch(
            S, MU_ROWS, lower=pd.Series(LO, index=LABELS), upper=pd.Series(UP, index=LABELS[::-1][:-1] + ["BP"])
        )
    assert info.value.argument == "upper"
