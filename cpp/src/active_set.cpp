// Primal active-set method for
//   min (ra/2)(w-b)'S(w-b) - mu'w   s.t.  sum(w) = B,  lb <= w <= ub
// working in the free subspace (docs/methods.md §2).
//
// Every variable is free (F), held at its lower bound (L) or at its upper bound (U); a variable
// whose bounds coincide is fixed and never priced. The iterate is always feasible. With H = ra S and
// g = H w - c the gradient (c = mu + ra S b), each iteration solves the equality-constrained
// subproblem on F,
//     [Ht_FF 1; 1' 0] [p; nu] = [-g_F; 0],   Ht = H + sigma 11',
// through the covariance model's factorisation of Ht_FF (a FreeBlock: for a dense S an updated
// Cholesky factor, see dense_covariance.cpp) and the scalar Schur complement of the budget:
// u = Ht_FF^{-1}(-g_F), e = Ht_FF^{-1} 1, nu = 1'u / 1'e, p = u - nu e. On the budget hyperplane
// (1'p = 0) the shift sigma 11' changes nothing, but it makes Ht_FF positive definite whenever H is
// positive definite on {1'v = 0}; sigma starts at 0 and is switched on only when a pivot vanishes.
// S itself is reached only through the model: a column per free asset for the gradient updates,
// the diagonal for the start.
//
// A solve reads as its steps: set_up, a start (start_from a warm start or start_at_vertex),
// enter_working_set, iterate (each iteration a face_step, then pricing or certify_or_refine),
// finish; crossover() may take over from iterate.
//
// A pivot that still vanishes with the shift means a direction d of zero curvature inside the
// face (duplicated assets, rank-deficient S): the solver moves along d, downhill, to the first
// bound, which removes the dependency.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <memory>
#include <numeric>
#include <stdexcept>
#include <vector>

#include "mean_variance_common.hpp"
#include "newton_active_set.hpp"
#include "microalloc/check.hpp"
#include "microalloc/mean_variance.hpp"
#include "microalloc/projection.hpp"

namespace microalloc {
namespace {

using namespace detail;

constexpr int kBlandAfterZeroSteps = 5;
constexpr int kRefinementRounds = 3;
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kStepCancelTol = 1e-14;  // a step below this fraction of its terms is rounding
// Crossover: once the iterations have read more than kCrossoverRows * n rows of S (about as many
// matrix-vector products; solves with few free assets end below 7 n on the 720 long-only problems
// of sizes 20-1000 and caps 1/n-100% we tried, none of which crosses over) with at least
// kCrossoverMinFree assets free, many assets are probably free at the optimum and single pivots
// from a vertex are the slow way there. The primal-dual active set (newton_active_set.cpp) then
// moves many bounds per step from the current working set; the primal method finishes whatever
// it cannot certify, from its last iterate.
constexpr double kCrossoverRows = 12.0;
constexpr Index kCrossoverMinFree = 32;
constexpr int kNewtonMaxIter = 50;  // primal-dual steps; then the primal active set goes on
constexpr double kDeepShare = 0.9;         // see start_at_diagonal
constexpr Index kDiagonalStartFree = 256;  // the diagonal start is used with at most this many free (or n / 16)

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
  Vec cov_b;  // S b (empty without a benchmark)
  std::vector<signed char> state;
  // The free set F, in the block's order, and the factorisation of Ht_FF. The block is kept
  // between solves on the same model (its storage is the workspace a batch reuses).
  std::vector<Index> free;
  std::unique_ptr<FreeBlock> block;
  const CovarianceModel* block_model = nullptr;
  int factorizations_before = 0;  // the block's count when this solve started
  Vec e, u, pf, dir, dvec;
  Vec coef;                    // (n) coefficients of the columns of S added to the gradient
  std::vector<Index> support;  // the non-zero weights
  double s_e = 0.0;  // 1'e
  int zero_curvature = 0;
  double rows_read = 0.0;  // rows of S read by gradient updates, plus one per pricing pass
  bool unbounded = false;
  bool negative_curvature = false;  // a clearly negative pivot: S is not PSD on the face
  BoxBudgetProjector proj;
  Certifier cert;
  // the iteration's state (see iteration())
  int it = 0;
  int zero_steps = 0;
  int rounds = 0;
  double gmax0 = 0.0;
  bool at_minimizer = false;
  bool evaluated = false;  // pt / cov_w describe the current w
  Vec cov_w;
  Evaluator::Point pt{};
  double nu = 0.0;

  Index k() const { return static_cast<Index>(free.size()); }
  const CovarianceModel& cov() const { return p->cov; }
  int factorizations() const { return block->factorizations() - factorizations_before; }

  // ---- the free block

  void refresh_e() {
    e.resize(k());
    e.setOnes();
    if (k() > 0) block->solve(e);
    s_e = e.sum();
  }

  /// Factor Ht_FF from scratch; false if it is not numerically positive definite (the block is
  /// then empty, `free` unchanged).
  bool refactor() {
    if (!block->reset(free, ra, sigma)) return false;
    refresh_e();
    return true;
  }

  /// Try to append j to the block. On failure (vanishing pivot) `dir` holds Ht_FF^{-1} Ht_{F,j}.
  bool insert(Index j) {
    const FreeBlock::Append r = block->append(j, dir);
    if (r == FreeBlock::Append::NegativeCurvature) negative_curvature = true;
    if (r != FreeBlock::Append::Ok) return false;
    free.push_back(j);
    state[j] = kFree;
    refresh_e();
    return true;
  }

  /// Remove the free variable at position pos (the block may refactor; if that fails, the shift).
  void remove(Index pos) {
    free.erase(free.begin() + pos);
    if (block->remove(pos)) {
      refresh_e();
    } else {
      enable_shift();
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
    refresh_e();
    for (Index j : old) {
      state[j] = kInside;
    }
    for (Index j : old) release(j);
  }

  // ---- the gradient, through the covariance model

  /// g += alpha * H[:, idx] * dir (the columns of the free assets: O(n k) for a dense S).
  void gradient_step(const std::vector<Index>& idx, const Vec& d, double alpha) {
    const Index m = static_cast<Index>(idx.size());
    rows_read += static_cast<double>(m);
    for (Index t = 0; t < m; ++t) coef[t] = alpha * ra * d[t];
    cov().add_columns(idx.data(), m, Eigen::Map<const RowMat>(coef.data(), m, 1), g);
  }

  /// S w from scratch, using only the non-zero weights (O(n nnz(w))).
  void cov_times_w(Vec& out) {
    support.resize(static_cast<std::size_t>(n));
    Index m = 0;
    for (Index j = 0; j < n; ++j) {  // branch-free: the support and its weights in one pass
      support[static_cast<std::size_t>(m)] = j;
      coef[m] = w[j];
      m += w[j] != 0.0;
    }
    out.setZero(n);
    cov().add_columns(support.data(), m, Eigen::Map<const RowMat>(coef.data(), m, 1), out);
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

  // ---- releasing a variable from its bound

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
      if (zero_curvature_move(j)) return;
    }
    state[j] = w[j] <= lb[j] ? kLower : kUpper;  // not reached in exact arithmetic
  }

  /// One move along d_F = -Ht_FF^{-1} Ht_{F,j} (from insert()), d_j = -sum(d_F) (so that 1'd = 0
  /// exactly), downhill, to the first bound of F + j. True when j is settled (at a bound, or the
  /// move has no end), false when a free variable blocked and left F: j is tried again.
  bool zero_curvature_move(Index j) {
    ++zero_curvature;
    const Index k = this->k();
    dvec = -dir;
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
    Index block_at = -1;
    bool block_upper = false;
    auto test = [&](Index i, double di, Index tag) {
      if (di < 0.0) {
        const double a = (lb[i] - w[i]) / di;
        if (a < alpha) { alpha = a; block_at = tag; block_upper = false; }
      } else if (di > 0.0) {
        const double a = (ub[i] - w[i]) / di;
        if (a < alpha) { alpha = a; block_at = tag; block_upper = true; }
      }
    };
    for (Index t = 0; t < k; ++t) test(free[t], dvec[t], t);
    test(j, dj, k);
    if (!(alpha < kInf)) {
      unbounded = true;
      state[j] = w[j] <= lb[j] ? kLower : kUpper;
      return true;
    }
    alpha = std::max(alpha, 0.0);
    for (Index t = 0; t < k; ++t) w[free[t]] += alpha * dvec[t];
    w[j] += alpha * dj;
    gradient_step(free, dvec, alpha);
    if (alpha * dj != 0.0) cov().add_column(j, alpha * ra * dj, g);
    if (block_at == k) {
      put_at_bound(j, block_upper);
      return true;
    }
    put_at_bound(free[block_at], block_upper);
    remove(block_at);
    return false;
  }

  // ---- pricing and the subproblem

  /// Violation of the bound multiplier of i for r = g + nu (positive: i should leave its bound).
  double violation(Index i, double nu_) const {
    if (state[i] == kLower) return -(g[i] + nu_);
    if (state[i] == kUpper) return g[i] + nu_;
    return -kInf;
  }

  /// The most violated bound multiplier for r = g + nu (Bland: the lowest index); -1 if none.
  Index price(double nu_, double tol_d, bool bland) const {
    Index best = -1;
    double best_v = tol_d;
    for (Index i = 0; i < n; ++i) {
      const double viol = violation(i, nu_);
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
    u.resize(k());
    for (Index t = 0; t < k(); ++t) u[t] = -g[free[t]];
    block->solve(u);
    const double nu_ = u.sum() / s_e;
    pf = u - nu_ * e;
    return nu_;
  }

  // ---- the steps of a solve

  /// Problem data and a fresh working state (every variable at its lower bound, none free).
  void set_up(const MeanVarianceProblem& prob, const Vec& cov_b) {
    p = &prob;
    n = prob.size();
    ra = prob.risk_aversion;
    sigma = 0.0;
    shift_value = ra * prob.cov.mean_variance();
    c = prob.has_mu() ? Vec(prob.mu) : Vec::Zero(n);
    if (prob.has_benchmark()) c += ra * cov_b;
    this->cov_b = cov_b;
    state.assign(static_cast<std::size_t>(n), kLower);
    if (block_model != &prob.cov) {
      block = prob.cov.free_block();
      block_model = &prob.cov;
    }
    free.clear();
    free.reserve(static_cast<std::size_t>(n));
    coef.resize(n);  // once: a resize per gradient update would allocate
    (void)block->reset(free, ra, sigma);  // empty: cannot fail
    factorizations_before = block->factorizations();
    zero_curvature = 0;
    rows_read = 0.0;
    unbounded = false;
    negative_curvature = false;
    for (Index i = 0; i < n; ++i) {
      if (lb[i] == ub[i]) state[i] = kFixed;
    }
  }

  /// The warm start (or 0), made feasible; the working set is read off the bounds it touches.
  /// It is clipped to the bounds, and the budget residual is given to the coordinates strictly
  /// inside their bounds (the projection of those alone onto the remaining budget), so that the
  /// coordinates at a bound stay there: after a small change of the data the working set of the
  /// previous optimum carries over. When the interior cannot absorb the residual, the whole
  /// point is projected onto the feasible set.
  void start_from(const VecRef& warm_start) {
    const double B = p->budget;
    const bool warm = warm_start.size() == n;
    Vec u0 = warm ? Vec(warm_start) : Vec::Zero(n);
    w = u0.cwiseMax(lb).cwiseMin(ub);
    const double resid = B - accurate_sum(w.data(), n);
    bool done = resid == 0.0;
    if (!done && warm) {
      std::vector<Index> in;
      for (Index i = 0; i < n; ++i) {
        if (w[i] > lb[i] && w[i] < ub[i]) in.push_back(i);
      }
      const Index m = static_cast<Index>(in.size());
      if (m > 0) {
        Vec xi(m), li(m), ui(m), yi(m);
        for (Index t = 0; t < m; ++t) {
          xi[t] = w[in[t]];
          li[t] = lb[in[t]];
          ui[t] = ub[in[t]];
        }
        const double target = accurate_sum(xi.data(), m) + resid;
        if (li.sum() <= target && target <= ui.sum()) {
          proj.project(xi.data(), nullptr, li.data(), ui.data(), m, target, yi.data(),
                       -resid / static_cast<double>(m));
          for (Index t = 0; t < m; ++t) w[in[t]] = yi[t];
          done = std::abs(B - accurate_sum(w.data(), n)) <= 1e-12 * std::max(1.0, std::abs(B));
        }
      }
    }
    if (!done) {
      proj.project(u0.data(), nullptr, lb.data(), ub.data(), n, B, w.data(),
                   (u0.sum() - B) / static_cast<double>(n));
    }
  }

  /// The minimiser of the problem with S replaced by its diagonal, (ra/2) sum S_ii w_i^2 - c'w
  /// over the same box and budget (one weighted projection, O(n)): the start of the primal-dual
  /// active set when its working set is small (at most `max_free` assets strictly inside their
  /// bounds, as with a strong enough return signal), or when its free assets lie deep inside
  /// their bounds (kDeepShare of them farther from both bounds than their own size: wide
  /// long-short bounds, where most assets end up free). Returns false and leaves w alone
  /// otherwise (long-only minimum variance frees every asset this way, each just above 0), when a
  /// variance is 0 or when c / (ra S_ii) overflows.
  bool start_at_diagonal(Index max_free) {
    const Vec& d = cov().diagonal();
    if (!(d.minCoeff() > 0.0)) return false;
    const Vec h = (ra * d).cwiseInverse();
    const Vec u = c.cwiseProduct(h);
    const double nu0 = (u.sum() - p->budget) / h.sum();  // the box-free minimiser's multiplier
    if (!u.allFinite() || !h.allFinite() || !std::isfinite(nu0)) return false;  // extreme scales
    Vec x(n);
    proj.project(u.data(), h.data(), lb.data(), ub.data(), n, p->budget, x.data(), nu0);
    if (!x.allFinite()) return false;
    Index inside = 0, deep = 0;
    for (Index i = 0; i < n; ++i) {
      if (!(x[i] > lb[i] && x[i] < ub[i])) continue;
      ++inside;
      deep += std::min(x[i] - lb[i], ub[i] - x[i]) > std::abs(x[i]);
    }
    if (inside > max_free && deep < kDeepShare * static_cast<double>(inside)) return false;
    w = x;
    return true;
  }

  /// Greedy vertex: w = lb, then the rest of the budget in decreasing order of the first- and
  /// second-order gain of each asset from there.
  void start_at_vertex() {
    const Vec& d = cov().diagonal();
    w = lb;
    exact_gradient();
    double left = p->budget - accurate_sum(lb.data(), n);
    Vec score(n);
    for (Index i = 0; i < n; ++i) {
      const double step = std::min(ub[i] - lb[i], std::max(left, 0.0));
      score[i] = -g[i] - 0.5 * ra * d[i] * step;
    }
    greedy_fill(score, lb, ub, left, w);
  }

  /// The working set of the starting point: the variables strictly inside their bounds become
  /// free, with one factorisation from scratch when there are many (a warm start), else one by one.
  void enter_working_set() {
    std::vector<Index> inside;
    for (Index i = 0; i < n; ++i) {
      if (state[i] == kFixed) {
        w[i] = lb[i];
      } else if (w[i] <= lb[i]) {
        put_at_bound(i, false);
      } else if (w[i] >= ub[i]) {
        put_at_bound(i, true);
      } else {
        state[i] = kInside;
        inside.push_back(i);
      }
    }
    exact_gradient();
    if (inside.size() > 8) {
      free = inside;
      bool ok = refactor();
      if (!ok) {
        sigma = shift_value;
        ok = refactor();
      }
      if (ok) {
        for (Index j : inside) state[j] = kFree;
      } else {
        free.clear();
        refresh_e();
      }
    }
    for (Index j : inside) {
      if (state[j] == kInside) release(j);
    }
    if (k() == 0) refresh_e();
  }

  enum class Next { Continue, Stop, Crossover };

  /// The iterations from the working set of the start, until a certified optimum (status
  /// Optimal), a failure, the iteration limit, or the decision to cross over.
  Next iterate(const SolverSettings& settings, Evaluator& ev, Status& status) {
    gmax0 = std::max(g.cwiseAbs().maxCoeff(), 1e-300);
    it = 0;
    zero_steps = 0;
    rounds = 0;
    at_minimizer = false;
    evaluated = false;
    nu = 0.0;
    status = Status::MaxIter;
    for (;;) {
      const Next next = iteration(settings, ev, status);
      if (next != Next::Continue) return next;
    }
  }

  /// One iteration: a step on the current face towards its minimiser, or, at the minimiser, pricing
  /// (a variable leaves its bound) or the certificate.
  Next iteration(const SolverSettings& settings, Evaluator& ev, Status& status) {
    if (negative_curvature) {
      status = Status::NotConvex;
      return Next::Stop;
    }
    if (unbounded) {
      status = Status::NumericalError;
      return Next::Stop;
    }
    if (!at_minimizer && k() > 0) {
      const FaceStep step = face_step(settings);
      if (step == FaceStep::Limit) return Next::Stop;
      if (step == FaceStep::Blocked) return Next::Continue;  // solve on the smaller face
    }
    if (k() == 0) {
      nu = cert.certify(w.data(), g.data(), lb.data(), ub.data(), n, p->budget, 1.0).multiplier;
    }
    const double tol_d = 1e-13 * std::max(gmax0, g.cwiseAbs().maxCoeff());
    const Index j = price(nu, tol_d, zero_steps >= kBlandAfterZeroSteps);
    if (j < 0) return certify_or_refine(settings, ev, status);
    if (it >= settings.max_iter) return Next::Stop;
    // every 16 iterations: a clock read per iteration would cost ~1% on small problems
    if (settings.progress != nullptr && it % 16 == 0 && !settings.progress->poll()) return Next::Stop;  // MaxIter
    if (settings.crossover && k() >= kCrossoverMinFree && rows_read > kCrossoverRows * static_cast<double>(n)) {
      return Next::Crossover;
    }
    ++it;
    rows_read += 1.0;  // the pricing pass
    release(j);
    evaluated = false;
    at_minimizer = false;
    return Next::Continue;
  }

  enum class FaceStep { Minimizer, Blocked, Limit };

  /// The step to the minimiser of the current face, cut at the first bound it meets (that
  /// variable then leaves F: Blocked). Minimizer when the point is the face's minimiser already or
  /// the full step was taken; Limit when a step was due at the iteration limit.
  FaceStep face_step(const SolverSettings& settings) {
    nu = subproblem();
    const double pmax = pf.cwiseAbs().maxCoeff();
    const double wmax = std::max(1.0, std::abs(p->budget));
    // pf = u - nu e cancels when the current point is the face's minimiser (one free asset, held
    // by the budget): what is left below the rounding of its terms is not a step, or a zero
    // step blocks, drops the asset, and pricing frees it again (a cycle).
    const double terms = std::max(u.cwiseAbs().maxCoeff(), std::abs(nu) * e.cwiseAbs().maxCoeff());
    if (pmax > 1e-15 * wmax && pmax > kStepCancelTol * terms) {
      if (it >= settings.max_iter) return FaceStep::Limit;
      ++it;
      double alpha = 1.0;
      Index block_at = -1;
      bool block_upper = false;
      ratio_test(alpha, block_at, block_upper);
      alpha = std::max(alpha, 0.0);
      if (alpha > 0.0) {
        for (Index t = 0; t < k(); ++t) w[free[t]] += alpha * pf[t];
        gradient_step(free, pf, alpha);
      }
      if (block_at >= 0) {
        zero_steps = alpha == 0.0 ? zero_steps + 1 : 0;
        put_at_bound(free[block_at], block_upper);
        remove(block_at);
        return FaceStep::Blocked;
      }
      zero_steps = 0;
    }
    at_minimizer = true;
    return FaceStep::Minimizer;
  }

  /// The largest alpha <= 1 that keeps w + alpha pf within the bounds, and the free variable that
  /// blocks it (ties to the lowest index, for the same path in every build).
  void ratio_test(double& alpha, Index& block_at, bool& block_upper) const {
    for (Index t = 0; t < k(); ++t) {
      const Index i = free[t];
      const double d = pf[t];
      double a;
      if (d < 0.0) {
        a = (lb[i] - w[i]) / d;
        if (a < alpha || (a == alpha && block_at >= 0 && i < free[block_at])) {
          alpha = a; block_at = t; block_upper = false;
        }
      } else if (d > 0.0) {
        a = (ub[i] - w[i]) / d;
        if (a < alpha || (a == alpha && block_at >= 0 && i < free[block_at])) {
          alpha = a; block_at = t; block_upper = true;
        }
      }
    }
  }

  /// Converged on the working set: certify from an exact gradient; when that fails, refine (an
  /// exact gradient and a fresh factor, then on from the same working set) a few times.
  Next certify_or_refine(const SolverSettings& settings, Evaluator& ev, Status& status) {
    cov_times_w(cov_w);
    pt = ev.evaluate(w, cov_w);
    evaluated = true;
    if (ev.passes(pt, settings.tol)) {
      status = Status::Optimal;
      return Next::Stop;
    }
    if (++rounds > kRefinementRounds) {
      status = Status::NumericalError;
      return Next::Stop;
    }
    g = ra * cov_w - c;
    evaluated = false;
    if (!refactor()) enable_shift();
    at_minimizer = false;
    return Next::Continue;
  }

  /// The result at the final point, certified from an exact S w.
  void finish(const SolverSettings& settings, Evaluator& ev, SolveResult& res) {
    res.weights = w;
    res.iterations = it;
    res.factorizations = factorizations();
    res.zero_curvature_steps = zero_curvature;
    if (!evaluated) {  // stopped without a final certificate (limit, curvature): evaluate here
      cov_times_w(cov_w);
      pt = ev.evaluate(w, cov_w);
    }
    fill_result(*p, pt, ev, res);
    if (res.status == Status::Optimal && !ev.passes(pt, settings.tol)) res.status = Status::NumericalError;
    if (res.status == Status::MaxIter && ev.passes(pt, settings.tol)) res.status = Status::Optimal;
    if (negative_curvature) res.status = Status::NotConvex;
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
  SolveResult res;
  res.weights = Vec::Constant(n, std::numeric_limits<double>::quiet_NaN());
  if (!feasible_bounds(prob, s.lb, s.ub)) {
    res.status = Status::Infeasible;
    res.solve_time_s = seconds_since(t0);
    return res;
  }
  const Vec cov_b = cov_times_benchmark(prob);
  Evaluator ev(prob, s.lb, s.ub, cov_b);
  if (prob.risk_aversion == 0.0) {
    solve_linear(prob, settings, s.lb, s.ub, ev, res);
    res.solve_time_s = seconds_since(t0);
    return res;
  }

  s.set_up(prob, cov_b);
  const bool finite = s.lb.allFinite() && s.ub.allFinite();
  // The primal-dual active set goes first, from the start's working set: the diagonal model's
  // minimiser when few of its assets are free, else the greedy vertex (a few assets, so the first
  // free block is small; starting with every asset free cost 2-4x more steps on long-only
  // problems). Pivoting one asset at a time from the vertex took 160-520 pivots where 100-200
  // assets end up free (a dense sample covariance, n = 500-2,000), against 8-9 steps.
  const bool newton_first = settings.crossover;
  if (warm_start.size() == n || !finite) {
    s.start_from(warm_start);
  } else if (!(newton_first && s.start_at_diagonal(std::max<Index>(kDiagonalStartFree, n / 16)))) {
    s.start_at_vertex();
  }
  if (newton_first) return crossover(prob, settings, 0, t0);
  s.enter_working_set();
  if (s.iterate(settings, ev, res.status) == Impl::Next::Crossover) {
    return crossover(prob, settings, s.it, t0);
  }
  s.finish(settings, ev, res);
  res.solve_time_s = seconds_since(t0);
  s.p = nullptr;
  return res;
}

SolveResult ActiveSetSolver::crossover(const MeanVarianceProblem& prob, const SolverSettings& settings,
                                       int iterations, std::chrono::steady_clock::time_point t0) {
  Impl& s = *impl_;
  const int zero_curvature = s.zero_curvature;
  Vec w = s.w, sw;
  const int limit = std::max(1, std::min(kNewtonMaxIter, settings.max_iter - iterations));
  const auto out =
      newton_active_set(prob.cov, *s.block, s.ra, s.c, s.lb, s.ub, prob.budget, limit, w, sw, settings.progress);
  const int factorizations = s.factorizations();  // the primal iterations' and the steps' so far
  SolveResult res;
  Evaluator ev(prob, s.lb, s.ub, s.cov_b);
  const Evaluator::Point pt = ev.evaluate(w, sw);
  if (out.settled && ev.passes(pt, settings.tol)) {
    res.weights = w;
    fill_result(prob, pt, ev, res);
    res.status = Status::Optimal;
  } else {
    SolverSettings as = settings;
    as.crossover = false;
    as.max_iter = std::max(0, settings.max_iter - iterations - out.iterations);
    res = solve(prob, as, w);
  }
  res.iterations += iterations + out.iterations;
  res.crossover_iterations = out.iterations;
  res.factorizations += factorizations;  // a finishing solve() counted its own from its set_up
  res.zero_curvature_steps += zero_curvature;
  res.solve_time_s = seconds_since(t0);
  s.p = nullptr;
  return res;
}

SolveResult solve_active_set(const MeanVarianceProblem& problem, const SolverSettings& settings,
                             const VecRef& warm_start) {
  ActiveSetSolver solver;
  return solver.solve(problem, settings, warm_start);
}

}  // namespace microalloc
