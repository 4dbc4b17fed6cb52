// Primal active-set method for
//   min (ra/2)(w-b)'S(w-b) - mu'w   s.t.  sum(w) = B,  lb <= w <= ub
// working in the free subspace (docs/methods.md §2).
//
// Every variable is free (F), held at its lower bound (L) or at its upper bound (U); a variable
// whose bounds coincide is fixed and never priced. The iterate is always feasible. With H = ra S and
// g = H w - c the gradient (c = mu + ra S b), each iteration solves the equality-constrained
// subproblem on F,
//     [Ht_FF 1; 1' 0] [p; nu] = [-g_F; 0],   Ht = H + sigma 11',
// through a Cholesky factor L L' = Ht_FF and the scalar Schur complement of the budget:
// u = Ht_FF^{-1}(-g_F), e = Ht_FF^{-1} 1, nu = 1'u / 1'e, p = u - nu e. On the budget hyperplane
// (1'p = 0) the shift sigma 11' changes nothing, but it makes Ht_FF positive definite whenever H is
// positive definite on {1'v = 0}; sigma starts at 0 and is switched on only when a pivot vanishes.
// The factor is updated in O(k^2) on insertion (a forward substitution) and deletion (a shift and a
// rank-1 update of the trailing block), and refactored every kRefactorPeriod updates.
//
// A pivot that still vanishes with the shift means a direction d of zero curvature inside the
// face (duplicated assets, rank-deficient S): the solver moves along d, downhill, to the first
// bound, which removes the dependency.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <vector>

#include <Eigen/Cholesky>

#include "cholesky_update.hpp"
#include "mean_variance_common.hpp"
#include "microalloc/check.hpp"
#include "microalloc/mean_variance.hpp"
#include "microalloc/projection.hpp"

namespace microalloc {
namespace {

using namespace detail;

constexpr int kRefactorPeriod = 64;
constexpr int kBlandAfterZeroSteps = 5;
constexpr int kRefinementRounds = 3;
constexpr double kPivotTol = 1e-12;  // relative pivot below which Ht_{F+j} counts as singular
constexpr double kNegativePivotTol = 1e-8;  // relative pivot below -this: negative curvature
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kStepCancelTol = 1e-14;  // a step below this fraction of its terms is rounding
// Crossover: once the iterations have read more than kCrossoverRows * n rows of S (about as many
// matrix-vector products; solves with few free assets end below 7 n on the 720 long-only problems
// of sizes 20-1000 and caps 1/n-100% we tried, none of which crosses over) with at least
// kCrossoverMinFree assets free, many assets are
// probably free at the optimum and single pivots from a vertex are the slow way there. A
// projected-gradient run from an interior point (its own start) until its bound pattern settles
// then identifies the faces, and the solve restarts warm from its point: one blocked
// factorisation of the free block and a few pivots. Mixed cases (a few hundred free out of
// thousands) may cross over too; they then pay up to kCrossoverMaxIter gradient iterations.
constexpr double kCrossoverRows = 12.0;
constexpr Index kCrossoverMinFree = 32;
constexpr int kCrossoverStable = 10;
constexpr int kCrossoverMaxIter = 60;  // then the active set goes on from its point

enum State : signed char { kFree = 0, kLower = 1, kUpper = 2, kFixed = 3, kInside = 4 };

}  // namespace

struct ActiveSetSolver::Impl {
  // problem
  const MeanVarianceProblem* p = nullptr;
  Index n = 0;
  double ra = 0.0;
  double sigma = 0.0;
  double shift_value = 0.0;  // the sigma to switch on when a pivot vanishes
  Vec lb, ub, c, w, g;
  std::vector<signed char> state;
  // free set, in factor order, and the factor
  std::vector<Index> free;
  Eigen::MatrixXd fac;  // lower triangle of the leading k x k block, column-major, capacity x capacity
  Index k = 0;
  Vec e, u, pf, q, col, v, dvec;
  double s_e = 0.0;  // 1'e
  int updates = 0;
  int factorizations = 0;
  int zero_curvature = 0;
  double rows_read = 0.0;  // rows of S read by gradient updates, plus one per pricing pass
  bool unbounded = false;
  bool negative_curvature = false;  // a clearly negative pivot: S is not PSD on the face
  BoxBudgetProjector proj;
  Certifier cert;

  double ht(Index i, Index j) const { return ra * p->cov(i, j) + sigma; }

  void reserve(Index cap) {
    if (fac.rows() >= cap) return;
    Index nc = std::max<Index>(cap, std::min<Index>(n, std::max<Index>(16, 2 * fac.rows())));
    Eigen::MatrixXd nf(nc, nc);
    nf.topLeftCorner(k, k) = fac.topLeftCorner(k, k);
    fac.swap(nf);
  }

  auto lower() { return fac.topLeftCorner(k, k).triangularView<Eigen::Lower>(); }

  /// x <- Ht_FF^{-1} x
  void chol_solve(Eigen::Ref<Vec> x) {
    lower().solveInPlace(x);
    lower().transpose().solveInPlace(x);
  }

  void refresh_e() {
    e.resize(k);
    e.setOnes();
    if (k > 0) chol_solve(e);
    s_e = e.sum();
  }

  /// Factor Ht_FF from scratch; false if it is not numerically positive definite.
  bool refactor() {
    ++factorizations;
    updates = 0;
    reserve(k);
    if (k == 0) {
      refresh_e();
      return true;
    }
    // Built and factorised in place, in the factor's storage (lower triangle).
    auto a = fac.topLeftCorner(k, k);
    for (Index r = 0; r < k; ++r) {
      const auto row = p->cov.row(free[r]);
      for (Index t = 0; t <= r; ++t) a(r, t) = ra * row(free[t]) + sigma;
    }
    Eigen::LLT<Eigen::Ref<Eigen::MatrixXd>, Eigen::Lower> llt(a);
    if (llt.info() != Eigen::Success) return false;
    for (Index t = 0; t < k; ++t) {
      const double piv = a(t, t) * a(t, t);
      if (!(piv > kPivotTol * ht(free[t], free[t]))) return false;
    }
    refresh_e();
    return true;
  }

  /// Try to append j to the factor. On failure (vanishing pivot) q holds L^{-1} Ht_{F,j}.
  bool insert(Index j) {
    q.resize(k);
    const auto row = p->cov.row(j);
    for (Index t = 0; t < k; ++t) q[t] = ra * row(free[t]) + sigma;
    if (k > 0) lower().solveInPlace(q);
    const double diag = ht(j, j);
    const double rho2 = diag - q.squaredNorm();
    if (rho2 < -kNegativePivotTol * diag) negative_curvature = true;
    if (!(rho2 > kPivotTol * diag)) return false;
    reserve(k + 1);
    for (Index t = 0; t < k; ++t) fac(k, t) = q[t];
    fac(k, k) = std::sqrt(rho2);
    free.push_back(j);
    ++k;
    state[j] = kFree;
    ++updates;
    refresh_e();
    return true;
  }

  /// Remove the free variable at factor position pos.
  void remove(Index pos) {
    detail::cholesky_remove(fac, k, pos, v);
    free.erase(free.begin() + pos);
    --k;
    ++updates;
    if (updates >= kRefactorPeriod) {
      if (!refactor()) enable_shift();
    } else {
      refresh_e();
    }
  }

  /// Switch the 11' shift on (idempotent) and refactor; a failure here cannot happen for a
  /// face whose reduced Hessian is positive definite, and is repaired by dropping pivots.
  void enable_shift() {
    if (sigma == 0.0) sigma = shift_value;
    if (refactor()) return;
    // Rebuild one variable at a time, leaving out dependent ones (they stay where they are as
    // free variables is impossible, so they are moved to their nearest bound by zero-curvature
    // steps in release()).
    std::vector<Index> old;
    old.swap(free);
    k = 0;
    refresh_e();
    for (Index j : old) {
      state[j] = kInside;
    }
    for (Index j : old) release(j);
  }

  /// g += alpha * H[:, idx] * dir
  void gradient_step(const std::vector<Index>& idx, const Vec& dir, double alpha) {
    rows_read += static_cast<double>(idx.size());
    for (std::size_t t = 0; t < idx.size(); ++t) {
      const double a = alpha * ra * dir[static_cast<Index>(t)];
      if (a != 0.0) g.noalias() += a * p->cov.row(idx[t]).transpose();
    }
  }

  /// S w from scratch, using only the non-zero weights (O(n nnz(w))).
  void cov_times_w(Vec& out) const {
    out.setZero(n);
    for (Index j = 0; j < n; ++j) {
      if (w[j] != 0.0) out.noalias() += w[j] * p->cov.row(j).transpose();
    }
  }

  /// g = H w - c from scratch.
  void exact_gradient() {
    cov_times_w(g);
    g = ra * g - c;
  }

  void put_at_bound(Index j, bool upper) {
    w[j] = upper ? ub[j] : lb[j];
    state[j] = upper ? kUpper : kLower;
  }

  /// Make j free. If Ht_{F+j} is singular, move along the zero-curvature direction to the first
  /// bound; a blocking free variable leaves F and j is tried again.
  void release(Index j) {
    for (Index guard = 0; guard <= n; ++guard) {
      if (insert(j)) return;
      if (sigma == 0.0) {
        enable_shift();
        if (state[j] == kFree) return;  // enable_shift may have re-released it
        continue;
      }
      ++zero_curvature;
      // d_F = -L'^{-T} q, d_j = -sum(d_F) (so that 1'd = 0 exactly)
      dvec = q;
      if (k > 0) lower().transpose().solveInPlace(dvec);
      dvec = -dvec;
      double dj = -dvec.sum();
      double slope = dj * g[j];
      for (Index t = 0; t < k; ++t) slope += dvec[t] * g[free[t]];
      const bool flip = (state[j] == kUpper) || (state[j] == kLower ? dj < 0.0 : slope > 0.0);
      if (flip) {
        dvec = -dvec;
        dj = -dj;
      }
      // ratio test over F and j
      double alpha = kInf;
      Index block = -1;
      bool block_upper = false;
      auto test = [&](Index i, double di, Index tag) {
        if (di < 0.0) {
          const double a = (lb[i] - w[i]) / di;
          if (a < alpha) { alpha = a; block = tag; block_upper = false; }
        } else if (di > 0.0) {
          const double a = (ub[i] - w[i]) / di;
          if (a < alpha) { alpha = a; block = tag; block_upper = true; }
        }
      };
      for (Index t = 0; t < k; ++t) test(free[t], dvec[t], t);
      test(j, dj, k);
      if (!(alpha < kInf)) {
        unbounded = true;
        state[j] = w[j] <= lb[j] ? kLower : kUpper;
        return;
      }
      alpha = std::max(alpha, 0.0);
      for (Index t = 0; t < k; ++t) w[free[t]] += alpha * dvec[t];
      w[j] += alpha * dj;
      gradient_step(free, dvec, alpha);
      if (alpha * dj != 0.0) g.noalias() += (alpha * ra * dj) * p->cov.row(j).transpose();
      if (block == k) {
        put_at_bound(j, block_upper);
        return;
      }
      const Index bj = free[block];
      put_at_bound(bj, block_upper);
      remove(block);
    }
    state[j] = w[j] <= lb[j] ? kLower : kUpper;  // not reached in exact arithmetic
  }

  /// Violation of the bound multiplier of i for r = g + nu (positive: i should leave its bound).
  double violation(Index i, double nu) const {
    if (state[i] == kLower) return -(g[i] + nu);
    if (state[i] == kUpper) return g[i] + nu;
    return -kInf;
  }

  /// The most violated bound multiplier for r = g + nu (Bland: the lowest index); -1 if none.
  Index price(double nu, double tol_d, bool bland) const {
    Index best = -1;
    double best_v = tol_d;
    for (Index i = 0; i < n; ++i) {
      const double viol = violation(i, nu);
      if (viol > best_v) {
        best = i;
        if (bland) return i;
        best_v = viol;
      }
    }
    return best;
  }

  /// Solve the subproblem on F: pf (step) and nu.
  double subproblem() {
    u.resize(k);
    for (Index t = 0; t < k; ++t) u[t] = -g[free[t]];
    chol_solve(u);
    const double nu = u.sum() / s_e;
    pf = u - nu * e;
    return nu;
  }
};

ActiveSetSolver::ActiveSetSolver() : impl_(new Impl) {}
ActiveSetSolver::~ActiveSetSolver() = default;
ActiveSetSolver::ActiveSetSolver(ActiveSetSolver&&) noexcept = default;
ActiveSetSolver& ActiveSetSolver::operator=(ActiveSetSolver&&) noexcept = default;

SolveResult ActiveSetSolver::solve(const MeanVarianceProblem& prob, const SolverSettings& settings,
                                   const VecRef& warm_start) {
  const auto t0 = std::chrono::steady_clock::now();
  prob.check_sizes();
  Impl& s = *impl_;
  const Index n = prob.size();
  if (warm_start.size() != 0) MICROALLOC_CHECK_SIZE(warm_start.size(), n, "warm_start");
  const double B = prob.budget;
  SolveResult res;
  res.weights = Vec::Constant(n, std::numeric_limits<double>::quiet_NaN());
  if (!feasible_bounds(prob, s.lb, s.ub)) {
    res.status = Status::Infeasible;
    res.solve_time_s = seconds_since(t0);
    return res;
  }
  Vec cov_b;
  if (prob.has_benchmark()) cov_b.noalias() = prob.cov * prob.benchmark;
  Evaluator ev(prob, s.lb, s.ub, cov_b);
  if (prob.risk_aversion == 0.0) {
    solve_linear(prob, settings, s.lb, s.ub, ev, res);
    res.solve_time_s = seconds_since(t0);
    return res;
  }

  // ---- set-up
  s.p = &prob;
  s.n = n;
  s.ra = prob.risk_aversion;
  s.sigma = 0.0;
  s.shift_value = s.ra * prob.cov.diagonal().mean();
  s.c = prob.has_mu() ? Vec(prob.mu) : Vec::Zero(n);
  if (prob.has_benchmark()) s.c += s.ra * cov_b;
  s.state.assign(static_cast<std::size_t>(n), kLower);
  s.free.clear();
  s.k = 0;
  s.updates = 0;
  s.factorizations = 0;
  s.zero_curvature = 0;
  s.rows_read = 0.0;
  s.unbounded = false;
  s.negative_curvature = false;
  const Vec& lb = s.lb;
  const Vec& ub = s.ub;
  for (Index i = 0; i < n; ++i) {
    if (lb[i] == ub[i]) s.state[i] = kFixed;
  }

  // ---- starting point
  const bool finite = lb.allFinite() && ub.allFinite();
  if (warm_start.size() == n || !finite) {
    // The warm start (or 0), made feasible; the working set is read off the bounds it touches.
    // It is clipped to the bounds, and the budget residual is given to the coordinates strictly
    // inside their bounds (the projection of those alone onto the remaining budget), so that the
    // coordinates at a bound stay there: after a small change of the data the working set of the
    // previous optimum carries over. When the interior cannot absorb the residual, the whole
    // point is projected onto the feasible set.
    Vec u0 = warm_start.size() == n ? Vec(warm_start) : Vec::Zero(n);
    s.w = u0.cwiseMax(lb).cwiseMin(ub);
    const double resid = B - accurate_sum(s.w.data(), n);
    bool done = resid == 0.0;
    if (!done && warm_start.size() == n) {
      std::vector<Index> in;
      for (Index i = 0; i < n; ++i) {
        if (s.w[i] > lb[i] && s.w[i] < ub[i]) in.push_back(i);
      }
      const Index m = static_cast<Index>(in.size());
      if (m > 0) {
        Vec xi(m), li(m), ui(m), yi(m);
        for (Index t = 0; t < m; ++t) {
          xi[t] = s.w[in[t]];
          li[t] = lb[in[t]];
          ui[t] = ub[in[t]];
        }
        const double target = accurate_sum(xi.data(), m) + resid;
        if (li.sum() <= target && target <= ui.sum()) {
          s.proj.project(xi.data(), nullptr, li.data(), ui.data(), m, target, yi.data(),
                         -resid / static_cast<double>(m));
          for (Index t = 0; t < m; ++t) s.w[in[t]] = yi[t];
          done = std::abs(B - accurate_sum(s.w.data(), n)) <= 1e-12 * std::max(1.0, std::abs(B));
        }
      }
    }
    if (!done) {
      s.proj.project(u0.data(), nullptr, lb.data(), ub.data(), n, B, s.w.data(),
                     (u0.sum() - B) / static_cast<double>(n));
    }
  } else {
    // Greedy vertex: w = lb, then the rest of the budget in decreasing order of the first- and
    // second-order gain of each asset from there.
    s.w = lb;
    s.exact_gradient();
    double left = B - accurate_sum(lb.data(), n);
    std::vector<Index> order(static_cast<std::size_t>(n));
    std::iota(order.begin(), order.end(), Index{0});
    Vec score(n);
    for (Index i = 0; i < n; ++i) {
      const double step = std::min(ub[i] - lb[i], std::max(left, 0.0));
      score[i] = -s.g[i] - 0.5 * s.ra * prob.cov(i, i) * step;
    }
    std::stable_sort(order.begin(), order.end(), [&](Index a, Index b) { return score[a] > score[b]; });
    for (Index i : order) {
      if (!(left > 0.0)) break;
      const double add = std::min(ub[i] - lb[i], left);
      s.w[i] = add == ub[i] - lb[i] ? ub[i] : lb[i] + add;
      left -= add;
    }
  }
  std::vector<Index> inside;
  for (Index i = 0; i < n; ++i) {
    if (s.state[i] == kFixed) {
      s.w[i] = lb[i];
    } else if (s.w[i] <= lb[i]) {
      s.put_at_bound(i, false);
    } else if (s.w[i] >= ub[i]) {
      s.put_at_bound(i, true);
    } else {
      s.state[i] = kInside;
      inside.push_back(i);
    }
  }
  s.exact_gradient();
  s.reserve(std::min<Index>(n, std::max<Index>(16, static_cast<Index>(inside.size()) + 8)));
  if (inside.size() > 8) {
    s.free = inside;
    s.k = static_cast<Index>(inside.size());
    bool ok = s.refactor();
    if (!ok) {
      s.sigma = s.shift_value;
      ok = s.refactor();
    }
    if (ok) {
      for (Index j : inside) s.state[j] = kFree;
    } else {
      s.free.clear();
      s.k = 0;
      s.refresh_e();
    }
  }
  for (Index j : inside) {
    if (s.state[j] == kInside) s.release(j);
  }
  if (s.k == 0) s.refresh_e();

  // ---- iterations
  const double gmax0 = std::max(s.g.cwiseAbs().maxCoeff(), 1e-300);
  int zero_steps = 0;
  int rounds = 0;
  bool at_minimizer = false;
  bool evaluated = false;  // pt / cov_w describe the current w
  Vec cov_w;
  Evaluator::Point pt{};
  double nu = 0.0;
  res.status = Status::MaxIter;
  int it = 0;
  for (;;) {
    if (s.negative_curvature) {
      res.status = Status::NotConvex;
      break;
    }
    if (s.unbounded) {
      res.status = Status::NumericalError;
      break;
    }
    if (!at_minimizer && s.k > 0) {
      nu = s.subproblem();
      const double pmax = s.pf.cwiseAbs().maxCoeff();
      const double wmax = std::max(1.0, std::abs(B));
      // pf = u - nu e cancels when the current point is the face's minimiser (one free asset, held
      // by the budget): what is left below the rounding of its terms is not a step, or a zero
      // step blocks, drops the asset, and pricing frees it again (a cycle).
      const double terms = std::max(s.u.cwiseAbs().maxCoeff(), std::abs(nu) * s.e.cwiseAbs().maxCoeff());
      if (pmax > 1e-15 * wmax && pmax > kStepCancelTol * terms) {
        if (it >= settings.max_iter) break;
        ++it;
        double alpha = 1.0;
        Index block = -1;
        bool block_upper = false;
        for (Index t = 0; t < s.k; ++t) {
          const Index i = s.free[t];
          const double d = s.pf[t];
          double a;
          if (d < 0.0) {
            a = (lb[i] - s.w[i]) / d;
            if (a < alpha || (a == alpha && block >= 0 && i < s.free[block])) {
              alpha = a; block = t; block_upper = false;
            }
          } else if (d > 0.0) {
            a = (ub[i] - s.w[i]) / d;
            if (a < alpha || (a == alpha && block >= 0 && i < s.free[block])) {
              alpha = a; block = t; block_upper = true;
            }
          }
        }
        alpha = std::max(alpha, 0.0);
        if (alpha > 0.0) {
          for (Index t = 0; t < s.k; ++t) s.w[s.free[t]] += alpha * s.pf[t];
          s.gradient_step(s.free, s.pf, alpha);
        }
        if (block >= 0) {
          zero_steps = alpha == 0.0 ? zero_steps + 1 : 0;
          s.put_at_bound(s.free[block], block_upper);
          s.remove(block);
          continue;  // solve on the smaller face
        }
        zero_steps = 0;
      }
      at_minimizer = true;
    }
    if (s.k == 0) {
      nu = s.cert.certify(s.w.data(), s.g.data(), lb.data(), ub.data(), n, B, 1.0).multiplier;
    }
    const double tol_d = 1e-13 * std::max(gmax0, s.g.cwiseAbs().maxCoeff());
    const Index j = s.price(nu, tol_d, zero_steps >= kBlandAfterZeroSteps);
    if (j < 0) {
      // Converged on the working set: certify from an exact gradient.
      s.cov_times_w(cov_w);
      pt = ev.evaluate(s.w, cov_w);
      evaluated = true;
      if (ev.passes(pt, settings.tol)) {
        res.status = Status::Optimal;
        break;
      }
      if (++rounds > kRefinementRounds) {
        res.status = Status::NumericalError;
        break;
      }
      // Refinement: exact gradient and a fresh factor, then go on from the same working set.
      s.g = s.ra * cov_w - s.c;
      evaluated = false;
      if (!s.refactor()) s.enable_shift();
      at_minimizer = false;
      continue;
    }
    if (it >= settings.max_iter) break;
    if (settings.crossover && s.k >= kCrossoverMinFree &&
        s.rows_read > kCrossoverRows * static_cast<double>(n)) {
      return crossover(prob, settings, it, t0);
    }
    ++it;
    s.rows_read += 1.0;  // the pricing pass
    s.release(j);
    evaluated = false;
    at_minimizer = false;
  }

  res.weights = s.w;
  res.iterations = it;
  res.factorizations = s.factorizations;
  res.zero_curvature_steps = s.zero_curvature;
  if (!evaluated) {  // stopped without a final certificate (limit, curvature): evaluate here
    s.cov_times_w(cov_w);
    pt = ev.evaluate(s.w, cov_w);
  }
  fill_result(prob, pt, ev, res);
  if (res.status == Status::Optimal && !ev.passes(pt, settings.tol)) res.status = Status::NumericalError;
  if (res.status == Status::MaxIter && ev.passes(pt, settings.tol)) res.status = Status::Optimal;
  if (s.negative_curvature) res.status = Status::NotConvex;
  res.solve_time_s = seconds_since(t0);
  s.p = nullptr;
  return res;
}

SolveResult ActiveSetSolver::crossover(const MeanVarianceProblem& prob, const SolverSettings& settings,
                                       int iterations, std::chrono::steady_clock::time_point t0) {
  const int factorizations = impl_->factorizations;
  const int zero_curvature = impl_->zero_curvature;
  impl_->p = nullptr;
  SolverSettings pg = settings;
  pg.max_iter = std::max(1, std::min(kCrossoverMaxIter, settings.max_iter - iterations));
  pg.stop_when_stable = kCrossoverStable;
  pg.check_curvature = true;  // free here: a negative-curvature step ends the solve as NotConvex
  const SolveResult first = solve_projected_gradient(prob, pg, Vec());
  SolveResult res;
  if (first.status == Status::NotConvex) {
    res = first;
    res.iterations = 0;
  } else {
    SolverSettings as = settings;
    as.crossover = false;
    as.max_iter = std::max(0, settings.max_iter - iterations - first.iterations);
    res = solve(prob, as, first.weights);
  }
  // iterations: active set before + projected gradient + active set after
  res.iterations += iterations + first.iterations;
  res.crossover_iterations = first.iterations;
  res.factorizations += factorizations;
  res.zero_curvature_steps += zero_curvature;
  res.solve_time_s = seconds_since(t0);
  return res;
}

SolveResult solve_active_set(const MeanVarianceProblem& problem, const SolverSettings& settings,
                             const VecRef& warm_start) {
  ActiveSetSolver solver;
  return solver.solve(problem, settings, warm_start);
}

}  // namespace microalloc
