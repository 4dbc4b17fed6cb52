// The efficient frontier by the parametric active-set method (critical line algorithm),
// docs/methods.md §4.
//
// Every asset is free (F) or held at a bound (B: lower, upper, or fixed when its bounds meet). For a
// fixed working set the KKT system of
//     min (1/2)(w-b)'S(w-b) - tau mu'w   s.t. 1'w = B, w_B at its bounds,
// is linear in tau:  S_FF w_F + nu 1 = c0_F - (S w_B)_F + tau mu_F,  1'w_F = B - 1'w_B,  c0 = S b.
// With a Cholesky factor of S_FF, x = S_FF^{-1} rhs and e = S_FF^{-1} 1 give nu = (1'x - budget) / 1'e
// and w_F = x - nu e, for the two right-hand sides (tau^0 and tau^1). So w_F = alpha + tau beta,
// nu = nu0 + tau nu1, and the reduced gradients r_i = (S w)_i - c0_i - tau mu_i + nu of the held
// assets are gamma_i + tau delta_i. The segment stays optimal while the free weights stay inside
// their bounds and r keeps its sign (>= 0 at a lower bound, <= 0 at an upper one). The next turning
// point is the nearest tau at which one of these fails: that asset changes sides. Ties go to the
// lowest index (Bland), an asset that just left cannot come back at the same tau, and tiny slopes
// (relative 1e-11) are not events.
//
// The path starts at tau = 0 from the active-set solver's certified minimum (active) variance and
// walks up to the maximum-return end (or to infinity when a bound is infinite). Both ends of every
// segment are certified by the duality gap of the mean-variance problem at that tau, from
// S w = S alpha + tau S beta, already at hand (O(n) per check).
#include "microalloc/frontier.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

#include <Eigen/Cholesky>

#include "cholesky_update.hpp"
#include "mean_variance_common.hpp"
#include "microalloc/certificate.hpp"
#include "microalloc/check.hpp"
#include "microalloc/mean_variance.hpp"

namespace microalloc {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kSlopeTol = 1e-11;  // relative: slopes below this are not events
constexpr double kTieTol = 1e-12;    // relative: events this close are ties
constexpr double kCancelTol = 1e-12; // a free slope below this fraction of its terms is rounding
constexpr int kRefreshPeriod = 32;   // S w_B recomputed from scratch every this many events

enum Side : signed char { kFree = 0, kLower = 1, kUpper = 2, kFixed = 3 };
constexpr int kRefactorPeriod = 64;  // factor updates between factorisations from scratch
constexpr double kPivotTol = 1e-13;  // relative pivot below which the free block counts as singular

/// Cholesky factor of S_FF + sigma 11' for the free assets, in factor order, updated in O(k^2)
/// when an asset enters (a forward substitution) or leaves (a shift and a rank-1 update of the
/// trailing block), as in the active-set solver.
struct FreeFactor {
  const MatRef* cov = nullptr;
  double sigma = 0.0;
  std::vector<Index> free;
  Eigen::MatrixXd fac;
  Index k = 0;
  int updates = 0;
  int factorizations = 0;
  Vec q, v;

  double h(Index i, Index j) const { return (*cov)(i, j) + sigma; }

  void reserve(Index cap) {
    if (fac.rows() >= cap) return;
    const Index nc = std::max<Index>(cap, std::max<Index>(16, 2 * fac.rows()));
    Eigen::MatrixXd nf(nc, nc);
    nf.topLeftCorner(k, k) = fac.topLeftCorner(k, k);
    fac.swap(nf);
  }

  auto lower() { return fac.topLeftCorner(k, k).triangularView<Eigen::Lower>(); }

  void solve(Eigen::Ref<Vec> x) {
    if (k == 0) return;
    lower().solveInPlace(x);
    lower().transpose().solveInPlace(x);
  }

  bool refactor() {
    ++factorizations;
    updates = 0;
    k = 0;  // nothing to keep: reserve() copies only the leading k x k block
    reserve(static_cast<Index>(free.size()));
    k = static_cast<Index>(free.size());
    if (k == 0) return true;
    auto a = fac.topLeftCorner(k, k);
    for (Index r = 0; r < k; ++r) {
      for (Index t = 0; t <= r; ++t) a(r, t) = h(free[r], free[t]);
    }
    Eigen::LLT<Eigen::Ref<Eigen::MatrixXd>, Eigen::Lower> llt(a);
    if (llt.info() != Eigen::Success) return false;
    for (Index t = 0; t < k; ++t) {
      if (!(a(t, t) * a(t, t) > kPivotTol * h(free[t], free[t]))) return false;
    }
    return true;
  }

  /// Appends j; false (factor unchanged) when its pivot vanishes.
  bool insert(Index j) {
    q.resize(k);
    for (Index t = 0; t < k; ++t) q[t] = h(j, free[t]);
    if (k > 0) lower().solveInPlace(q);
    const double diag = h(j, j);
    const double rho2 = diag - q.squaredNorm();
    if (!(rho2 > kPivotTol * diag)) return false;
    reserve(k + 1);
    for (Index t = 0; t < k; ++t) fac(k, t) = q[t];
    fac(k, k) = std::sqrt(rho2);
    free.push_back(j);
    ++k;
    ++updates;
    return true;
  }

  /// Removes the asset at factor position pos.
  void remove(Index pos) {
    detail::cholesky_remove(fac, k, pos, v);
    free.erase(free.begin() + pos);
    --k;
    ++updates;
  }
};

}  // namespace

Frontier efficient_frontier(const FrontierProblem& p, const FrontierSettings& settings) {
  const auto t0 = std::chrono::steady_clock::now();
  const Index n = p.cov.rows();
  MICROALLOC_CHECK_SIZE(p.cov.cols(), n, "cov columns");
  MICROALLOC_CHECK_SIZE(p.mu.size(), n, "mu");
  MICROALLOC_CHECK_SIZE(p.lower.size(), n, "lower");
  MICROALLOC_CHECK_SIZE(p.upper.size(), n, "upper");
  if (p.benchmark.size() != 0) MICROALLOC_CHECK_SIZE(p.benchmark.size(), n, "benchmark");
  Frontier out;
  const Vec no_mu;
  MeanVarianceProblem mv{p.cov, no_mu, p.lower, p.upper, p.benchmark, 1.0, p.budget};
  Vec lb, ub;
  if (!detail::feasible_bounds(mv, lb, ub)) {
    out.status = Status::Infeasible;
    out.message = "no portfolio satisfies the bounds and the budget";
    return out;
  }
  // The start: minimum (active) variance, certified.
  SolverSettings ss;
  ss.tol = settings.tol;  // only its working set is used: the path recomputes the weights exactly
  const SolveResult start = solve_active_set(mv, ss, Vec());
  if (start.status != Status::Optimal) {
    out.status = start.status;
    out.message = "the minimum-variance start could not be certified";
    return out;
  }
  const bool has_b = p.benchmark.size() != 0;
  Vec c0 = Vec::Zero(n), bench = Vec::Zero(n);
  if (has_b) {
    bench = p.benchmark;
    c0.noalias() = p.cov * bench;
  }
  const double budget = p.budget;
  const double mu_scale = std::max(p.mu.cwiseAbs().maxCoeff(), 1e-300);
  const double mean_var = n > 0 ? std::max(p.cov.diagonal().sum() / static_cast<double>(n), 1e-300) : 1.0;

  // Working set from the start point: assets on a bound are held there.
  std::vector<signed char> side(static_cast<std::size_t>(n));
  Vec w = start.weights;
  for (Index i = 0; i < n; ++i) {
    const double wtol = 1e-11 * std::max(1.0, std::abs(ub[i] - lb[i]) < kInf ? std::abs(ub[i] - lb[i]) : 1.0);
    if (lb[i] == ub[i]) {
      side[i] = kFixed;
      w[i] = lb[i];
    } else if (std::abs(w[i] - lb[i]) <= wtol) {
      side[i] = kLower;
      w[i] = lb[i];
    } else if (std::abs(w[i] - ub[i]) <= wtol) {
      side[i] = kUpper;
      w[i] = ub[i];
    } else {
      side[i] = kFree;
    }
  }

  Vec held_sw(n);  // S w_B
  auto refresh_held = [&] {
    held_sw.setZero();
    for (Index j = 0; j < n; ++j) {
      if (side[j] != kFree && w[j] != 0.0) held_sw.noalias() += w[j] * p.cov.row(j).transpose();
    }
  };
  refresh_held();

  // With no free asset (a vertex), one held asset is freed at its bound: with the budget it cannot
  // move, and its stationarity fixes nu. The one with the smallest r among the lower ones (largest
  // among the upper ones) keeps every other sign.
  auto ensure_free = [&](double tau) -> Index {
    for (Index i = 0; i < n; ++i) {
      if (side[i] == kFree) return -1;
    }
    Index pick = -1;
    double best = kInf;
    for (Index i = 0; i < n; ++i) {
      const double r = held_sw[i] - c0[i] - tau * p.mu[i];
      if (side[i] == kLower && r < best) best = r, pick = i;
    }
    if (pick < 0) {
      best = -kInf;
      for (Index i = 0; i < n; ++i) {
        const double r = held_sw[i] - c0[i] - tau * p.mu[i];
        if (side[i] == kUpper && r > best) best = r, pick = i;
      }
    }
    if (pick >= 0) {
      side[pick] = kFree;
      held_sw.noalias() -= w[pick] * p.cov.row(pick).transpose();
    }
    return pick;
  };

  const int max_points = settings.max_points > 0 ? settings.max_points : static_cast<int>(20 * n + 100);
  FreeFactor ff;
  ff.cov = &p.cov;
  bool need_factor = false;
  // Factorise from scratch; with the 11' shift when S_FF is singular (on 1'w_F = const it only moves nu).
  auto factor = [&]() {
    if (ff.refactor()) return true;
    if (ff.sigma != 0.0) return false;
    ff.sigma = mean_var;
    return ff.refactor();
  };
  // Adds asset j to the factored free block. When its row depends on the free rows there is a
  // direction d (d_j = 1, d_F = -H_FF^-1 H_Fj) with S d = 0 and 1'd = 0: moving along it changes
  // neither the risk nor the budget, only mu'w. The move goes the way that raises mu'w (for a held
  // j: only the way its bound allows, and only if mu'd is not negative) until an asset of F + j
  // reaches a bound; that asset is held there and j is tried again. Duplicated assets (and any
  // replicating combination) are settled this way: on the optimal face of minimum risk the path
  // starts from the highest-return point. j is either held (at a bound) or free and unfactored
  // ("pending": interior, not in S w_B). Returns 0 when j ends free, 1 when held, -1 when the move
  // has no end (an infinite bound: return without limit at no risk), -2 when the block stays
  // singular (no bound ends a move of no gain, or the factor fails even with the shift).
  Vec dq;
  auto settle = [&](Index j) -> int {
    for (Index guard = 0; guard <= n + 1; ++guard) {
      if (ff.insert(j)) {
        if (side[j] != kFree) held_sw.noalias() -= w[j] * p.cov.row(j).transpose();
        side[j] = kFree;
        return 0;
      }
      if (ff.sigma == 0.0) {  // singular without the shift: retry with it before calling it a direction
        ff.sigma = mean_var;
        if (!ff.refactor()) return -2;
        continue;
      }
      const Index k = ff.k;
      dq.resize(k);
      for (Index r = 0; r < k; ++r) dq[r] = ff.h(j, ff.free[r]);
      ff.solve(dq);  // d_F = -dq
      double mud = p.mu[j], mud_terms = std::abs(p.mu[j]);
      for (Index r = 0; r < k; ++r) {
        mud -= dq[r] * p.mu[ff.free[r]];
        mud_terms += std::abs(dq[r] * p.mu[ff.free[r]]);
      }
      if (std::abs(mud) <= 1e-12 * mud_terms) mud = 0.0;
      // A held j still on its bound may only move off it, and only for a gain; a j inside its
      // bounds (pending, or moved off its bound by an earlier pass) moves either way. Ties (no
      // gain) move weight off j, towards the lower indices already in the block.
      double dir;
      if (side[j] == kLower && w[j] == lb[j]) {
        if (mud <= 0.0) return 1;
        dir = 1.0;
      } else if (side[j] == kUpper && w[j] == ub[j]) {
        if (mud >= 0.0) return 1;
        dir = -1.0;
      } else {
        dir = mud > 0.0 ? 1.0 : -1.0;
      }
      double step = dir > 0 ? ub[j] - w[j] : w[j] - lb[j];
      Index blocker = j;
      double dq_scale = 0.0;
      for (Index r = 0; r < k; ++r) dq_scale = std::max(dq_scale, std::abs(dq[r]));
      for (Index r = 0; r < k; ++r) {
        const Index i = ff.free[r];
        const double di = -dir * dq[r];
        if (std::abs(di) <= 1e-12 * dq_scale) continue;
        const double room = di > 0 ? (ub[i] - w[i]) / di : (lb[i] - w[i]) / di;
        if (room < step) step = room, blocker = i;
      }
      if (!(step < kInf)) return mud != 0.0 ? -1 : -2;
      step = std::max(step, 0.0);
      const double wj_old = w[j];
      w[j] += dir * step;
      for (Index r = 0; r < k; ++r) w[ff.free[r]] -= dir * step * dq[r];
      if (side[j] != kFree) held_sw.noalias() += (w[j] - wj_old) * p.cov.row(j).transpose();
      if (blocker == j) {
        const bool up = dir > 0;
        const double at = up ? ub[j] : lb[j];
        if (side[j] == kFree) {
          held_sw.noalias() += at * p.cov.row(j).transpose();
        } else {
          held_sw.noalias() += (at - w[j]) * p.cov.row(j).transpose();
        }
        w[j] = at;
        side[j] = up ? kUpper : kLower;
        return 1;
      }
      const Index pos = static_cast<Index>(std::find(ff.free.begin(), ff.free.end(), blocker) - ff.free.begin());
      const bool up = w[blocker] > 0.5 * (lb[blocker] + ub[blocker]) || lb[blocker] == -kInf;
      w[blocker] = up ? ub[blocker] : lb[blocker];
      side[blocker] = up ? kUpper : kLower;
      held_sw.noalias() += w[blocker] * p.cov.row(blocker).transpose();
      ff.remove(pos);
    }
    return -2;
  };
  // The start's free assets enter the factor one by one (settling any dependent ones).
  int settled = 0;
  for (Index i = 0; i < n && settled >= 0; ++i) {
    if (side[i] == kFree) settled = std::min(settle(i), 0);
  }
  const std::vector<Index>& free = ff.free;
  Vec x0, x1, e, alpha(n), beta(n), s_alpha(n), s_beta(n), g(n), wt(n);
  std::vector<Vec> points;
  std::vector<double> taus, m0, m1, v0, v1, v2;
  Certifier certifier;
  double tau = 0.0;
  Index last_left = -1;
  int events = 0;
  out.status = Status::Optimal;

  auto certify_at = [&](double t) {
    wt = alpha + t * beta;
    g = s_alpha + t * s_beta - c0 - t * p.mu;
    const double risk_sq = std::max((wt - bench).dot(g + t * p.mu), 0.0);  // (w-b)'S(w-b)
    const double ret = p.mu.dot(wt);
    const double scale = std::max(0.5 * risk_sq + t * std::abs(ret), 1e-4 * mean_var * std::max(1.0, budget * budget));
    const Certificate c = certifier.certify(wt.data(), g.data(), lb.data(), ub.data(), n, budget, scale);
    out.max_rel_gap = std::max(out.max_rel_gap, c.rel_gap);
    out.max_primal_residual = std::max(out.max_primal_residual, c.primal_residual);
    const double g_scale = std::max(g.cwiseAbs().maxCoeff(), 1e-300);
    return c.rel_gap <= settings.tol && c.primal_residual <= 1e-9 * std::max(1.0, std::abs(budget)) &&
           c.unbounded_violation <= settings.tol * g_scale;  // stationarity where a bound is infinite
  };

  for (;;) {
    if (settled < 0) {
      out.status = Status::NumericalError;
      out.message = settled == -1 ? "the expected return grows without limit at minimum risk (infinite bounds)"
                                  : "the free block of the covariance is singular on the budget plane";
      break;
    }
    if (const Index j = ensure_free(tau); j >= 0) {
      if (need_factor || !ff.insert(j)) {
        ff.free.push_back(j);
        need_factor = true;
      }
    }
    if (need_factor || ff.updates >= kRefactorPeriod) {
      if (!factor()) {
        out.status = Status::NumericalError;
        out.message = "the free block of the covariance is singular on the budget plane";
        break;
      }
      need_factor = false;
    }
    const Index k = static_cast<Index>(free.size());
    const double sigma = ff.sigma;
    double held_sum = 0.0;
    for (Index i = 0; i < n; ++i) {
      if (side[i] != kFree) held_sum += w[i];
    }
    const double free_budget = budget - held_sum;
    x0.resize(k);
    x1.resize(k);
    for (Index r = 0; r < k; ++r) {
      x0[r] = c0[free[r]] - held_sw[free[r]];
      x1[r] = p.mu[free[r]];
    }
    e = Vec::Ones(k);
    ff.solve(x0);
    ff.solve(x1);
    ff.solve(e);
    const double se = e.sum();
    const double nu0s = (x0.sum() - free_budget) / se, nu1 = x1.sum() / se;
    const double nu0 = nu0s + sigma * free_budget;  // the multiplier of the unshifted system
    alpha = w;
    beta.setZero();
    for (Index r = 0; r < k; ++r) {
      alpha[free[r]] = x0[r] - nu0s * e[r];
      beta[free[r]] = k > 1 ? x1[r] - nu1 * e[r] : 0.0;  // one free asset cannot move: the budget holds it
    }
    if (k == 1) alpha[free[0]] = free_budget;
    // beta = x1 - nu1 e cancels when the free assets' mu are (nearly) tied: what is left below the
    // rounding of its two terms is not a slope, and the segment does not move at all.
    {
      double terms = 0.0, slope = 0.0;
      for (Index r = 0; r < k; ++r) {
        terms = std::max(terms, std::abs(x1[r]) + std::abs(nu1 * e[r]));
        slope = std::max(slope, std::abs(beta[free[r]]));
      }
      if (slope <= kCancelTol * terms) {
        for (Index r = 0; r < k; ++r) beta[free[r]] = 0.0;
      }
    }
    // S alpha and S beta (alpha holds w_B on the held assets).
    s_alpha = held_sw;
    s_beta.setZero();
    for (Index r = 0; r < k; ++r) {
      const auto row = p.cov.row(free[r]).transpose();
      s_alpha.noalias() += alpha[free[r]] * row;
      s_beta.noalias() += beta[free[r]] * row;
    }
    if (!certify_at(tau)) {
      refresh_held();
      out.status = Status::NumericalError;
      out.message = "a turning point failed its certificate";
      break;
    }
    // The turning point and the segment it starts (replacing a zero-length segment: several
    // assets changing sides at the same tau make one turning point).
    if (!taus.empty() && tau - taus.back() <= kTieTol * tau) {
      points.pop_back();
      taus.pop_back();
      m0.pop_back();
      m1.pop_back();
      v0.pop_back();
      v1.pop_back();
      v2.pop_back();
    }
    points.push_back(alpha + tau * beta);
    taus.push_back(tau);
    m0.push_back(p.mu.dot(alpha));
    m1.push_back(p.mu.dot(beta));
    {
      wt = s_alpha - c0;  // S (alpha - b)
      v0.push_back((alpha - bench).dot(wt));
      v1.push_back(beta.dot(wt));
      v2.push_back(beta.dot(s_beta));
    }
    if (m0.back() + tau * m1.back() >= settings.stop_return ||
        v0.back() + tau * (2.0 * v1.back() + tau * v2.back()) >= settings.stop_risk * settings.stop_risk) {
      out.truncated = true;
      break;
    }
    if (static_cast<int>(points.size()) >= max_points || events > 4 * max_points) {  // merged ties keep size flat
      out.status = Status::MaxIter;
      out.message = "turning-point limit reached";
      break;
    }
    // Next event.
    const double beta_scale = beta.cwiseAbs().maxCoeff();
    const double beta_tol = kSlopeTol * beta_scale;
    double best = kInf;
    Index who = -1;
    auto offer = [&](double t, Index i) {  // the nearest event; ties to the lowest index
      t = std::max(t, tau);
      if (who < 0 || t < best - kTieTol * std::abs(best)) {
        best = t;
        who = i;
      } else if (t <= best + kTieTol * std::abs(best) && i < who) {
        best = std::min(best, t);
        who = i;
      }
    };
    for (Index r = 0; r < k && k > 1; ++r) {
      const Index i = free[r];
      if (beta[i] > beta_tol && ub[i] < kInf) offer((ub[i] - alpha[i]) / beta[i], i);
      if (beta[i] < -beta_tol && lb[i] > -kInf) offer((lb[i] - alpha[i]) / beta[i], i);
    }
    const double delta_tol = kSlopeTol * (mu_scale + std::abs(nu1));
    for (Index i = 0; i < n; ++i) {
      if (side[i] != kLower && side[i] != kUpper) continue;
      // gamma = 0 exactly when i is tied with the free assets at the current point (a duplicate
      // of one of them): what is left below the rounding of its terms is not a distance, or the
      // event lands at tau + (rounding) in one build and at tau in another (FMA or not).
      double gamma = s_alpha[i] - c0[i] + nu0;
      if (std::abs(gamma) <= kCancelTol * (std::abs(s_alpha[i]) + std::abs(c0[i]) + std::abs(nu0))) gamma = 0.0;
      const double delta = s_beta[i] - p.mu[i] + nu1;
      const bool enters = side[i] == kLower ? delta < -delta_tol : delta > delta_tol;
      if (!enters) continue;
      const double t = -gamma / delta;
      if (i == last_left && t <= tau * (1.0 + 1e-9) + 1e-300) continue;
      offer(t, i);
    }
    if (who < 0) {  // no more turning points
      // Moving forever is only possible towards an infinite bound (expected return without limit);
      // otherwise the remaining slopes are rounding and the path has reached its end.
      for (Index r = 0; r < k && k > 1; ++r) {
        const Index i = free[r];
        if ((beta[i] > beta_tol && ub[i] == kInf) || (beta[i] < -beta_tol && lb[i] == -kInf)) out.unbounded = true;
      }
      if (out.unbounded) out.ray = beta;
      break;
    }
    // Move `who` across.
    tau = best;
    w = alpha + tau * beta;
    if (side[who] == kFree) {
      const bool up = beta[who] > 0;
      w[who] = up ? ub[who] : lb[who];
      side[who] = up ? kUpper : kLower;
      held_sw.noalias() += w[who] * p.cov.row(who).transpose();
      last_left = who;
      ff.remove(static_cast<Index>(std::find(free.begin(), free.end(), who) - free.begin()));
    } else {
      const int settled_who = settle(who);
      if (settled_who < 0) {
        out.status = Status::NumericalError;
        out.message = settled_who == -1 ? "the expected return grows without limit at no extra risk (infinite bounds)"
                                        : "the free block of the covariance is singular on the budget plane";
        break;
      }
      last_left = settled_who == 1 ? who : -1;  // held (no gain along its direction): not offered again here
    }
    if (++events % kRefreshPeriod == 0) refresh_held();
  }

  // The maximum-return end: beyond its tau the path stays put, which holds only if the last point
  // also solves the linear program max mu'w (the limit tau -> infinity). Certified the same way.
  if (out.status == Status::Optimal && !out.unbounded && !out.truncated && !points.empty()) {
    const Vec& last = points.back();
    g = -p.mu;
    const double ret = p.mu.dot(last);
    const double scale = std::max(std::abs(ret), 1e-12 * mu_scale * std::max(1.0, std::abs(budget)));
    const Certificate c = certifier.certify(last.data(), g.data(), lb.data(), ub.data(), n, budget, scale);
    out.max_rel_gap = std::max(out.max_rel_gap, c.rel_gap);
    if (!(c.rel_gap <= settings.tol)) {
      out.status = Status::NumericalError;
      out.message = "the end of the path failed the maximum-return certificate";
    }
  }

  const Index count = static_cast<Index>(points.size());
  out.tau = taus;
  out.weights.resize(count, n);
  for (Index r = 0; r < count; ++r) out.weights.row(r) = points[static_cast<std::size_t>(r)].transpose();
  auto to_vec = [](const std::vector<double>& v) { return Vec(Eigen::Map<const Vec>(v.data(), static_cast<Index>(v.size()))); };
  out.mean0 = to_vec(m0);
  out.mean1 = to_vec(m1);
  out.var0 = to_vec(v0);
  out.var1 = to_vec(v1);
  out.var2 = to_vec(v2);
  out.expected_return.resize(count);
  out.risk.resize(count);
  for (Index r = 0; r < count; ++r) {
    const double t = taus[static_cast<std::size_t>(r)];
    out.expected_return[r] = m0[r] + t * m1[r];
    out.risk[r] = std::sqrt(std::max(v0[r] + 2.0 * t * v1[r] + t * t * v2[r], 0.0));
  }
  if (!out.unbounded) out.ray = Vec::Zero(n);
  out.factorizations = ff.factorizations;
  out.solve_time_s = detail::seconds_since(t0);
  return out;
}

}  // namespace microalloc
