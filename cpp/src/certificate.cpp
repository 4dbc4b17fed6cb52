#include "microalloc/certificate.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace microalloc {

double accurate_sum(const double* x, Index n) noexcept {
  CompensatedSum s;
  for (Index i = 0; i < n; ++i) s.add(x[i]);
  return s.value();
}

namespace {

/// Interval weights (w_i - lb_i, ub_i - w_i) summed with infinite ones counted apart, so that the
/// comparison with zero stays exact when a bound is infinite.
struct Weight {
  long inf = 0;
  double fin = 0.0;
  void add(double v) noexcept {
    if (std::isfinite(v)) fin += std::max(v, 0.0); else ++inf;
  }
  bool reached() const noexcept { return inf > 0 || (inf == 0 && fin >= 0.0); }
};

}  // namespace

// nu minimises h(nu) = sum a_i max(g_i + nu, 0) + c_i max(-(g_i + nu), 0), with a_i = w_i - lb_i and
// c_i = ub_i - w_i. h is convex piecewise linear with kinks at p_i = -g_i; its slope just above
// the k-th smallest kink is sum_{j<=k} (a_j + c_j) - sum_j c_j, so nu is the first kink where that
// prefix reaches sum_j c_j: a weighted quantile, found by selection (halving the range with
// nth_element, expected O(n)) instead of sorting all n kinks. Ties are ordered by index.
double Certifier::tightest_multiplier(const double* w, const double* g, const double* lb, const double* ub,
                                      Index n) {
  order_.resize(static_cast<std::size_t>(n));
  Weight acc;  // the prefix before the range still searched, from -sum c_j
  double largest = -std::numeric_limits<double>::infinity();
  for (Index i = 0; i < n; ++i) {
    order_[static_cast<std::size_t>(i)] = {-g[i], i};
    largest = std::max(largest, -g[i]);
    const double ci = ub[i] - w[i];
    if (std::isfinite(ci)) acc.fin -= std::max(ci, 0.0); else --acc.inf;
  }
  const auto add = [&](Weight& s, std::size_t j) {
    const Index i = order_[j].second;
    s.add(w[i] - lb[i]);
    s.add(ub[i] - w[i]);
  };
  std::size_t lo = 0, hi = order_.size();
  constexpr std::size_t kSortBelow = 64;
  while (hi - lo > kSortBelow) {
    const std::size_t mid = lo + (hi - lo) / 2;
    std::nth_element(order_.begin() + lo, order_.begin() + mid, order_.begin() + hi);
    Weight s = acc;
    for (std::size_t j = lo; j <= mid; ++j) add(s, j);
    if (s.reached()) {
      hi = mid + 1;  // the answer is in [lo, mid], mid the largest there
    } else {
      acc = s;
      lo = mid + 1;
    }
  }
  std::sort(order_.begin() + lo, order_.begin() + hi);
  for (std::size_t j = lo; j < hi; ++j) {
    add(acc, j);
    if (acc.reached()) return order_[j].first;
  }
  return largest;  // not reached (rounding): the largest kink
}

Certificate Certifier::certify(const double* w, const double* g, const double* lb,
                               const double* ub, Index n, double budget, double scale) {
  Certificate c;
  c.primal_residual = std::abs(accurate_sum(w, n) - budget);
  for (Index i = 0; i < n; ++i) {
    c.primal_residual = std::max({c.primal_residual, lb[i] - w[i], w[i] - ub[i]});
  }
  if (n == 0) return c;

  c.multiplier = tightest_multiplier(w, g, lb, ub, n);
  const double nu = c.multiplier;

  double gap = 0.0;
  for (Index i = 0; i < n; ++i) {
    const double r = g[i] + nu;
    const double ai = w[i] - lb[i];
    const double ci = ub[i] - w[i];
    if (r > 0.0) {
      if (std::isfinite(ai)) gap += r * std::max(ai, 0.0);
      else c.unbounded_violation = std::max(c.unbounded_violation, r);
    } else if (r < 0.0) {
      if (std::isfinite(ci)) gap -= r * std::max(ci, 0.0);
      else c.unbounded_violation = std::max(c.unbounded_violation, -r);
    }
    double viol;
    if (lb[i] == ub[i]) {
      viol = 0.0;
    } else if (w[i] <= lb[i]) {
      viol = std::max(-r, 0.0);
    } else if (w[i] >= ub[i]) {
      viol = std::max(r, 0.0);
    } else {
      viol = std::abs(r);
    }
    c.dual_residual = std::max(c.dual_residual, viol);
  }
  c.gap = gap;
  c.rel_gap = gap > 0.0 ? gap / scale : 0.0;
  return c;
}

}  // namespace microalloc
