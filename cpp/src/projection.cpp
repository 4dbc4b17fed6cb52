#include "microalloc/projection.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "microalloc/certificate.hpp"
#include "microalloc/check.hpp"

namespace microalloc {
namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kEps = std::numeric_limits<double>::epsilon();
}  // namespace

BoxBudgetProjector::Eval BoxBudgetProjector::evaluate(const double* u, const double* h,
                                                      const double* lb, const double* ub, Index n,
                                                      double budget, double nu,
                                                      double* x) const noexcept {
  Eval e{0.0, 0.0, 0.0, 0.0, 0.0, 0};
  // Compensated sums: the closed-form nu divides by |F| and must not inherit O(n eps) errors.
  CompensatedSum free_u, fixed;
  for (Index i = 0; i < n; ++i) {
    const double hi = h ? h[i] : 1.0;
    const double v = u[i] - nu * hi;
    double xi;
    if (v <= lb[i]) {
      xi = lb[i];
      fixed.add(xi);
    } else if (v >= ub[i]) {
      xi = ub[i];
      fixed.add(xi);
    } else {
      xi = v;
      free_u.add(u[i]);
      e.sum_free_h += hi;
      ++e.n_free;
    }
    x[i] = xi;
    e.abs_sum += std::abs(xi);
  }
  e.sum_free_u = free_u.value();
  e.sum_fixed = fixed.value();
  e.phi = e.sum_free_u - nu * e.sum_free_h + e.sum_fixed - budget;
  return e;
}

double BoxBudgetProjector::project(const double* u, const double* h, const double* lb,
                                   const double* ub, Index n, double budget, double* x,
                                   double nu_start) {
  iterations_ = 0;
  used_simplex_ = false;
  if (n == 0) return 0.0;
  if (h == nullptr && budget > 0.0) {
    bool is_simplex = true;
    for (Index i = 0; i < n && is_simplex; ++i) is_simplex = (lb[i] == 0.0 && ub[i] >= budget);
    if (is_simplex) {
      used_simplex_ = true;
      return simplex(u, n, budget, x);
    }
  }
  double lo = -kInf, hi = kInf;  // phi(lo) >= 0 >= phi(hi)
  double nu = std::isfinite(nu_start) ? nu_start : 0.0;
  // phi depends on the partition only through these sums: when they repeat, phi(nu) = 0 is exact.
  Index prev_free = -1;
  double prev_free_u = 0.0, prev_free_h = 0.0, prev_fixed = 0.0;
  for (int it = 0; it < 100; ++it) {
    ++iterations_;
    const Eval e = evaluate(u, h, lb, ub, n, budget, nu, x);
    const double tol = 4.0 * kEps * (std::abs(budget) + e.abs_sum);
    if (std::abs(e.phi) <= tol) return nu;
    // The partition repeated: nu is already the closed-form root computed from it.
    if (e.n_free == prev_free && e.sum_free_u == prev_free_u && e.sum_free_h == prev_free_h &&
        e.sum_fixed == prev_fixed) {
      return nu;
    }
    prev_free = e.n_free;
    prev_free_u = e.sum_free_u;
    prev_free_h = e.sum_free_h;
    prev_fixed = e.sum_fixed;
    if (e.phi > 0.0) {
      lo = std::max(lo, nu);
    } else {
      hi = std::min(hi, nu);
    }
    if (e.sum_free_h > 0.0) {
      const double cand = (e.sum_free_u + e.sum_fixed - budget) / e.sum_free_h;
      if (cand > lo && cand < hi) {
        nu = cand;
        continue;
      }
    }
    break;  // flat piece or a step outside the bracket: exact breakpoint search
  }
  return breakpoint_search(u, h, lb, ub, n, budget, lo, hi, x);
}

double BoxBudgetProjector::breakpoint_search(const double* u, const double* h, const double* lb,
                                             const double* ub, Index n, double budget, double lo,
                                             double hi, double* x) {
  // Breakpoints strictly inside the bracket, sorted; phi is linear between neighbours.
  work_.clear();
  for (Index i = 0; i < n; ++i) {
    const double hi_ = h ? h[i] : 1.0;
    const double a = (u[i] - ub[i]) / hi_;
    const double c = (u[i] - lb[i]) / hi_;
    if (std::isfinite(a) && a > lo && a < hi) work_.push_back(a);
    if (std::isfinite(c) && c > lo && c < hi) work_.push_back(c);
  }
  std::sort(work_.begin(), work_.end());
  work_.erase(std::unique(work_.begin(), work_.end()), work_.end());
  // Largest breakpoint with phi >= 0 (lower end) and the next one (upper end).
  std::size_t left = 0, right = work_.size();  // invariant: phi(work_[k]) >= 0 for k < left
  while (left < right) {
    const std::size_t mid = left + (right - left) / 2;
    ++iterations_;
    const Eval e = evaluate(u, h, lb, ub, n, budget, work_[mid], x);
    if (e.phi >= 0.0) {
      left = mid + 1;
    } else {
      right = mid;
    }
  }
  double a = left > 0 ? work_[left - 1] : lo;
  double b = left < work_.size() ? work_[left] : hi;
  // A point strictly inside (a, b), where the free set is constant.
  double probe;
  if (std::isfinite(a) && std::isfinite(b)) {
    probe = 0.5 * (a + b);
  } else if (std::isfinite(a)) {
    probe = a + 1.0 + std::abs(a);
  } else if (std::isfinite(b)) {
    probe = b - 1.0 - std::abs(b);
  } else {
    probe = 0.0;
  }
  ++iterations_;
  const Eval e = evaluate(u, h, lb, ub, n, budget, probe, x);
  double nu = probe;
  if (e.sum_free_h > 0.0) {
    nu = (e.sum_free_u + e.sum_fixed - budget) / e.sum_free_h;
    if (std::isfinite(a)) nu = std::max(nu, a);
    if (std::isfinite(b)) nu = std::min(nu, b);
  } else if (std::isfinite(a)) {
    nu = a;  // phi is flat on (a, b) and phi(a) >= 0 >= phi(b): the root set contains a
  }
  evaluate(u, h, lb, ub, n, budget, nu, x);
  return nu;
}

double BoxBudgetProjector::simplex(const double* y, Index n, double budget, double* x) {
  // Condat (2016), "Fast projection onto the simplex and the l1 ball", Math. Program. 158.
  work_.resize(static_cast<std::size_t>(n));
  work2_.resize(static_cast<std::size_t>(n));
  double* v = work_.data();
  double* vt = work2_.data();
  std::size_t nv = 0, nvt = 0;
  v[nv++] = y[0];
  double rho = y[0] - budget;
  for (Index i = 1; i < n; ++i) {
    const double yi = y[i];
    if (yi > rho) {
      rho += (yi - rho) / static_cast<double>(nv + 1);
      if (rho > yi - budget) {
        v[nv++] = yi;
      } else {
        for (std::size_t k = 0; k < nv; ++k) vt[nvt++] = v[k];
        nv = 0;
        v[nv++] = yi;
        rho = yi - budget;
      }
    }
  }
  for (std::size_t k = 0; k < nvt; ++k) {
    if (vt[k] > rho) {
      v[nv++] = vt[k];
      rho += (vt[k] - rho) / static_cast<double>(nv);
    }
  }
  // Drop candidates below the threshold until none is left (Michelot-type fixing); the threshold
  // is recomputed from the surviving candidates after each pass.
  bool changed = true;
  while (changed && nv > 0) {
    changed = false;
    std::size_t keep = 0;
    double s = 0.0;
    for (std::size_t k = 0; k < nv; ++k) {
      if (v[k] > rho) {
        s += v[k];
        v[keep++] = v[k];
      }
    }
    // In exact arithmetic the threshold stays below the largest candidate; when the budget is
    // below the rounding of y it can reach it, and the last candidate must stay.
    if (keep == 0) break;
    if (keep != nv) {
      changed = true;
      nv = keep;
      rho = (s - budget) / static_cast<double>(nv);
    }
  }
  // Exact threshold on the final support (compensated sum).
  const double tau = (accurate_sum(v, static_cast<Index>(nv)) - budget) / static_cast<double>(nv);
  for (Index i = 0; i < n; ++i) x[i] = std::max(y[i] - tau, 0.0);
  iterations_ = 1;
  return tau;
}

void implied_bounds(const VecRef& lb, const VecRef& ub, double budget, Vec& lb_out, Vec& ub_out) {
  const Index n = lb.size();
  lb_out = lb;
  ub_out = ub;
  Index lb_inf = 0, ub_inf = 0;
  // The sum of the other assets' bounds is the total minus the asset's own, except beside a huge
  // bound of its own (1e100), where that cancels to 0 and would imply a false bound on the asset
  // (and a false infeasibility): there it is a prefix plus a suffix sum.
  Vec lb_after = Vec::Zero(n + 1), ub_after = Vec::Zero(n + 1);  // sums over j >= i (finite terms)
  for (Index i = n - 1; i >= 0; --i) {
    lb_after[i] = lb_after[i + 1] + (std::isfinite(lb[i]) ? lb[i] : 0.0);
    ub_after[i] = ub_after[i + 1] + (std::isfinite(ub[i]) ? ub[i] : 0.0);
    lb_inf += std::isfinite(lb[i]) ? 0 : 1;
    ub_inf += std::isfinite(ub[i]) ? 0 : 1;
  }
  const auto others = [](double total, double own, double before, double after) {
    const double fast = total - own;
    return std::abs(own) > 1e6 * std::max(1.0, std::abs(fast)) ? before + after : fast;
  };
  double lb_before = 0.0, ub_before = 0.0;  // sums over j < i
  for (Index i = 0; i < n; ++i) {
    // the other lower bounds' sum (finite only when none of them is -inf)
    const bool li = std::isfinite(lb[i]);
    if (lb_inf == 0 || (lb_inf == 1 && !li)) {
      const double o = li ? others(lb_after[0], lb[i], lb_before, lb_after[i + 1]) : lb_after[0];
      ub_out[i] = std::min(ub_out[i], budget - o);
    }
    const bool ui = std::isfinite(ub[i]);
    if (ub_inf == 0 || (ub_inf == 1 && !ui)) {
      const double o = ui ? others(ub_after[0], ub[i], ub_before, ub_after[i + 1]) : ub_after[0];
      lb_out[i] = std::max(lb_out[i], budget - o);
    }
    lb_before += li ? lb[i] : 0.0;
    ub_before += ui ? ub[i] : 0.0;
    // Never tighter than the original box on the other side (rounding in the sums).
    ub_out[i] = std::max(ub_out[i], lb[i]);
    lb_out[i] = std::min(lb_out[i], ub[i]);
    if (lb_out[i] > ub_out[i]) ub_out[i] = lb_out[i];
  }
}

BoundsIssue check_bounds(const VecRef& lb, const VecRef& ub, double budget) {
  MICROALLOC_CHECK_SIZE(ub.size(), lb.size(), "upper");
  using Kind = BoundsIssue::Kind;
  const Index n = lb.size();
  BoundsIssue issue;
  // Per-entry faults in order of precedence; the first kind found is reported with its count.
  auto scan = [&](Kind kind, int argument, auto&& bad, const VecRef& v, const VecRef& partner) {
    for (Index i = 0; i < n; ++i) {
      if (!bad(i)) continue;
      if (issue.count == 0) {
        issue = BoundsIssue{kind, argument, i, 0, v[i], partner[i]};
      }
      ++issue.count;
    }
    return issue.count > 0;
  };
  if (scan(Kind::NaN, 0, [&](Index i) { return std::isnan(lb[i]); }, lb, ub)) return issue;
  if (scan(Kind::NaN, 1, [&](Index i) { return std::isnan(ub[i]); }, ub, lb)) return issue;
  if (scan(Kind::LowerPlusInf, 0, [&](Index i) { return lb[i] == kInf; }, lb, ub)) return issue;
  if (scan(Kind::UpperMinusInf, 1, [&](Index i) { return ub[i] == -kInf; }, ub, lb)) return issue;
  if (scan(Kind::Crossed, 0, [&](Index i) { return lb[i] > ub[i]; }, lb, ub)) return issue;
  double slb = 0.0, sub = 0.0, alb = 0.0, aub = 0.0;
  for (Index i = 0; i < n; ++i) {
    slb += lb[i];
    sub += ub[i];
    if (std::isfinite(lb[i])) alb += std::abs(lb[i]);
    if (std::isfinite(ub[i])) aub += std::abs(ub[i]);
  }
  const double tol = 1e-12 * std::max({1.0, std::abs(budget), alb, aub});
  if (slb > budget + tol) return BoundsIssue{Kind::LowerAboveBudget, 0, -1, 0, slb, budget};
  if (sub < budget - tol) return BoundsIssue{Kind::UpperBelowBudget, 1, -1, 0, sub, budget};
  return issue;
}

NonFinite find_non_finite(const VecRef& v, bool allow_infinite) {
  NonFinite out;
  for (Index i = 0; i < v.size(); ++i) {
    const bool bad = allow_infinite ? std::isnan(v[i]) : !std::isfinite(v[i]);
    if (!bad) continue;
    if (out.count == 0) {
      out.index = i;
      out.value = v[i];
    }
    ++out.count;
  }
  return out;
}

}  // namespace microalloc
