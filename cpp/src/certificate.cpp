#include "microalloc/certificate.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
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
  void add(const Weight& o) noexcept {
    inf += o.inf;
    fin += o.fin;
  }
  bool reached() const noexcept { return inf > 0 || (inf == 0 && fin >= 0.0); }
};

constexpr int kBuckets = 256;
constexpr std::size_t kSortBelow = 64;

}  // namespace

// nu minimises h(nu) = sum a_i max(g_i + nu, 0) + c_i max(-(g_i + nu), 0), with a_i = w_i - lb_i and
// c_i = ub_i - w_i. h is convex piecewise linear with kinks at p_i = -g_i; its slope just above
// the k-th smallest kink is sum_{j<=k} (a_j + c_j) - sum_j c_j, so nu is the first kink (ties by
// index) where that prefix reaches sum_j c_j: a weighted quantile. It is found without sorting all
// n kinks: the candidates are spread over equal-width buckets of their range (a monotone map, so a
// bucket holds a contiguous run of the sorted order), the bucket where the prefix is reached is
// kept, and the rest of it is narrowed the same way; a few dozen candidates left (or all equal)
// are sorted. Each round is two passes over the candidates, O(n) in all for kinks that are not
// piled up within rounding of each other.
double Certifier::tightest_multiplier(const double* w, const double* g, const double* lb, const double* ub,
                                      Index n) {
  Weight acc;  // the prefix before the candidates, from -sum c_j
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  candidates_.resize(static_cast<std::size_t>(n));
  for (Index i = 0; i < n; ++i) {
    candidates_[static_cast<std::size_t>(i)] = i;
    lo = std::min(lo, -g[i]);
    hi = std::max(hi, -g[i]);
    const double ci = ub[i] - w[i];
    if (std::isfinite(ci)) acc.fin -= std::max(ci, 0.0); else --acc.inf;
  }
  const auto weigh = [&](Weight& s, Index i) {
    s.add(w[i] - lb[i]);
    s.add(ub[i] - w[i]);
  };
  std::size_t size = candidates_.size();
  bucket_.resize(size);
  while (size > kSortBelow && hi > lo) {
    const double width = kBuckets / (hi - lo);
    if (!std::isfinite(width)) break;  // a range near the smallest normal: sort what is left
    std::array<Weight, kBuckets> weight{};
    for (std::size_t j = 0; j < size; ++j) {
      const Index i = candidates_[j];
      const int b = std::min(kBuckets - 1, static_cast<int>((-g[i] - lo) * width));
      bucket_[j] = static_cast<std::uint8_t>(b);
      weigh(weight[static_cast<std::size_t>(b)], i);
    }
    int keep = 0;
    for (;; ++keep) {
      if (keep == kBuckets) return hi;  // not reached (rounding): the largest kink
      Weight s = acc;
      s.add(weight[static_cast<std::size_t>(keep)]);
      if (s.reached()) break;
      acc = s;
    }
    std::size_t kept = 0;
    lo = std::numeric_limits<double>::infinity();
    hi = -lo;
    for (std::size_t j = 0; j < size; ++j) {
      if (bucket_[j] != keep) continue;
      const Index i = candidates_[j];
      candidates_[kept++] = i;
      lo = std::min(lo, -g[i]);
      hi = std::max(hi, -g[i]);
    }
    size = kept;
  }
  order_.resize(size);
  for (std::size_t j = 0; j < size; ++j) order_[j] = {-g[candidates_[j]], candidates_[j]};
  std::sort(order_.begin(), order_.end());
  for (const auto& [p, i] : order_) {
    weigh(acc, i);
    if (acc.reached()) return p;
  }
  return hi;  // not reached (rounding): the largest kink
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
