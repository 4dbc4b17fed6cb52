#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <vector>

#include "microalloc/certificate.hpp"
#include "microalloc/check.hpp"
#include "microalloc/mean_variance.hpp"
#include "microalloc/progress.hpp"
#include "microalloc/projection.hpp"
#include "mean_variance_common.hpp"

namespace microalloc {
namespace {

using namespace detail;

/// Largest eigenvalue of D^{-1/2} S D^{-1/2} by power iteration (from below).
double jacobi_lambda_max(const CovarianceModel& cov, const Vec& inv_sd) {
  const Index n = cov.size();
  Vec v = Vec::Constant(n, 1.0 / std::sqrt(static_cast<double>(n)));
  Vec tmp(n), mv(n);
  double lam = 0.0;
  for (int k = 0; k < 50; ++k) {
    tmp = inv_sd.cwiseProduct(v);
    cov.apply(tmp, mv);
    mv.array() *= inv_sd.array();
    const double lam_new = v.dot(mv);
    const double norm = mv.norm();
    if (!(norm > 0.0) || !std::isfinite(norm)) break;
    v = mv / norm;
    const bool done = std::abs(lam_new - lam) <= 1e-4 * std::abs(lam_new);
    lam = lam_new;
    if (done) break;
  }
  return lam;
}

}  // namespace

void MeanVarianceProblem::check_sizes() const {
  const Index n = cov.size();  // a model is square by construction
  if (has_mu()) MICROALLOC_CHECK_SIZE(mu.size(), n, "mu");
  MICROALLOC_CHECK_SIZE(lower.size(), n, "lower");
  MICROALLOC_CHECK_SIZE(upper.size(), n, "upper");
  if (has_benchmark()) MICROALLOC_CHECK_SIZE(benchmark.size(), n, "benchmark");
  if (!(risk_aversion >= 0.0) || !std::isfinite(risk_aversion)) {
    throw std::invalid_argument("risk_aversion: must be finite and >= 0");
  }
  if (!has_mu() && !(risk_aversion > 0.0)) {
    throw std::invalid_argument("risk_aversion: must be > 0 for minimum variance (mu is None)");
  }
}

SolveResult solve_projected_gradient(const MeanVarianceProblem& p, const SolverSettings& settings,
                                     const VecRef& warm_start) {
  const auto t0 = std::chrono::steady_clock::now();
  p.check_sizes();
  const Index n = p.size();
  if (warm_start.size() != 0) MICROALLOC_CHECK_SIZE(warm_start.size(), n, "warm_start");
  const double B = p.budget;
  const double ra = p.risk_aversion;

  SolveResult res;
  res.weights = Vec::Constant(n, kNaN);
  Vec lb, ub;
  if (!feasible_bounds(p, lb, ub)) {
    res.status = Status::Infeasible;
    res.solve_time_s = seconds_since(t0);
    return res;
  }
  const Vec cov_b = cov_times_benchmark(p);
  Evaluator ev(p, lb, ub, cov_b);
  BoxBudgetProjector proj;
  Vec x(n), z(n);

  if (ra == 0.0) {
    solve_linear(p, settings, lb, ub, ev, res);
    res.solve_time_s = seconds_since(t0);
    return res;
  }

  const Vec& d = p.cov.diagonal();
  const Vec inv_sd = d.cwiseSqrt().cwiseInverse();
  double L = jacobi_lambda_max(p.cov, inv_sd) * (1.0 + 1e-3);
  if (!(L > 0.0) || !std::isfinite(L)) L = 1.0;

  // Starting point: the warm start, else the benchmark, else inverse-variance weights.
  Vec u(n);
  if (warm_start.size() == n) {
    u = warm_start;
  } else if (p.has_benchmark()) {
    u = p.benchmark;
  } else {
    u = d.cwiseInverse();
    u *= B / u.sum();
  }
  proj.project(u.data(), nullptr, lb.data(), ub.data(), n, B, x.data());
  p.cov.apply(x, z);

  // c: linear coefficient of the gradient g = ra S w - c.
  Vec c = Vec::Zero(n);
  if (p.has_mu()) c = p.mu;
  if (p.has_benchmark()) c += ra * cov_b;

  Vec x_prev = x, z_prev = z, y(n), sy(n), g(n), xn(n), zn(n), h(n), dlt(n);
  auto set_metric = [&]() { h = (ra * L * d).cwiseInverse(); };
  set_metric();
  double t = 1.0, nu = 0.0;
  int stalled = 0;
  // Bound pattern of x (0 inside, 1 at lb, 2 at ub), for settings.stop_when_stable.
  std::vector<signed char> pattern;
  int stable = 0;
  auto pattern_changed = [&]() {
    bool changed = pattern.empty();
    pattern.resize(static_cast<std::size_t>(n));
    for (Index i = 0; i < n; ++i) {
      const signed char c = x[i] <= lb[i] ? 1 : (x[i] >= ub[i] ? 2 : 0);
      changed |= pattern[static_cast<std::size_t>(i)] != c;
      pattern[static_cast<std::size_t>(i)] = c;
    }
    return changed;
  };
  bool done = false;
  res.status = Status::MaxIter;
  if (ev.passes(ev.evaluate(x, z), settings.tol)) {
    res.status = Status::Optimal;  // the starting point (typically a warm start) is already certified
    done = true;
  }
  for (int it = 1; it <= settings.max_iter && !done; ++it) {
    // stopped (Ctrl-C, a callback's error): end as at the iteration limit; the caller discards it
    if (settings.progress != nullptr && it % 16 == 0 && !settings.progress->poll()) break;
    const double t_next = 0.5 * (1.0 + std::sqrt(1.0 + 4.0 * t * t));
    const double beta = (t - 1.0) / t_next;
    y = x + beta * (x - x_prev);
    sy = z + beta * (z - z_prev);
    g = ra * sy - c;
    for (int bt = 0;; ++bt) {
      u = y - h.cwiseProduct(g);
      nu = proj.project(u.data(), h.data(), lb.data(), ub.data(), n, B, xn.data(), nu);
      p.cov.apply(xn, zn);
      dlt = xn - y;
      const double dsd = dlt.dot(zn - sy);
      const double ddd = dlt.dot(d.cwiseProduct(dlt));
      const double rounding = 1e-13 * dlt.lpNorm<1>() * (zn.lpNorm<Eigen::Infinity>() + sy.lpNorm<Eigen::Infinity>());
      if (settings.check_curvature && dsd < -1e-8 * ddd - rounding) {
        res.status = Status::NotConvex;
        done = true;
        break;
      }
      if (dsd <= L * ddd * (1.0 + 1e-9) + rounding) break;
      if (bt >= 60) {
        res.status = Status::NumericalError;
        done = true;
        break;
      }
      L *= 2.0;
      set_metric();
    }
    if (done) break;  // keep the last accepted iterate x
    res.iterations = it;
    // Gradient restart (O'Donoghue & Candes): momentum points against the last step.
    if ((y - xn).dot(xn - x) > 0.0) {
      t = 1.0;
      ++res.restarts;
    } else {
      t = t_next;
    }
    stalled = (xn == x) ? stalled + 1 : 0;
    x_prev.swap(x);
    x.swap(xn);
    z_prev.swap(z);
    z.swap(zn);
    if (settings.stop_when_stable > 0) {
      stable = pattern_changed() ? 0 : stable + 1;
      if (stable >= settings.stop_when_stable) break;  // status MaxIter unless certified below
    }
    if (it % settings.check_every == 0 || it == settings.max_iter || stalled >= 3) {
      const auto pt = ev.evaluate(x, z);
      if (ev.passes(pt, settings.tol)) {
        res.status = Status::Optimal;
        done = true;
      } else if (stalled >= 3) {
        res.status = Status::NumericalError;  // a fixed point that does not certify: rounding
        done = true;
      }
    }
  }
  res.weights = x;
  res.lipschitz = L;
  const auto pt = ev.evaluate(x, z);
  fill_result(p, pt, ev, res);
  if (res.status == Status::Optimal && !ev.passes(pt, settings.tol)) res.status = Status::NumericalError;
  if (res.status == Status::MaxIter && ev.passes(pt, settings.tol)) res.status = Status::Optimal;
  res.solve_time_s = seconds_since(t0);
  return res;
}

}  // namespace microalloc
