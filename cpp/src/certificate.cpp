#include "microalloc/certificate.hpp"

#include <algorithm>
#include <cmath>

namespace microalloc {

double accurate_sum(const double* x, Index n) noexcept {
  CompensatedSum s;
  for (Index i = 0; i < n; ++i) s.add(x[i]);
  return s.value();
}

Certificate Certifier::certify(const double* w, const double* g, const double* lb,
                               const double* ub, Index n, double budget, double scale) {
  Certificate c;
  c.primal_residual = std::abs(accurate_sum(w, n) - budget);
  for (Index i = 0; i < n; ++i) {
    c.primal_residual = std::max({c.primal_residual, lb[i] - w[i], w[i] - ub[i]});
  }
  if (n == 0) return c;

  // Tightest multiplier: nu minimises h(nu) = sum a_i max(g_i + nu, 0) + c_i max(-(g_i + nu), 0),
  // with a_i = w_i - lb_i and c_i = ub_i - w_i. h is convex piecewise linear with kinks at
  // p_i = -g_i; its slope just above p_(k) is sum_{j<=k} a_j - sum_{j>k} c_j. Infinite weights
  // are counted apart so that the comparison stays exact.
  order_.resize(static_cast<std::size_t>(n));
  double c_fin = 0.0;
  long c_inf = 0;
  for (Index i = 0; i < n; ++i) {
    order_[static_cast<std::size_t>(i)] = {-g[i], i};
    const double ci = ub[i] - w[i];
    if (std::isfinite(ci)) c_fin += std::max(ci, 0.0); else ++c_inf;
  }
  std::sort(order_.begin(), order_.end());
  double nu = order_.back().first;
  double fin = -c_fin;
  long inf = -c_inf;
  for (const auto& [p, i] : order_) {
    const double ai = w[i] - lb[i];
    const double ci = ub[i] - w[i];
    if (std::isfinite(ai)) fin += std::max(ai, 0.0); else ++inf;
    if (std::isfinite(ci)) fin += std::max(ci, 0.0); else ++inf;
    if (inf > 0 || (inf == 0 && fin >= 0.0)) {
      nu = p;
      break;
    }
  }
  c.multiplier = nu;

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
