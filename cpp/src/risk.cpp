#include "microalloc/risk.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <memory>
#include <stdexcept>
#include <vector>

#include <Eigen/Cholesky>

#include "microalloc/check.hpp"
#include "parallel.hpp"
#include "rounding.hpp"

namespace microalloc {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

using detail::check_rows;
using detail::row_of;

/// |sum| small against the sum of |terms|: the ratio of a term to the sum is undefined.
bool vanishing(double sum, double abs_sum) { return !(std::abs(sum) > kVanishing * abs_sum); }

/// sigma, marginal, component and percent of one row from x (weights) and s_x = S x.
double decompose_row(const double* x, const double* sx, Index n, double* marginal, double* component,
                     double* percent) {
  double var = 0.0, abs_var = 0.0;
  for (Index i = 0; i < n; ++i) {
    const double t = x[i] * sx[i];
    var += t;
    abs_var += std::abs(t);
  }
  const bool zero = vanishing(var, abs_var) || var <= 0.0;
  const double sigma = zero ? 0.0 : std::sqrt(var);
  const double inv_s = zero ? kNaN : 1.0 / sigma;
  const double inv_v = zero ? kNaN : 1.0 / var;
  for (Index i = 0; i < n; ++i) {
    const double t = x[i] * sx[i];
    marginal[i] = sx[i] * inv_s;
    component[i] = zero ? 0.0 : t * inv_s;
    percent[i] = t * inv_v;
  }
  return sigma;
}

}  // namespace

RiskDecomposition decompose_risk(const RiskInput& in, int threads) {
  const Index n = in.cov.size();
  const Index m = in.weights.rows();
  MICROALLOC_CHECK_SIZE(in.weights.cols(), n, "weights columns");
  check_rows(in.benchmark, m, n, "benchmark", true);
  check_rows(in.expected_returns, m, n, "expected_returns", true);
  const bool active = in.benchmark.size() > 0;
  const bool alpha = active && in.expected_returns.size() > 0;

  RiskDecomposition out;
  out.volatility.resize(m);
  out.marginal.resize(m, n);
  out.component.resize(m, n);
  out.percent.resize(m, n);
  if (active) {
    out.tracking_error.resize(m);
    out.active_marginal.resize(m, n);
    out.active_component.resize(m, n);
    out.active_percent.resize(m, n);
  }
  if (alpha) {
    out.active_return.resize(m);
    out.active_return_contribution.resize(m, n);
    out.efficiency.resize(m, n);
  }
  if (m == 0 || n == 0) return out;

  // S b once when the benchmark is shared: S a = S w - S b.
  Vec sb;
  if (active && in.benchmark.rows() == 1) {
    sb.resize(n);
    in.cov.apply(row_of(in.benchmark, 0), sb);
  }

  auto work = [&](Index r0, Index r1) {
    if (r0 >= r1) return;
    // M = W S for these rows (S symmetric: rows of M are (S w)').
    RowMat mw;
    in.cov.apply_rows(in.weights.middleRows(r0, r1 - r0), mw);
    Vec a(n), sa(n);
    for (Index i = r0; i < r1; ++i) {
      const Index k = i - r0;
      const double* w = in.weights.row(i).data();
      const double* sw = mw.row(k).data();
      out.volatility[i] = decompose_row(w, sw, n, out.marginal.row(i).data(), out.component.row(i).data(),
                                        out.percent.row(i).data());
      if (!active) continue;
      const auto b = row_of(in.benchmark, i);
      a = Eigen::Map<const Vec>(w, n) - b;
      if (sb.size() == n) {
        sa = Eigen::Map<const Vec>(sw, n) - sb;
      } else {
        in.cov.apply(a, sa);
      }
      const double te = decompose_row(a.data(), sa.data(), n, out.active_marginal.row(i).data(),
                                      out.active_component.row(i).data(), out.active_percent.row(i).data());
      out.tracking_error[i] = te;
      if (!alpha) continue;
      const auto al = row_of(in.expected_returns, i);
      double ar = 0.0, abs_ar = 0.0;
      for (Index j = 0; j < n; ++j) {
        const double t = a[j] * al[j];
        out.active_return_contribution(i, j) = t;
        ar += t;
        abs_ar += std::abs(t);
      }
      out.active_return[i] = ar;
      const bool undefined = vanishing(ar, abs_ar) || te == 0.0;
      for (Index j = 0; j < n; ++j) {
        out.efficiency(i, j) = undefined ? kNaN : out.active_return_contribution(i, j) / ar - out.active_percent(i, j);
      }
    }
  };
  // Rows in fixed blocks of kBlock (one GEMM each), taken by the threads in turn: the blocking,
  // hence every rounding, does not depend on the thread count.
  constexpr Index kBlock = 256;
  detail::run_workers((m + kBlock - 1) / kBlock, threads, [&](auto take) {
    for (Index c = take(); c >= 0; c = take()) work(c * kBlock, std::min(m, (c + 1) * kBlock));
  });
  return out;
}

namespace {

constexpr double kInfSweeps = 1e300;
constexpr double kNewtonSteps = 8.0;  // Newton steps budgeted when comparing with coordinate descent
constexpr int kStallSweeps = 3;       // sweeps without a new lowest error: rounding level reached...
constexpr int kStallSteps = 2;        // (Newton steps)
constexpr double kStallLevel = 1e3;   // ...when the error is within this factor of the target
constexpr double kFullStep = 1e-8;    // Newton decrement squared below which the full step is taken

/// Spinu's F on the support (y > 0), given u = C y.
double spinu_objective(const Vec& y, const Vec& u, const Vec& b) {
  return 0.5 * y.dot(u) - (b.array() * y.array().log()).sum();
}

/// One damped Newton step on F: H = C + diag(b / y^2), g = Cy - b / y; fraction to the boundary
/// and Armijo backtracking keep y > 0 (the other roots of y_i (Cy)_i = b_i have mixed signs).
/// False (y and the tracker unchanged) when the solve or the line search fails; else the tracker
/// follows the new y.
bool newton_step(CoordinateTracker& c, const Vec& b, Vec& y) {
  const Index k = y.size();
  const Vec& u = c.product();
  const Vec g = u - b.cwiseQuotient(y);
  Vec x;
  if (!c.solve_shifted(b.cwiseQuotient(y.cwiseProduct(y)), g, x)) return false;
  const Vec d = -x;
  double alpha = 1.0;
  for (Index t = 0; t < k; ++t) {
    if (d[t] < 0.0) alpha = std::min(alpha, 0.99 * y[t] / -d[t]);
  }
  const double f0 = spinu_objective(y, u, b);
  const double slope = g.dot(d);
  Vec y_new, u_new;
  if (-slope < kFullStep && alpha == 1.0) {
    // Near the solution the full step converges quadratically while the decrease of F it brings
    // (about -slope / 2) is below the rounding of F, a sum of k logarithms: Armijo's test would
    // only see that rounding and halve the step every time. No line search.
    y_new = y + d;
    if (!(y_new.minCoeff() > 0.0)) return false;
    y.swap(y_new);
    c.reset(y);
    return true;
  }
  for (int bt = 0; bt < 60; ++bt, alpha *= 0.5) {
    y_new = y + alpha * d;
    c.apply(y_new, u_new);
    if (spinu_objective(y_new, u_new, b) <= f0 + 1e-4 * alpha * slope + 1e-15 * std::abs(f0)) {
      if (!(y_new.minCoeff() > 0.0)) return false;
      y.swap(y_new);
      c.reset(y);  // the same product as u_new
      return true;
    }
  }
  return false;
}

/// max over t of (|C| y)_t / |(C y)_t| (rounding.hpp; a factor model bounds |C| y from above).
double correlation_cancellation(const CoordinateTracker& c, const Vec& y) {
  const Index k = y.size();
  Vec abs_u;
  c.abs_apply(y, abs_u);
  std::vector<Index> all(static_cast<std::size_t>(k));
  for (Index t = 0; t < k; ++t) all[static_cast<std::size_t>(t)] = t;
  return detail::cancellation_ratio(c.product(), abs_u, all);
}

}  // namespace

RiskBudgetingResult risk_budgeting(const CovarianceModel& cov, const VecRef& budgets,
                                   const RiskBudgetingSettings& settings) {
  const auto t0 = std::chrono::steady_clock::now();
  const Index n = cov.size();
  MICROALLOC_CHECK_SIZE(budgets.size(), n, "budgets");
  if (n == 0) throw std::invalid_argument("cov: no assets");
  if (!budgets.allFinite() || !(budgets.minCoeff() >= 0.0) || !(budgets.maxCoeff() > 0.0)) {
    throw std::invalid_argument("budgets: must be finite, >= 0 and not all 0");
  }
  RiskBudgetingResult res;
  // Support P (positive budgets); the problem lives on the correlation matrix of P.
  std::vector<Index> P;
  for (Index i = 0; i < n; ++i) {
    if (budgets[i] > 0.0) P.push_back(i);
  }
  const Index k = static_cast<Index>(P.size());
  const Vec& variances = cov.diagonal();
  Vec b(k), sd(k);
  for (Index t = 0; t < k; ++t) {
    b[t] = budgets[P[t]];
    sd[t] = std::sqrt(variances[P[t]]);
  }
  b /= b.maxCoeff();  // first by the largest: the sum of huge budgets must not overflow
  b /= b.sum();
  // The correlation block C of the support, through the model: a dense model gathers it (O(k^2)),
  // a factor model follows V_P' y instead (O(k r)).
  const std::unique_ptr<CoordinateTracker> tracker = cov.coordinate_tracker(P, sd);
  CoordinateTracker& C = *tracker;
  const Vec& u = C.product();
  // Start: y = b scaled so that y'Cy = 1 (the value at the solution).
  Vec y = b;
  C.reset(y);
  y *= 1.0 / std::sqrt(y.dot(u));
  C.reset(y);
  // The rounding level of the y-space error: tol plus what rounding in C y and y'Cy can show
  // (grows with the cancellation in C y; recomputed when y has moved far).
  auto rounding_level = [&]() {
    return settings.tol + detail::ratio_rounding_floor(correlation_cancellation(C, y));
  };
  auto max_error = [&]() {
    const double var = y.dot(u);
    double e = 0.0;
    for (Index t = 0; t < k; ++t) {
      const double x = std::abs(y[t] * u[t] / (var * b[t]) - 1.0);
      if (!(x <= e)) e = x;  // NaN propagates
    }
    return e;
  };
  // One sweep of coordinate descent (detail::spinu_pass: y_i is the positive root of
  // C_ii y^2 + c y - b_i = 0), then the exact minimisation of F along the ray through y (Choi &
  // Chen): y'Cy = 1 at the optimum.
  Vec cdiag(k);  // C_ii, read once
  for (Index i = 0; i < k; ++i) cdiag[i] = C.diagonal(i);
  auto sweep = [&]() {
    C.spinu_pass(cdiag, b, y);
    ++res.iterations;
    C.reset(y);  // exact product once per sweep: no drift from the updates
    const double scale = 1.0 / std::sqrt(y.dot(u));
    y *= scale;
    C.rescale(scale);
  };
  res.status = Status::MaxIter;
  // A dense Newton step is O(k^3): allowed up to newton_max_n assets; a factor model's (Woodbury,
  // O(k r^2)) always.
  const bool newton_allowed = !C.dense_solve() || k <= settings.newton_max_n;
  // Coordinate descent while its observed rate of convergence promises to reach the target for
  // less than a few Newton steps cost (dense: a sweep is O(k^2), a Newton step O(k^3 / 3), k / 3
  // sweeps; factor: O(k r) and O(k r^2)); on strongly correlated matrices the rate degrades with
  // k, and damped Newton finishes instead.
  double err = max_error();
  double level = rounding_level();
  // Stall test: steps that no longer lower the error near its rounding level end the iteration;
  // the final certificate in S decides (with the rounding floor of its own products).
  double best = err;
  int stalled = 0;
  auto stalling = [&]() {
    if (err < best || err > kStallLevel * level) {
      best = err;
      stalled = 0;
    } else {
      ++stalled;
    }
    return stalled >= kStallSweeps;
  };
  while (err > settings.tol && res.iterations < settings.max_sweeps) {
    const double before = err;
    sweep();
    err = max_error();
    if (res.iterations == 1) level = rounding_level();  // near the solution's scale after one sweep
    const double rate = err / before;
    if (stalling()) break;
    if (newton_allowed && res.iterations >= 3 && err > settings.tol) {
      const double remaining = rate < 1.0 ? std::log(settings.tol / err) / std::log(rate) : kInfSweeps;
      if (remaining > kNewtonSteps * C.solve_cost()) break;
    }
  }
  if (newton_allowed && err > settings.tol && stalled < kStallSweeps) {
    best = err;
    stalled = 0;
    for (int it = 0; it < 100 && err > settings.tol && stalled < kStallSteps; ++it) {
      const double before = err;
      if (!newton_step(C, b, y)) break;
      ++res.newton_steps;
      err = max_error();
      stalling();
      // At the rounding level, a step that no longer divides the error by 10 has nothing
      // quadratic left to give (a step costs solve_cost() sweeps).
      if (err <= level && err > 0.1 * before) break;
    }
  }
  // Newton stopped short (a failed factorisation or line search): back to sweeps.
  if (res.newton_steps > 0) {
    level = rounding_level();
    best = err;
    stalled = 0;
  }
  while (err > settings.tol && res.iterations < settings.max_sweeps && stalled < kStallSweeps) {
    sweep();
    err = max_error();
    stalling();
  }
  // Weights and an exact certificate from S w.
  res.weights = Vec::Zero(n);
  double total = 0.0;
  for (Index t = 0; t < k; ++t) total += y[t] / sd[t];
  for (Index t = 0; t < k; ++t) res.weights[P[t]] = y[t] / sd[t] / total;
  // S w exactly (the columns of the support: one pass over V for a factor model), and |S| w on the
  // support for the rounding floor, from the correlations: |S_rt| w_t = sd_r |C_rt| y_t / total
  // (a factor model: the bound |V||V'| w + d w, see CoordinateTracker::abs_apply).
  Vec sw = Vec::Zero(n), abs_sw = Vec::Zero(n);
  {
    Vec wp(k);
    for (Index t = 0; t < k; ++t) wp[t] = res.weights[P[t]];
    cov.add_columns_accurate(P.data(), wp.data(), k, 1.0, sw);
    Vec abs_cy;
    C.abs_apply(y, abs_cy);
    for (Index r = 0; r < k; ++r) abs_sw[P[r]] = sd[r] * abs_cy[r] / total;
  }
  const double var = res.weights.dot(sw);
  res.volatility = std::sqrt(std::max(var, 0.0));
  res.risk_contributions = res.weights.cwiseProduct(sw) / var;
  res.max_budget_error = 0.0;
  for (Index t = 0; t < k; ++t) {
    const double x = std::abs(res.risk_contributions[P[t]] / b[t] - 1.0);
    if (!(x <= res.max_budget_error)) res.max_budget_error = x;  // NaN propagates
  }
  if (!(var > 0.0) || !res.weights.allFinite()) {
    res.status = Status::NumericalError;
  } else if (res.max_budget_error <= settings.tol + detail::ratio_rounding_floor(detail::cancellation_ratio(sw, abs_sw, P))) {
    // met to tol, up to what rounding in S w and w'Sw can show at this n and these data
    res.status = Status::Optimal;
  } else if (res.iterations < settings.max_sweeps || !std::isfinite(res.max_budget_error)) {
    res.status = Status::NumericalError;  // stopped short of the target without running out of sweeps
  }
  res.kkt_residual = res.max_budget_error;
  res.bound_state = IndexVec::Zero(n);
  res.solve_time_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return res;
}

}  // namespace microalloc
