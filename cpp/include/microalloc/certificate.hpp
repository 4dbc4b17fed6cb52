#pragma once
/// Optimality certificate for min f(w) s.t. sum(w) = budget, lb <= w <= ub, with f convex.
///
/// For a feasible w with gradient g and any scalar nu, let r = g + nu. Then
///   gap(nu) = sum_i max(r_i, 0) (w_i - lb_i) + max(-r_i, 0) (ub_i - w_i)  >=  f(w) - f*,
/// by weak duality of the linear program min_{v in C} g'v. The tightest nu is a weighted quantile of
/// -g, found by selection. Terms with an infinite bound cannot enter the gap; their sign violation
/// is reported as `unbounded_violation` instead.
#include <cstdint>
#include <utility>
#include <vector>

#include "microalloc/types.hpp"

namespace microalloc {

struct Certificate {
  double gap = 0.0;                  ///< upper bound on f(w) - f* (objective units)
  double rel_gap = 0.0;              ///< gap / objective scale
  double primal_residual = 0.0;      ///< max(|sum w - budget|, bound violations)
  double dual_residual = 0.0;        ///< max KKT sign/stationarity violation of r = g + nu
  double unbounded_violation = 0.0; ///< sign violation on coordinates with an infinite bound
  double multiplier = 0.0;           ///< the nu used
};

class Certifier {
 public:
  /// `scale` is the objective magnitude the relative gap is measured against (> 0).
  Certificate certify(const double* w, const double* g, const double* lb, const double* ub, Index n,
                      double budget, double scale);

 private:
  double tightest_multiplier(const double* w, const double* g, const double* lb, const double* ub, Index n);
  std::vector<Index> candidates_;
  std::vector<std::uint8_t> bucket_;
  std::vector<std::pair<double, Index>> order_;
};

/// Neumaier-compensated sum.
double accurate_sum(const double* x, Index n) noexcept;

/// Running Neumaier-compensated sum.
struct CompensatedSum {
  double sum = 0.0;
  double comp = 0.0;
  void add(double x) noexcept {
    const double t = sum + x;
    comp += ((sum >= 0 ? sum : -sum) >= (x >= 0 ? x : -x)) ? (sum - t) + x : (x - t) + sum;
    sum = t;
  }
  double value() const noexcept { return sum + comp; }
};

}  // namespace microalloc
