#pragma once
// Internal to the core (not installed): pieces shared by the mean-variance solvers.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <vector>

#include "microalloc/certificate.hpp"
#include "microalloc/mean_variance.hpp"
#include "microalloc/projection.hpp"

namespace microalloc::detail {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

/// Evaluates the objective pieces and the certificate at a point, given S w (and S b).
struct Evaluator {
  const MeanVarianceProblem& p;
  const Vec& lb;
  const Vec& ub;
  const Vec& cov_b;  // S b, or empty
  double floor_scale;
  Certifier certifier;
  Vec g;

  Evaluator(const MeanVarianceProblem& prob, const Vec& lb_, const Vec& ub_, const Vec& cov_b_)
      : p(prob), lb(lb_), ub(ub_), cov_b(cov_b_) {
    const Index n = p.size();
    const double mean_var = p.cov.mean_variance();
    const double mu_max = p.has_mu() ? p.mu.cwiseAbs().maxCoeff() : 0.0;
    const double b2 = std::max(1.0, p.budget * p.budget);
    floor_scale = 1e-4 * p.risk_aversion * mean_var * b2 +
                  1e-12 * mu_max * std::max(1.0, std::abs(p.budget)) + 1e-300;
    g.resize(n);
  }

  struct Point {
    double risk_sq, expected_return, objective, scale;
    Certificate cert;
  };

  Point evaluate(const Vec& w, const Vec& cov_w) {
    Point pt = measure(w, cov_w);
    pt.cert = certifier.certify(w.data(), g.data(), lb.data(), ub.data(), p.size(), p.budget, pt.scale);
    return pt;
  }

  /// The objective pieces and the gradient `g` at w, without the certificate (for callers that
  /// certify a shifted gradient of their own).
  Point measure(const Vec& w, const Vec& cov_w) {
    const double ra = p.risk_aversion;
    Point pt{};
    if (p.has_benchmark()) {
      g.noalias() = cov_w - cov_b;
      pt.risk_sq = (w - p.benchmark).dot(g);
    } else {
      g = cov_w;
      pt.risk_sq = w.dot(cov_w);
    }
    pt.risk_sq = std::max(pt.risk_sq, 0.0);
    g *= ra;
    if (p.has_mu()) {
      g -= p.mu;
      pt.expected_return = p.mu.dot(w);
    }
    pt.objective = 0.5 * ra * pt.risk_sq - pt.expected_return;
    pt.scale = std::max(0.5 * ra * pt.risk_sq + std::abs(pt.expected_return), floor_scale);
    return pt;
  }

  bool passes(const Point& pt, double tol) const {
    const double primal_tol = 1e-10 * std::max(1.0, std::abs(p.budget));
    const double g_scale = std::max(g.cwiseAbs().maxCoeff(), 1e-300);
    return pt.cert.rel_gap <= tol && pt.cert.primal_residual <= primal_tol &&
           pt.cert.unbounded_violation <= tol * g_scale;
  }
};

/// `ev` must have just evaluated r.weights (its gradient is reused). The gap is certified against
/// the budget-implied box (same feasible set, finite, tighter); the multiplier and the dual residual
/// are KKT quantities of the constraints as the user stated them, so they use the original bounds.
inline void fill_result(const MeanVarianceProblem& p, const Evaluator::Point& pt, Evaluator& ev, SolveResult& r) {
  const Index n = p.size();
  // Often the budget implies no tighter box (a long-only cap), and the certificate is the same.
  const Certificate kkt =
      ev.lb == p.lower && ev.ub == p.upper
          ? pt.cert
          : ev.certifier.certify(r.weights.data(), ev.g.data(), p.lower.data(), p.upper.data(), n, p.budget,
                                 pt.scale);
  r.objective = pt.objective;
  r.expected_return = pt.expected_return;
  r.risk = std::sqrt(pt.risk_sq);
  r.gap = pt.cert.gap;
  r.rel_gap = pt.cert.rel_gap;
  r.primal_residual = pt.cert.primal_residual;
  r.dual_residual = kkt.dual_residual;
  r.budget_multiplier = kkt.multiplier;
  std::vector<std::int64_t> lo, hi;
  for (Index i = 0; i < n; ++i) {
    if (r.weights[i] == p.lower[i]) lo.push_back(i);
    if (r.weights[i] == p.upper[i]) hi.push_back(i);
  }
  r.active_lower = Eigen::Map<IndexVec>(lo.data(), static_cast<Index>(lo.size()));
  r.active_upper = Eigen::Map<IndexVec>(hi.data(), static_cast<Index>(hi.size()));
}

inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

/// S b, or an empty vector without a benchmark.
inline Vec cov_times_benchmark(const MeanVarianceProblem& p) {
  Vec cov_b;
  if (p.has_benchmark()) {
    cov_b.resize(p.size());
    p.cov.apply(p.benchmark, cov_b);
  }
  return cov_b;
}

/// The budget-implied finite bounds; false when the problem is infeasible (or empty).
inline bool feasible_bounds(const MeanVarianceProblem& p, Vec& lb, Vec& ub) {
  const Index n = p.size();
  const double B = p.budget;
  implied_bounds(p.lower, p.upper, B, lb, ub);
  const double slb = lb.sum(), sub = ub.sum();
  const double ftol = 1e-12 * std::max({1.0, std::abs(B), lb.cwiseAbs().sum(), ub.cwiseAbs().sum()});
  // The implied bounds are widened to never cross (rounding in the sums): test the given box too.
  return !((lb.array() > ub.array()).any() || (p.lower.array() > p.upper.array()).any() || slb > B + ftol ||
           sub < B - ftol || n == 0);
}

/// The greedy fill of a budget: from w = lb, each coordinate in decreasing `score` (ties by index)
/// goes to its upper bound until `left` is spent, the last one part way. Only the prefix it uses is
/// sorted (in doubling chunks): with caps, a few dozen of n coordinates.
inline void greedy_fill(const Vec& score, const Vec& lb, const Vec& ub, double left, Vec& w) {
  const Index n = score.size();
  w = lb;
  std::vector<Index> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), Index{0});
  const auto before = [&](Index a, Index b) { return score[a] > score[b] || (score[a] == score[b] && a < b); };
  Index done = 0;
  for (Index chunk = std::min<Index>(n, 64); done < n && left > 0.0; chunk = std::min(n, 2 * chunk)) {
    std::partial_sort(order.begin() + done, order.begin() + chunk, order.end(), before);
    for (; done < chunk && left > 0.0; ++done) {
      const Index i = order[static_cast<std::size_t>(done)];
      const double add = std::min(ub[i] - lb[i], left);
      w[i] = add == ub[i] - lb[i] ? ub[i] : lb[i] + add;
      left -= add;
    }
  }
}

/// risk_aversion == 0: the linear objective -mu'w, filled greedily in decreasing mu (ties by index).
inline void solve_linear(const MeanVarianceProblem& p, const SolverSettings& settings, const Vec& lb,
                         const Vec& ub, Evaluator& ev, SolveResult& res) {
  const Index n = p.size();
  Vec x;
  greedy_fill(p.mu, lb, ub, p.budget - lb.sum(), x);
  res.weights = x;
  const auto pt = ev.evaluate(x, Vec::Zero(n));
  fill_result(p, pt, ev, res);
  res.status = ev.passes(pt, settings.tol) ? Status::Optimal : Status::NumericalError;
}

}  // namespace microalloc::detail
