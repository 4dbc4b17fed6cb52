#pragma once
/// The whole mean-variance efficient frontier by the parametric active-set method (the critical
/// line algorithm; docs/methods.md §4):
///
///   w(tau) = argmin  (1/2) (w - b)' S (w - b) - tau mu' w   s.t.  sum(w) = budget,  lower <= w <= upper,
///
/// for every tau >= 0 (tau = 1 / risk aversion; b = 0 without a benchmark). The path w(tau) is
/// continuous and piecewise linear in tau; it changes direction at the turning points, where an
/// asset reaches a bound or leaves one. Mean and variance are linear and quadratic in tau on each
/// segment, so every point of the frontier is exact.
#include <limits>
#include <vector>

#include "microalloc/covariance_model.hpp"
#include "microalloc/progress.hpp"
#include "microalloc/status.hpp"
#include "microalloc/types.hpp"

namespace microalloc {

struct FrontierProblem {
  const CovarianceModel& cov;  ///< n x n, symmetric positive semidefinite
  VecRef mu;         ///< n
  VecRef lower;      ///< n; may hold -inf
  VecRef upper;      ///< n; may hold +inf
  VecRef benchmark;  ///< n, or size 0
  double budget = 1.0;
};

struct FrontierSettings {
  double tol = 1e-9;     ///< relative duality gap required at every turning point
  int max_points = 0;    ///< turning points before giving up (0: 20 n + 100)
  /// Stop at the first turning point whose expected return reaches `stop_return` or whose risk
  /// reaches `stop_risk` (a single target needs only the path up to it); `truncated` says so.
  double stop_return = std::numeric_limits<double>::infinity();
  double stop_risk = std::numeric_limits<double>::infinity();
};

/// Turning points k = 0..K-1 in increasing tau (tau_0 = 0: minimum variance). Segment k runs from
/// tau_k to tau_{k+1} (the last one, when `unbounded`, to infinity along `ray`), with
///   mean(tau) = mean0_k + tau mean1_k,   risk^2(tau) = var0_k + 2 tau var1_k + tau^2 var2_k,
/// where risk is the volatility (or the tracking error with a benchmark).
struct Frontier {
  Status status = Status::NumericalError;
  std::vector<double> tau;
  RowMat weights;                   ///< K x n
  Vec expected_return, risk;        ///< K
  Vec mean0, mean1, var0, var1, var2;  ///< K: segment k starts at turning point k
  bool truncated = false;           ///< stopped at a target (FrontierSettings::stop_return / stop_risk)
  bool unbounded = false;           ///< the last segment never ends (an infinite bound): w = weights_K-1 + (tau - tau_K-1) ray
  Vec ray;                          ///< n, the direction of the last segment when unbounded
  double max_rel_gap = 0.0;         ///< worst certificate along the path (at both ends of every segment)
  double max_primal_residual = 0.0;
  int factorizations = 0;
  double solve_time_s = 0.0;
  const char* message = "";
};

/// Throws std::invalid_argument on inconsistent sizes. `progress` (may be null) is polled at every
/// turning point; its units are thousandths of the way in expected return from the start to the
/// maximum-return end (turning points, out of the limit, when an infinite bound leaves no end).
/// Once it is stopped, the walk ends with NumericalError ("interrupted") and the path is incomplete.
Frontier efficient_frontier(const FrontierProblem& problem, const FrontierSettings& settings,
                            Progress* progress = nullptr);

}  // namespace microalloc
