// Risk budgeting with bounds on the weights (docs/methods.md §6.2).
//
// Bounds on normalised weights, l_i <= x_i / 1'x <= u_i, are homogeneous linear inequalities in
// Spinu's variable x: they define a polyhedral cone K, and min F(x) = 0.5 x'Sx - b'ln x over K is
// convex with a unique minimiser (x'Sx = 1'b = 1 there, by homogeneity). Its KKT conditions read,
// with w = x / 1'x and rc_i = w_i (Sw)_i / w'Sw:
//   rc_i = b_i + shift * w_i   for assets strictly inside their bounds (one shift for all),
//   rc_i <= b_i + shift * w_i  at an upper bound,  rc_i >= b_i + shift * w_i  at a lower bound.
// Assets with a zero budget, and assets with l_i = u_i, are held at their lower bound.
//
// Method: a coordinate held at a bound is y_j = ratio_j * 1'y, a linear function of the others, so
// fixing a set of them leaves Spinu's problem on a subspace, f(z) = 0.5 z'Qz - b'ln z - B ln 1'z
// (the log terms of the fixed coordinates collapse into B ln 1'z), smooth and convex: damped Newton
// solves it exactly. Which bounds hold is guessed from the unconstrained solution and corrected from
// the KKT signs for a few rounds; if that does not settle, a log-barrier path on the cone
// (Newton, fraction to the boundary, Armijo) identifies the active bounds, and the same
// reduced Newton solve finishes. Every answer is checked against the KKT conditions above in the
// original S.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include <Eigen/Cholesky>

#include "microalloc/check.hpp"
#include "microalloc/risk.hpp"
#include "rounding.hpp"

namespace microalloc {
namespace {

/// f(z) = 0.5 z'Qz - b'ln z - B ln(1'z), z > 0 (b > 0 on every coordinate).
struct Problem {
  Eigen::MatrixXd Q;
  Vec b;
  double B = 0.0;

  double value(const Vec& z, const Vec& qz) const {
    double f = 0.5 * z.dot(qz) - (b.array() * z.array().log()).sum();
    if (B > 0.0) f -= B * std::log(z.sum());
    return f;
  }
};

/// The coordinates in `fixed` held at y_j = ratio_j * 1'y. With t = 1'y = 1'y_F / (1 - sum ratio),
/// y_fixed = v * 1'y_F for v = ratio / (1 - sum ratio), so y = M y_F with M = [I; v 1'].
struct Elimination {
  std::vector<Index> free, fixed;
  Vec v;
  Problem reduced;

  Vec lift(const Vec& z, Index n) const {
    Vec y(n);
    const double t = z.sum();
    for (std::size_t a = 0; a < free.size(); ++a) y[free[a]] = z[static_cast<Index>(a)];
    for (std::size_t a = 0; a < fixed.size(); ++a) y[fixed[a]] = v[static_cast<Index>(a)] * t;
    return y;
  }

  Vec restrict(const Vec& y) const {
    Vec z(static_cast<Index>(free.size()));
    for (std::size_t a = 0; a < free.size(); ++a) z[static_cast<Index>(a)] = y[free[a]];
    return z;
  }
};

/// M'QM = Q_FF + h1' + 1h' + gamma 11' with h = Q_F,fixed v and gamma = v'Q_fixed,fixed v; the log
/// terms of the fixed coordinates become sum(b_fixed) ln 1'y_F (plus a constant).
Elimination eliminate(const Problem& p, const std::vector<Index>& fixed, const Vec& ratio) {
  const Index n = p.Q.rows();
  Elimination e;
  std::vector<char> is_fixed(static_cast<std::size_t>(n), 0);
  for (Index j : fixed) is_fixed[static_cast<std::size_t>(j)] = 1;
  for (Index i = 0; i < n; ++i) {
    if (!is_fixed[static_cast<std::size_t>(i)]) e.free.push_back(i);
  }
  e.fixed = fixed;
  const Index k = static_cast<Index>(e.free.size());
  const Index m = static_cast<Index>(fixed.size());
  e.v = ratio / (1.0 - ratio.sum());
  Vec qv = Vec::Zero(n);  // Q[:, fixed] v
  for (Index a = 0; a < m; ++a) qv.noalias() += e.v[a] * p.Q.col(fixed[static_cast<std::size_t>(a)]);
  double gamma = 0.0;
  for (Index a = 0; a < m; ++a) gamma += e.v[a] * qv[fixed[static_cast<std::size_t>(a)]];
  Problem& r = e.reduced;
  r.Q.resize(k, k);
  r.b.resize(k);
  r.B = p.B;
  for (Index a = 0; a < m; ++a) r.B += p.b[fixed[static_cast<std::size_t>(a)]];
  for (Index c = 0; c < k; ++c) {
    const Index jc = e.free[static_cast<std::size_t>(c)];
    r.b[c] = p.b[jc];
    for (Index t = 0; t < k; ++t) {
      const Index jt = e.free[static_cast<std::size_t>(t)];
      r.Q(t, c) = p.Q(jt, jc) + qv[jt] + qv[jc] + gamma;
    }
  }
  return e;
}

/// A bound of the level-1 problem: y_i <= rho * 1'y (upper) or y_i >= rho * 1'y (lower).
struct Bound {
  Index i;
  double rho;
  bool upper;
  double slack(const Vec& y, double t) const { return upper ? rho * t - y[i] : y[i] - rho * t; }
  double slope(const Vec& d, double dt) const { return upper ? rho * dt - d[i] : d[i] - rho * dt; }
};

/// Largest step in (0, 1] keeping z > 0 and the slacks positive, 99% of the way to the boundary.
double step_to_boundary(const Vec& z, const Vec& d, const std::vector<Bound>& bounds, const Vec& slack) {
  double alpha = 1.0;
  for (Index t = 0; t < z.size(); ++t) {
    if (d[t] < 0.0) alpha = std::min(alpha, 0.99 * z[t] / -d[t]);
  }
  const double dt = d.sum();
  for (std::size_t j = 0; j < bounds.size(); ++j) {
    const double ds = bounds[j].slope(d, dt);
    if (ds < 0.0) alpha = std::min(alpha, 0.99 * slack[static_cast<Index>(j)] / -ds);
  }
  return alpha;
}

constexpr double kFullStep = 1e-8;  // Newton decrement squared below which the full step is taken

/// One damped Newton step on f + mu * barrier(bounds) (mu = 0: no bounds). Returns the Newton
/// decrement squared (-g'd), or a negative value when the factorisation or line search fails.
double newton_step(const Problem& p, const std::vector<Bound>& bounds, double mu, Vec& z, Vec& qz) {
  const Index k = z.size();
  const double t = z.sum();
  Vec slack(static_cast<Index>(bounds.size()));
  for (std::size_t j = 0; j < bounds.size(); ++j) slack[static_cast<Index>(j)] = bounds[j].slack(z, t);
  // Gradient and Hessian. A bound's slack has gradient sign * (e_i - rho 1) (sign +1 for a lower
  // bound), so -mu ln(slack) adds -mu sign / slack * (e_i - rho 1) to the gradient and
  // mu / slack^2 * (e_i - rho 1)(e_i - rho 1)' to the Hessian: diagonal, h1' + 1h', and 11' parts.
  Vec g = qz - p.b.cwiseQuotient(z);
  Vec diag = p.b.cwiseQuotient(z.cwiseProduct(z));
  Vec h = Vec::Zero(k);
  double ones = p.B > 0.0 ? p.B / (t * t) : 0.0;
  double g_ones = p.B > 0.0 ? -p.B / t : 0.0;
  for (std::size_t j = 0; j < bounds.size(); ++j) {
    const Bound& c = bounds[j];
    const double s = slack[static_cast<Index>(j)];
    const double sign = c.upper ? -1.0 : 1.0;
    g[c.i] -= mu * sign / s;
    g_ones += mu * sign * c.rho / s;
    const double d = mu / (s * s);
    diag[c.i] += d;
    h[c.i] -= d * c.rho;
    ones += d * c.rho * c.rho;
  }
  g.array() += g_ones;
  Eigen::MatrixXd H = p.Q;
  H.diagonal() += diag;
  for (Index c = 0; c < k; ++c) H.col(c).array() += h.array() + (h[c] + ones);
  Eigen::LLT<Eigen::MatrixXd> llt(H);
  if (llt.info() != Eigen::Success) return -1.0;
  const Vec d = -llt.solve(g);
  const double decrement = -g.dot(d);
  if (!(decrement >= 0.0)) return -1.0;
  auto phi = [&](const Vec& y, const Vec& qy) {
    double f = p.value(y, qy);
    const double ty = y.sum();
    for (const Bound& c : bounds) f -= mu * std::log(c.slack(y, ty));
    return f;
  };
  double alpha = step_to_boundary(z, d, bounds, slack);
  Vec z_new, q_new;
  if (decrement < kFullStep && alpha == 1.0) {
    // Near the solution the full step converges quadratically, while the decrease of f it brings
    // is below the rounding of f: no line search.
    z += d;
    qz.noalias() = p.Q * z;
    return decrement;
  }
  const double f0 = phi(z, qz);
  for (int bt = 0; bt < 60; ++bt, alpha *= 0.5) {
    z_new = z + alpha * d;
    q_new.noalias() = p.Q * z_new;
    const double f = phi(z_new, q_new);
    if (f <= f0 - 1e-4 * alpha * decrement + 1e-15 * std::abs(f0)) {
      z.swap(z_new);
      qz.swap(q_new);
      return decrement;
    }
  }
  return -1.0;
}

struct Certificate {
  double residual = std::numeric_limits<double>::infinity();
  double shift = 0.0;
  double budget_error = 0.0;
  double volatility = 0.0;
  double floor = 0.0;  ///< what rounding alone can put into the relative errors (rounding.hpp)
  Vec rc;
  bool passes(double tol) const { return residual <= tol + floor; }
};

constexpr int kFree = 0, kLower = -1, kUpper = 1, kFixed = 2;

/// The largest model copied into a dense matrix (200 MB) for this method (the Python layer refuses
/// larger factor models first, with the same limit).
constexpr Index kMaxDenseCopy = 5000;

/// The KKT conditions of the header comment in the original S, relative to the budgets:
/// stationarity |rc_i - b_i - shift w_i| / b_i for free assets (shift by least squares), the signs
/// at active bounds, bound violations and |1'w - 1|.
Certificate certify(const MatRef& S, const Vec& w, const Vec& b, const Vec& lower, const Vec& upper,
                    const std::vector<int>& state) {
  const Index n = w.size();
  Certificate c;
  const Vec sw = S * w;
  Vec abs_sw = Vec::Zero(n);
  for (Index j = 0; j < n; ++j) {
    if (w[j] != 0.0) abs_sw.noalias() += std::abs(w[j]) * S.row(j).transpose().cwiseAbs();  // S symmetric
  }
  std::vector<Index> support;
  for (Index i = 0; i < n; ++i) {
    if (w[i] != 0.0) support.push_back(i);
  }
  c.floor = detail::ratio_rounding_floor(detail::cancellation_ratio(sw, abs_sw, support));
  const double var = w.dot(sw);
  c.volatility = std::sqrt(std::max(var, 0.0));
  c.rc = w.cwiseProduct(sw) / var;
  if (!(var > 0.0) || !w.allFinite()) {
    c.residual = std::numeric_limits<double>::quiet_NaN();
    return c;
  }
  // r_i = (rc_i - b_i) / w_i equals the shift on free assets; weight the fit by (w_i / b_i)^2.
  double num = 0.0, den = 0.0;
  for (Index i = 0; i < n; ++i) {
    if (state[static_cast<std::size_t>(i)] != kFree) continue;
    const double a = w[i] / b[i];
    num += a * (c.rc[i] - b[i]) / b[i];
    den += a * a;
  }
  c.shift = den > 0.0 ? num / den : 0.0;
  if (!(den > 0.0)) {
    // No asset inside its bounds: any shift between the bounds' requests r_i satisfies the signs
    // (at most r_i at a lower bound, at least r_i at an upper bound); take the middle.
    double lo = -std::numeric_limits<double>::infinity(), hi = std::numeric_limits<double>::infinity();
    for (Index i = 0; i < n; ++i) {
      const int s = state[static_cast<std::size_t>(i)];
      if (s == kUpper) lo = std::max(lo, (c.rc[i] - b[i]) / w[i]);
      if (s == kLower) hi = std::min(hi, (c.rc[i] - b[i]) / w[i]);
    }
    c.shift = std::isfinite(lo) && std::isfinite(hi) ? 0.5 * (lo + hi) : std::isfinite(lo) ? lo : std::isfinite(hi) ? hi : 0.0;
  }
  double res = std::abs(w.sum() - 1.0);
  for (Index i = 0; i < n; ++i) {
    res = std::max({res, lower[i] - w[i], w[i] - upper[i]});
    const int s = state[static_cast<std::size_t>(i)];
    if (b[i] > 0.0) {
      const double e = std::abs(c.rc[i] / b[i] - 1.0);
      if (!(e <= c.budget_error)) c.budget_error = e;
    }
    if (s == kFixed) continue;
    const double r = (c.rc[i] - b[i] - c.shift * w[i]) / b[i];
    const double v = s == kFree ? std::abs(r) : s == kUpper ? std::max(r, 0.0) : std::max(-r, 0.0);
    if (!(v <= res)) res = v;  // NaN propagates
  }
  c.residual = res;
  return c;
}

}  // namespace

RiskBudgetingResult risk_budgeting(const CovarianceModel& model, const VecRef& budgets, const VecRef& lower_in,
                                   const VecRef& upper_in, const RiskBudgetingSettings& settings) {
  const auto t0 = std::chrono::steady_clock::now();
  const Index n = model.size();
  MICROALLOC_CHECK_SIZE(lower_in.size(), n, "lower");
  MICROALLOC_CHECK_SIZE(upper_in.size(), n, "upper");
  const Vec lower = lower_in.cwiseMax(0.0);
  const Vec upper = upper_in.cwiseMin(1.0);
  if (!lower.allFinite() || !(upper.array() >= lower.array()).all()) {
    throw std::invalid_argument("lower, upper: need finite 0 <= lower <= upper");
  }
  constexpr double kSumTol = 1e-12;
  if (lower.sum() > 1.0 + kSumTol || upper.sum() < 1.0 - kSumTol) {
    throw std::invalid_argument("lower, upper: no weights within the bounds sum to 1");
  }
  // The unconstrained solution, when it satisfies the bounds, is the answer (no bound binds).
  RiskBudgetingResult res = risk_budgeting(model, budgets, settings);
  res.bound_state = IndexVec::Zero(n);
  if (res.status == Status::Optimal && (res.weights.array() >= lower.array()).all() &&
      (res.weights.array() <= upper.array()).all()) {
    res.kkt_residual = res.max_budget_error;
    return res;
  }
  Vec b = budgets;
  b /= b.maxCoeff();
  b /= b.sum();
  // Held at the lower bound throughout: zero budgets and l_i = u_i.
  std::vector<int> state(static_cast<std::size_t>(n), kFree);
  std::vector<Index> held;
  double held_sum = 0.0, free_lower = 0.0, free_upper = 0.0;
  for (Index i = 0; i < n; ++i) {
    if (b[i] == 0.0 || lower[i] == upper[i]) {
      state[static_cast<std::size_t>(i)] = kFixed;
      held.push_back(i);
      held_sum += lower[i];
    } else {
      free_lower += lower[i];
      free_upper += upper[i];
      if (upper[i] == 0.0) throw std::invalid_argument("upper: 0 for an asset with a positive budget");
    }
  }
  const Index k = n - static_cast<Index>(held.size());
  const double room = 1.0 - held_sum;  // the weight left for the other assets
  // Dense by nature: Newton on all of S (O(n^3) per solve) and a certificate from |S| |w|; a model
  // that is not a dense matrix is copied into one only up to kMaxDenseCopy assets.
  RowMat gathered;
  const MatRef cov = dense_entries(model, gathered, kMaxDenseCopy);
  if (k == 0 || free_lower > room + kSumTol || free_upper < room - kSumTol || !(room > 0.0)) {
    throw std::invalid_argument(
        "lower, upper: with assets of zero budget (or lower == upper) held at their lower bound, no "
        "weights of the others within their bounds make the total 1");
  }
  auto finish = [&](const Vec& w, int rounds) {
    res.weights = w;
    const Certificate c = certify(cov, w, b, lower, upper, state);
    res.risk_contributions = c.rc;
    res.kkt_residual = c.residual;
    res.budget_shift = c.shift;
    res.max_budget_error = c.budget_error;
    res.volatility = c.volatility;
    res.bound_rounds = rounds;
    for (Index i = 0; i < n; ++i) {
      const int s = state[static_cast<std::size_t>(i)];
      res.bound_state[i] = s == kFixed ? (lower[i] > 0.0 ? kLower : 0) : s;
    }
    res.status = c.passes(settings.tol)     ? Status::Optimal
                 : std::isnan(c.residual)   ? Status::NumericalError
                                            : Status::MaxIter;
    res.solve_time_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return res;
  };
  // Only one feasible point: every free asset at its lower (or every one at its upper) bound.
  if (free_lower >= room - kSumTol || free_upper <= room + kSumTol) {
    const bool at_lower = free_lower >= room - kSumTol;
    for (Index i = 0; i < n; ++i) {
      if (at_lower && state[static_cast<std::size_t>(i)] != kFixed && lower[i] == 0.0) {
        throw std::invalid_argument("lower: the only feasible weights give 0 to an asset with a positive budget");
      }
    }
    Vec w(n);
    std::vector<int> was = state;
    for (Index i = 0; i < n; ++i) {
      w[i] = state[static_cast<std::size_t>(i)] == kFixed || at_lower ? lower[i] : upper[i];
      state[static_cast<std::size_t>(i)] = kFixed;  // no freedom: nothing to certify but the bounds
    }
    RiskBudgetingResult out = finish(w / w.sum(), 0);
    for (Index i = 0; i < n; ++i) {
      if (was[static_cast<std::size_t>(i)] == kFree) out.bound_state[i] = at_lower ? kLower : kUpper;
    }
    return out;
  }

  // Level 0: Spinu's problem on S; level 1: the held assets eliminated, y = x_free.
  Problem level0{Eigen::MatrixXd(cov), b, 0.0};
  Vec held_ratio(static_cast<Index>(held.size()));
  for (std::size_t a = 0; a < held.size(); ++a) held_ratio[static_cast<Index>(a)] = lower[held[a]];
  const Elimination e1 = eliminate(level0, held, held_ratio);
  const Problem& p1 = e1.reduced;
  // In level-1 terms w_i = y_i / (kappa 1'y) with kappa = 1 / room: bounds y_i <= u_i kappa 1'y.
  std::vector<Bound> bounds;
  for (Index t = 0; t < k; ++t) {
    const Index i = e1.free[static_cast<std::size_t>(t)];
    if (lower[i] > 0.0) bounds.push_back({t, lower[i] / room, false});
    if (upper[i] < room) bounds.push_back({t, upper[i] / room, true});
  }
  auto weights_of = [&](const Vec& y) {
    Vec x = e1.lift(y, n);
    return Vec(x / x.sum());
  };
  // Reduced Newton with the bounds in `active` (indices into `bounds`) held as equalities.
  auto solve_with = [&](const std::vector<std::size_t>& active, const Vec& y_start, Vec& y_out) {
    std::vector<Index> fixed;
    Vec ratio(static_cast<Index>(active.size()));
    for (std::size_t a = 0; a < active.size(); ++a) {
      fixed.push_back(bounds[active[a]].i);
      ratio[static_cast<Index>(a)] = bounds[active[a]].rho;
    }
    if (static_cast<Index>(fixed.size()) >= k || !(ratio.sum() < 1.0)) return false;
    const Elimination e2 = eliminate(p1, fixed, ratio);
    Vec z = e2.restrict(y_start);
    Vec qz = e2.reduced.Q * z;
    const double scale = std::sqrt((e2.reduced.b.sum() + e2.reduced.B) / z.dot(qz));  // best along the ray
    z *= scale;
    qz *= scale;
    for (int it = 0; it < 100; ++it) {
      const double dec = newton_step(e2.reduced, {}, 0.0, z, qz);
      ++res.newton_steps;
      if (dec < 0.0) break;       // no further progress in floating point: the certificate decides
      if (dec < 1e-20) break;     // the step just taken leaves an error of order dec^2
    }
    y_out = e2.lift(z, k);
    return true;
  };
  auto active_state = [&](const std::vector<std::size_t>& active) {
    for (Index i = 0; i < n; ++i) {
      if (state[static_cast<std::size_t>(i)] != kFixed) state[static_cast<std::size_t>(i)] = kFree;
    }
    for (std::size_t j : active) {
      state[static_cast<std::size_t>(e1.free[static_cast<std::size_t>(bounds[j].i)])] =
          bounds[j].upper ? kUpper : kLower;
    }
  };
  Vec best_w;
  double best_residual = std::numeric_limits<double>::infinity();
  std::vector<std::size_t> best_active;
  int rounds = 0;
  std::vector<std::vector<std::size_t>> tried;
  Vec w;          // the weights of the last attempt
  Certificate c;  // and their certificate
  // Try an active set; keeps the best point. Certified: 1; solved, not certified: 0; no
  // solution with that set (too many bounds held): -1.
  auto attempt = [&](const std::vector<std::size_t>& active, const Vec& y_start, Vec& y_out) {
    ++rounds;
    tried.push_back(active);
    if (!solve_with(active, y_start, y_out)) return -1;
    active_state(active);
    w = weights_of(y_out);
    c = certify(cov, w, b, lower, upper, state);
    if (c.residual < best_residual) {
      best_residual = c.residual;
      best_w = w;
      best_active = active;
    }
    return c.passes(settings.tol) ? 1 : 0;
  };

  // Start: the unconstrained solution on the level-1 coordinates, or the interior point
  // l + theta (u - l) when that failed.
  Vec y0(k);
  for (Index t = 0; t < k; ++t) {
    const Index i = e1.free[static_cast<std::size_t>(t)];
    const double theta = (room - free_lower) / (free_upper - free_lower);
    y0[t] = res.weights.allFinite() && res.weights[i] > 0.0 ? res.weights[i] : lower[i] + theta * (upper[i] - lower[i]);
  }
  // Phase 1: active sets from the bounds the current point violates, corrected by the signs of
  // the KKT multipliers, for a few rounds.
  std::vector<std::size_t> active;
  {
    const double t = y0.sum();
    for (std::size_t j = 0; j < bounds.size(); ++j) {
      if (bounds[j].slack(y0, t) <= 0.0) active.push_back(j);
    }
  }
  Vec y;
  for (int r = 0; r < settings.guess_rounds; ++r) {
    const int outcome = attempt(active, y0, y);
    if (outcome == 1) return finish(best_w, rounds);
    if (outcome < 0) break;
    // Next set: bounds violated by the new point are added; active bounds whose multiplier has
    // the wrong sign (from the attempt's certificate) are dropped.
    std::vector<std::size_t> next;
    const double t = y.sum();
    for (std::size_t j = 0; j < bounds.size(); ++j) {
      const Bound& bd = bounds[j];
      const Index i = e1.free[static_cast<std::size_t>(bd.i)];
      const bool is_active = std::find(active.begin(), active.end(), j) != active.end();
      if (is_active) {
        const double r_i = (c.rc[i] - b[i] - c.shift * w[i]) / b[i];
        if (bd.upper ? r_i <= 0.0 : r_i >= 0.0) next.push_back(j);
      } else if (bd.slack(y, t) < 0.0) {
        next.push_back(j);
      }
    }
    if (next == active) break;
    active.swap(next);
    for (Index q = 0; q < k; ++q) y0[q] = std::max(y[q], 1e-300);
  }

  // Phase 2: a log-barrier path from a strictly feasible point; the bounds whose slack is below
  // sqrt(mu) * 1'y (where the slack is smaller than the multiplier estimate mu / slack) are taken
  // as active for the reduced Newton solve.
  {
    const double theta = (room - free_lower) / (free_upper - free_lower);
    Vec mid(k);
    for (Index t = 0; t < k; ++t) {
      const Index i = e1.free[static_cast<std::size_t>(t)];
      mid[t] = (lower[i] + theta * (upper[i] - lower[i])) / room;
    }
    Vec target = y0 / y0.sum();  // the direction of the start, normalised like mid
    // The largest step from mid towards target that stays strictly inside: mix at 90% of it.
    double lam = 1.0;
    const Vec d = target - mid;
    for (Index t = 0; t < k; ++t) {
      const Index i = e1.free[static_cast<std::size_t>(t)];
      if (d[t] > 0.0) lam = std::min(lam, 0.9 * (upper[i] / room - mid[t]) / d[t]);
      if (d[t] < 0.0) lam = std::min(lam, 0.9 * (mid[t] - lower[i] / room) / -d[t]);
    }
    Vec z = mid + std::max(lam, 0.0) * d;
    Vec qz = p1.Q * z;
    const double scale = std::sqrt((p1.b.sum() + p1.B) / z.dot(qz));
    z *= scale;
    qz *= scale;
    double mu = 0.1;
    bool failed = false;
    for (int outer = 0; outer < 40 && !failed && res.newton_steps < settings.max_sweeps; ++outer) {
      for (int inner = 0; inner < 50; ++inner) {
        const double dec = newton_step(p1, bounds, mu, z, qz);
        ++res.newton_steps;
        if (dec < 0.0) {
          failed = inner == 0 && mu < 1e-14;
          break;
        }
        if (dec < 1e-8) break;
      }
      if (mu <= 1e-3) {
        std::vector<std::size_t> guess;
        const double t = z.sum();
        const double cut = std::sqrt(mu) * t;
        for (std::size_t j = 0; j < bounds.size(); ++j) {
          if (!(bounds[j].slack(z, t) < cut)) continue;
          // At most one bound per asset (a narrow band can have both slacks under the cut).
          if (!guess.empty() && bounds[guess.back()].i == bounds[j].i) {
            if (bounds[j].slack(z, t) < bounds[guess.back()].slack(z, t)) guess.back() = j;
          } else {
            guess.push_back(j);
          }
        }
        if (std::find(tried.begin(), tried.end(), guess) == tried.end()) {
          if (attempt(guess, z, y) == 1) return finish(best_w, rounds);
        }
      }
      if (mu < 1e-16) break;
      mu *= 0.1;
    }
  }
  if (best_w.size() == 0) {
    res.weights = Vec::Constant(n, std::numeric_limits<double>::quiet_NaN());
    best_w = res.weights;
  }
  active_state(best_active);
  return finish(best_w, rounds);
}

}  // namespace microalloc
