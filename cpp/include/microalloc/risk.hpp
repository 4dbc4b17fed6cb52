#pragma once
/// Risk decomposition of portfolios (docs/methods.md §5). For weights w (a row of W), M = W S
/// (one GEMM for the batch), sigma = sqrt(w'Sw) and m = S w:
///   marginal_i = m_i / sigma,  component_i = w_i m_i / sigma (sums to sigma),
///   percent_i = w_i m_i / sigma^2 (sums to 1).
/// With a benchmark b, the same for the active weights a = w - b (tracking error sqrt(a'Sa)); with
/// expected returns alpha as well, the contributions to active return a_i alpha_i and the
/// efficiency a_i alpha_i / (a'alpha) - a_i (Sa)_i / (a'Sa).
///
/// Undefined quantities are NaN: marginal and percent contributions when sigma (or the tracking
/// error) is 0; the efficiency when the active return or the tracking error is 0 relative to the
/// terms that sum to it (|sum| <= kVanishing * sum of |terms|). Components are 0 when sigma is 0.
#include "microalloc/covariance_model.hpp"
#include "microalloc/types.hpp"

namespace microalloc {

constexpr double kVanishing = 1e-12;

struct RiskInput {
  const CovarianceModel& cov;  ///< n x n, symmetric
  MatRef weights;           ///< m x n
  MatRef benchmark;         ///< 0 x 0, 1 x n (shared) or m x n
  MatRef expected_returns;  ///< 0 x 0, 1 x n (shared) or m x n; used with a benchmark
};

struct RiskDecomposition {
  Vec volatility;                                  ///< m
  RowMat marginal, component, percent;             ///< m x n
  Vec tracking_error;                              ///< m (with a benchmark, else empty)
  RowMat active_marginal, active_component, active_percent;
  Vec active_return;                               ///< m: a'alpha (benchmark and expected returns)
  RowMat active_return_contribution, efficiency;   ///< m x n
};

/// Throws std::invalid_argument on inconsistent sizes. `threads` splits the rows (<= 0: hardware).
RiskDecomposition decompose_risk(const RiskInput& in, int threads);

}  // namespace microalloc

#include "microalloc/status.hpp"

namespace microalloc {

struct RiskBudgetingSettings {
  double tol = 1e-12;      ///< target max_i |rc_i / b_i - 1| over the positive budgets
  int max_sweeps = 10000;  ///< coordinate-descent sweeps
  int newton_max_n = 5000; ///< damped Newton allowed when at most this many budgets are positive
  int guess_rounds = 8;    ///< with bounds: active sets guessed from the KKT signs before the barrier path
};

struct RiskBudgetingResult {
  Vec weights;                 ///< sum 1, positive where the budget is, 0 where it is 0
  Status status = Status::NumericalError;
  int iterations = 0;          ///< coordinate-descent sweeps
  int newton_steps = 0;
  Vec risk_contributions;      ///< w_i (Sw)_i / w'Sw, from an exact S w
  double max_budget_error = 0.0;  ///< max_i |rc_i / b_i - 1| over the positive budgets
  double volatility = 0.0;     ///< sqrt(w'Sw)
  double solve_time_s = 0.0;
  /// The certificate: max_budget_error without bounds; with bounds, the largest violation of the
  /// KKT conditions of the bounded problem (see the bounded overload), relative to the budgets.
  double kkt_residual = 0.0;
  double budget_shift = 0.0;   ///< with bounds: rc_i = b_i + budget_shift * w_i inside the bounds
  IndexVec bound_state;        ///< -1 at the lower bound, 1 at the upper, 0 otherwise
  int bound_rounds = 0;        ///< reduced Newton solves with a guessed set of active bounds
};

/// Risk budgeting (docs/methods.md §6.1): the long-only portfolio whose risk contributions are
/// proportional to `budgets` (>= 0, not all 0; normalised to sum 1). Spinu's convex problem
/// min 0.5 y'Cy - sum b_i ln y_i on the correlation matrix C, by cyclical coordinate descent
/// (Griveau-Billion, Richard & Roncalli) with a rescaling per sweep, handing over to damped Newton
/// (fraction-to-boundary, Armijo) when the observed rate of the sweeps makes Newton cheaper;
/// w = (y / sd) / sum(y / sd).
RiskBudgetingResult risk_budgeting(const CovarianceModel& cov, const VecRef& budgets,
                                   const RiskBudgetingSettings& settings);

/// Risk budgeting with bounds lower <= w <= upper on the weights (docs/methods.md §6.2): Spinu's
/// problem over the cone l_i 1'x <= x_i <= u_i 1'x, convex with a unique solution, at which
///   rc_i = b_i + shift * w_i for the assets strictly inside their bounds (one shift for all),
///   rc_i <= b_i + shift * w_i at an upper bound and >= at a lower bound.
/// Assets with a zero budget, or with lower == upper, are held at their lower bound. Without
/// binding bounds the result is that of the overload above. Throws std::invalid_argument when no
/// weights within the bounds sum to 1. Cost: a few dense Newton solves, O(n^3) each.
RiskBudgetingResult risk_budgeting(const CovarianceModel& cov, const VecRef& budgets, const VecRef& lower,
                                   const VecRef& upper, const RiskBudgetingSettings& settings);

}  // namespace microalloc
