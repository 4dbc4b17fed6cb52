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
// S w = S alpha + tau S beta, already at hand (O(n) per check). The factor of S_FF is the covariance
// model's FreeBlock (ra = 1), as in the active-set solver.
#include "microalloc/frontier.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <memory>
#include <stdexcept>
#include <vector>

#include "mean_variance_common.hpp"
#include "microalloc/certificate.hpp"
#include "microalloc/check.hpp"
#include "microalloc/covariance_model.hpp"
#include "microalloc/mean_variance.hpp"

namespace microalloc {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kSlopeTol = 1e-11;  // relative: slopes below this are not events
constexpr double kTieTol = 1e-12;    // relative: events this close are ties
constexpr double kNearTieTol = 1e-9; // relative: events this close whose weights agree to
constexpr double kSamePoint = 1e-11; // this (x budget) are one turning point
constexpr double kCancelTol = 1e-12; // a free slope below this fraction of its terms is rounding
constexpr int kRefreshPeriod = 32;   // S w_B recomputed from scratch every this many events
constexpr std::int64_t kProgressUnits = 1000;

enum Side : signed char { kFree = 0, kLower = 1, kUpper = 2, kFixed = 3 };

constexpr const char* kSingular = "the free block of the covariance is singular on the budget plane";

/// The walk along the path, one turning point at a time. Its steps, in order: start (the certified
/// minimum-variance point and its working set), walk (per turning point: solve_segment,
/// certify_at, record_point, next_event, cross), certify_end, collect. S is reached only through
/// the covariance model: its free block (the factorisation of S_FF + sigma 11'), a column per
/// asset that changes sides, and the diagonal for the scale.
class Walk {
 public:
  Walk(const FrontierProblem& p, const FrontierSettings& settings, Frontier& out, Progress* progress)
      : p_(p), cov_(p.cov), settings_(settings), out_(out), n_(p.cov.size()), progress_(progress) {}

  bool start();
  void walk();
  void certify_end();
  void collect();

 private:
  // ---- the working set
  void read_working_set(const Vec& start_w);
  void refresh_held();
  void hold_change(Index j, double dw) {  // S w_B += dw S e_j
    if (dw != 0.0) cov_.add_column(j, dw, held_sw_);
  }
  Index ensure_free(double tau);
  // ---- the free block
  bool factor();
  bool drop(Index pos);
  int settle(Index j);
  int zero_curvature_move(Index j);
  // ---- one turning point
  void solve_segment();
  bool certify_at(double t);
  bool record_point();
  void start_progress();
  bool checkpoint();
  Index next_event(double& best);
  bool cross(Index who);
  void fail(Status status, const char* message) {
    out_.status = status;
    out_.message = message;
  }

  const FrontierProblem& p_;
  const CovarianceModel& cov_;
  const FrontierSettings& settings_;
  Frontier& out_;
  const Index n_;
  Progress* const progress_;
  double ret0_ = 0.0, ret_span_ = 0.0;  // the start's expected return and the way to the end's
  Vec lb_, ub_;
  Vec c0_, bench_;  // S b and b (0 without a benchmark)
  double budget_ = 1.0, mu_scale_ = 1.0, mean_var_ = 1.0;
  int max_points_ = 0;
  // working set: sides, weights (exact on held assets) and S w_B
  std::vector<signed char> side_;
  Vec w_, held_sw_;
  // free assets, in the block's order (plus, while need_factor_, those not factored yet)
  std::vector<Index> free_;
  std::unique_ptr<FreeBlock> block_;
  int factorizations_before_ = 0;  // the block's count after its empty start
  double sigma_ = 0.0;
  bool need_factor_ = false;
  int settled_ = 0;  // < 0: the start's free block could not be settled (see settle())
  Vec dir_;
  // the current segment: w = alpha + tau beta, nu = nu0 + tau nu1, S alpha and S beta
  Vec x0_, x1_, e_, alpha_, beta_, s_alpha_, s_beta_, g_, wt_;
  Eigen::MatrixXd sab_;  // [S alpha, S beta] as they are accumulated
  RowMat coef_;          // [alpha_F, beta_F] in its first k rows (n x 2: allocated once)
  double nu0_ = 0.0, nu1_ = 0.0;
  // the path so far
  std::vector<Vec> points_;
  std::vector<double> taus_, m0_, m1_, v0_, v1_, v2_;
  Certifier certifier_;
  double tau_ = 0.0;
  Index last_left_ = -1;
  int events_ = 0;
};

/// The start: the active-set solver's certified minimum (active) variance; only its working set
/// is used, the path recomputes the weights exactly. False (status set) when there is none.
bool Walk::start() {
  const Vec no_mu;
  MeanVarianceProblem mv{cov_, no_mu, p_.lower, p_.upper, p_.benchmark, 1.0, p_.budget};
  if (!detail::feasible_bounds(mv, lb_, ub_)) {
    fail(Status::Infeasible, "no portfolio satisfies the bounds and the budget");
    return false;
  }
  SolverSettings ss;
  ss.tol = settings_.tol;
  // The primal method alone: with exact ties (a duplicated asset) its pivots in index order pick
  // the same twin on every build, where the primal-dual steps leave the choice to rounding.
  ss.crossover = false;
  ss.progress = progress_;  // a long start can be interrupted too
  max_points_ = settings_.max_points > 0 ? settings_.max_points : static_cast<int>(20 * n_ + 100);
  if (progress_ != nullptr) progress_->set_total(lb_.allFinite() && ub_.allFinite() ? kProgressUnits : max_points_);
  const SolveResult start = solve_active_set(mv, ss, Vec());
  if (start.status != Status::Optimal) {
    fail(start.status, "the minimum-variance start could not be certified");
    return false;
  }
  c0_ = Vec::Zero(n_);
  bench_ = Vec::Zero(n_);
  if (p_.benchmark.size() != 0) {
    bench_ = p_.benchmark;
    cov_.apply(bench_, c0_);
  }
  budget_ = p_.budget;
  mu_scale_ = std::max(p_.mu.cwiseAbs().maxCoeff(), 1e-300);
  mean_var_ = n_ > 0 ? std::max(cov_.mean_variance(), 1e-300) : 1.0;
  block_ = cov_.free_block();
  (void)block_->reset(free_, 1.0, sigma_);  // empty: cannot fail
  factorizations_before_ = block_->factorizations();
  read_working_set(start.weights);
  // The start's free assets enter the block one by one (settling any dependent ones).
  for (Index i = 0; i < n_ && settled_ >= 0; ++i) {
    if (side_[i] == kFree) settled_ = std::min(settle(i), 0);
  }
  alpha_.resize(n_);
  beta_.resize(n_);
  sab_.resize(n_, 2);
  coef_.resize(n_, 2);
  s_alpha_.resize(n_);
  s_beta_.resize(n_);
  g_.resize(n_);
  wt_.resize(n_);
  start_progress();
  out_.status = Status::Optimal;
  return true;
}

/// The progress's units (set before the start): thousandths of the expected return from the start
/// to the end (the greedy fill of the budget by mu), or turning points when an infinite bound
/// leaves no end. With no way to go (a one-point path), done jumps to the total at the end.
void Walk::start_progress() {
  if (progress_ == nullptr || !progress_->active()) return;
  ret0_ = p_.mu.dot(w_);
  if (lb_.allFinite() && ub_.allFinite()) {
    Vec top;
    detail::greedy_fill(p_.mu, lb_, ub_, budget_ - lb_.sum(), top);
    ret_span_ = std::max(p_.mu.dot(top) - ret0_, 0.0);
  }
}

/// A checkpoint at the turning point just recorded: false when the progress is stopped.
bool Walk::checkpoint() {
  if (progress_ == nullptr || !progress_->active()) return true;
  if (ret_span_ > 0.0) {
    const double f = (m0_.back() + tau_ * m1_.back() - ret0_) / ret_span_;
    progress_->set_done(static_cast<std::int64_t>(std::clamp(f, 0.0, 1.0) * kProgressUnits));
  } else if (!(lb_.allFinite() && ub_.allFinite())) {
    progress_->set_done(static_cast<std::int64_t>(points_.size()));
  }
  if (progress_->poll()) return true;
  fail(Status::NumericalError, "interrupted");
  return false;
}

/// Assets on a bound (within a relative 1e-11 of it) are held there, the others are free (not
/// factored yet: settle() takes them in).
void Walk::read_working_set(const Vec& start_w) {
  side_.assign(static_cast<std::size_t>(n_), kFree);
  w_ = start_w;
  for (Index i = 0; i < n_; ++i) {
    const double width = std::abs(ub_[i] - lb_[i]);
    const double wtol = 1e-11 * std::max(1.0, width < kInf ? width : 1.0);
    if (lb_[i] == ub_[i]) {
      side_[i] = kFixed;
      w_[i] = lb_[i];
    } else if (std::abs(w_[i] - lb_[i]) <= wtol) {
      side_[i] = kLower;
      w_[i] = lb_[i];
    } else if (std::abs(w_[i] - ub_[i]) <= wtol) {
      side_[i] = kUpper;
      w_[i] = ub_[i];
    }
  }
  held_sw_.resize(n_);
  refresh_held();
}

/// S w_B from scratch (the updates drift by rounding).
void Walk::refresh_held() {
  held_sw_.setZero();
  for (Index j = 0; j < n_; ++j) {
    if (side_[j] != kFree && w_[j] != 0.0) cov_.add_column(j, w_[j], held_sw_);
  }
}

/// With no free asset (a vertex), one held asset is freed at its bound: with the budget it cannot
/// move, and its stationarity fixes nu. The one with the smallest r among the lower ones (largest
/// among the upper ones) keeps every other sign. Returns it, or -1.
Index Walk::ensure_free(double tau) {
  for (Index i = 0; i < n_; ++i) {
    if (side_[i] == kFree) return -1;
  }
  Index pick = -1;
  double best = kInf;
  for (Index i = 0; i < n_; ++i) {
    const double r = held_sw_[i] - c0_[i] - tau * p_.mu[i];
    if (side_[i] == kLower && r < best) best = r, pick = i;
  }
  if (pick < 0) {
    best = -kInf;
    for (Index i = 0; i < n_; ++i) {
      const double r = held_sw_[i] - c0_[i] - tau * p_.mu[i];
      if (side_[i] == kUpper && r > best) best = r, pick = i;
    }
  }
  if (pick >= 0) {
    side_[pick] = kFree;
    hold_change(pick, -w_[pick]);
  }
  return pick;
}

/// Factorise from scratch; with the 11' shift when S_FF is singular (on 1'w_F = const it only
/// moves nu).
bool Walk::factor() {
  if (block_->reset(free_, 1.0, sigma_)) return true;
  if (sigma_ != 0.0) return false;
  sigma_ = mean_var_;
  return block_->reset(free_, 1.0, sigma_);
}

/// Removes the free asset at position pos from F; false when the block's refactorisation that
/// this may trigger fails even with the shift.
bool Walk::drop(Index pos) {
  free_.erase(free_.begin() + pos);
  return block_->remove(pos) || factor();
}

/// Adds asset j to the factored free block. When its row depends on the free rows there is a
/// direction d (d_j = 1, d_F = -H_FF^-1 H_Fj) with S d = 0 and 1'd = 0: moving along it changes
/// neither the risk nor the budget, only mu'w. The move goes the way that raises mu'w (for a held
/// j: only the way its bound allows, and only if mu'd is not negative) until an asset of F + j
/// reaches a bound; that asset is held there and j is tried again. Duplicated assets (and any
/// replicating combination) are settled this way: on the optimal face of minimum risk the path
/// starts from the highest-return point. j is either held (at a bound) or free and unfactored
/// ("pending": interior, not in S w_B). Returns 0 when j ends free, 1 when held, -1 when the move
/// has no end (an infinite bound: return without limit at no risk), -2 when the block stays
/// singular (no bound ends a move of no gain, or the factor fails even with the shift).
int Walk::settle(Index j) {
  for (Index guard = 0; guard <= n_ + 1; ++guard) {
    if (block_->append(j, dir_) == FreeBlock::Append::Ok) {
      free_.push_back(j);
      if (side_[j] != kFree) hold_change(j, -w_[j]);
      side_[j] = kFree;
      return 0;
    }
    if (sigma_ == 0.0) {  // singular without the shift: retry with it before calling it a direction
      sigma_ = mean_var_;
      if (!block_->reset(free_, 1.0, sigma_)) return -2;
      continue;
    }
    const int moved = zero_curvature_move(j);
    if (moved != 0) return moved;
  }
  return -2;
}

/// One move of settle() along d_F = -dir (dir = H_FF^-1 H_Fj from the failed append), d_j = 1:
/// 1 when j ends held, -1 / -2 as settle(), 0 when a free asset blocked (it is held now, and j is
/// tried again).
int Walk::zero_curvature_move(Index j) {
  const Index k = static_cast<Index>(free_.size());
  const Vec& dq = dir_;
  double mud = p_.mu[j], mud_terms = std::abs(p_.mu[j]);
  for (Index r = 0; r < k; ++r) {
    mud -= dq[r] * p_.mu[free_[r]];
    mud_terms += std::abs(dq[r] * p_.mu[free_[r]]);
  }
  if (std::abs(mud) <= 1e-12 * mud_terms) mud = 0.0;
  // A held j still on its bound may only move off it, and only for a gain; a j inside its
  // bounds (pending, or moved off its bound by an earlier pass) moves either way. Ties (no
  // gain) move weight off j, towards the lower indices already in the block.
  double dir;
  if (side_[j] == kLower && w_[j] == lb_[j]) {
    if (mud <= 0.0) return 1;
    dir = 1.0;
  } else if (side_[j] == kUpper && w_[j] == ub_[j]) {
    if (mud >= 0.0) return 1;
    dir = -1.0;
  } else {
    dir = mud > 0.0 ? 1.0 : -1.0;
  }
  double step = dir > 0 ? ub_[j] - w_[j] : w_[j] - lb_[j];
  Index blocker = j;
  double dq_scale = 0.0;
  for (Index r = 0; r < k; ++r) dq_scale = std::max(dq_scale, std::abs(dq[r]));
  for (Index r = 0; r < k; ++r) {
    const Index i = free_[r];
    const double di = -dir * dq[r];
    if (std::abs(di) <= 1e-12 * dq_scale) continue;
    const double room = di > 0 ? (ub_[i] - w_[i]) / di : (lb_[i] - w_[i]) / di;
    if (room < step) step = room, blocker = i;
  }
  if (!(step < kInf)) return mud != 0.0 ? -1 : -2;
  step = std::max(step, 0.0);
  const double wj_old = w_[j];
  w_[j] += dir * step;
  for (Index r = 0; r < k; ++r) w_[free_[r]] -= dir * step * dq[r];
  if (side_[j] != kFree) hold_change(j, w_[j] - wj_old);
  if (blocker == j) {
    const bool up = dir > 0;
    const double at = up ? ub_[j] : lb_[j];
    hold_change(j, side_[j] == kFree ? at : at - w_[j]);
    w_[j] = at;
    side_[j] = up ? kUpper : kLower;
    return 1;
  }
  const Index pos = static_cast<Index>(std::find(free_.begin(), free_.end(), blocker) - free_.begin());
  const bool up = w_[blocker] > 0.5 * (lb_[blocker] + ub_[blocker]) || lb_[blocker] == -kInf;
  w_[blocker] = up ? ub_[blocker] : lb_[blocker];
  side_[blocker] = up ? kUpper : kLower;
  hold_change(blocker, w_[blocker]);
  return drop(pos) ? 0 : -2;
}

/// The segment of the current working set: with x = H_FF^-1 rhs and e = H_FF^-1 1 for the
/// right-hand sides of tau^0 and tau^1, w_F = alpha + tau beta and nu = nu0 + tau nu1; then
/// S alpha and S beta, one column per free asset.
void Walk::solve_segment() {
  const Index k = static_cast<Index>(free_.size());
  double held_sum = 0.0;
  for (Index i = 0; i < n_; ++i) {
    if (side_[i] != kFree) held_sum += w_[i];
  }
  const double free_budget = budget_ - held_sum;
  x0_.resize(k);
  x1_.resize(k);
  for (Index r = 0; r < k; ++r) {
    x0_[r] = c0_[free_[r]] - held_sw_[free_[r]];
    x1_[r] = p_.mu[free_[r]];
  }
  e_ = Vec::Ones(k);
  block_->solve(x0_);
  block_->solve(x1_);
  block_->solve(e_);
  const double se = e_.sum();
  const double nu0s = (x0_.sum() - free_budget) / se;
  nu1_ = x1_.sum() / se;
  nu0_ = nu0s + sigma_ * free_budget;  // the multiplier of the unshifted system
  alpha_ = w_;
  beta_.setZero();
  for (Index r = 0; r < k; ++r) {
    alpha_[free_[r]] = x0_[r] - nu0s * e_[r];
    beta_[free_[r]] = k > 1 ? x1_[r] - nu1_ * e_[r] : 0.0;  // one free asset cannot move: the budget holds it
  }
  if (k == 1) alpha_[free_[0]] = free_budget;
  // beta = x1 - nu1 e cancels when the free assets' mu are (nearly) tied: what is left below the
  // rounding of its two terms is not a slope, and the segment does not move at all.
  double terms = 0.0, slope = 0.0;
  for (Index r = 0; r < k; ++r) {
    terms = std::max(terms, std::abs(x1_[r]) + std::abs(nu1_ * e_[r]));
    slope = std::max(slope, std::abs(beta_[free_[r]]));
  }
  if (slope <= kCancelTol * terms) {
    for (Index r = 0; r < k; ++r) beta_[free_[r]] = 0.0;
  }
  // S alpha and S beta (alpha holds w_B on the held assets), in one pass over the free columns.
  sab_.col(0) = held_sw_;
  sab_.col(1).setZero();
  for (Index r = 0; r < k; ++r) {
    coef_(r, 0) = alpha_[free_[r]];
    coef_(r, 1) = beta_[free_[r]];
  }
  cov_.add_columns(free_.data(), k, Eigen::Map<const RowMat>(coef_.data(), k, 2), sab_);
  s_alpha_ = sab_.col(0);
  s_beta_ = sab_.col(1);
}

/// The duality gap of the mean-variance problem at tau = t on the current segment, from
/// S w = S alpha + t S beta (O(n)).
bool Walk::certify_at(double t) {
  wt_ = alpha_ + t * beta_;
  g_ = s_alpha_ + t * s_beta_ - c0_ - t * p_.mu;
  const double risk_sq = std::max((wt_ - bench_).dot(g_ + t * p_.mu), 0.0);  // (w-b)'S(w-b)
  const double ret = p_.mu.dot(wt_);
  const double scale =
      std::max(0.5 * risk_sq + t * std::abs(ret), 1e-4 * mean_var_ * std::max(1.0, budget_ * budget_));
  const Certificate c = certifier_.certify(wt_.data(), g_.data(), lb_.data(), ub_.data(), n_, budget_, scale);
  out_.max_rel_gap = std::max(out_.max_rel_gap, c.rel_gap);
  out_.max_primal_residual = std::max(out_.max_primal_residual, c.primal_residual);
  const double g_scale = std::max(g_.cwiseAbs().maxCoeff(), 1e-300);
  return c.rel_gap <= settings_.tol && c.primal_residual <= 1e-9 * std::max(1.0, std::abs(budget_)) &&
         c.unbounded_violation <= settings_.tol * g_scale;  // stationarity where a bound is infinite
}

/// The turning point at tau_ and the segment it starts (replacing a zero-length segment: several
/// assets changing sides at the same tau make one turning point, and so do events within
/// kNearTieTol whose weights agree to kSamePoint: at large tau an event's tau = -gamma / delta is
/// known only to the rounding of gamma's terms, and two events of one point came 6e-12 apart
/// there; a segment along which the weights stay put over a real range of tau is kept). False when the path
/// stops here: a target reached (truncated) or the turning-point limit (MaxIter).
bool Walk::record_point() {
  const double tau = tau_;
  const auto same_point = [&] {
    const double scale = kSamePoint * std::max(1.0, std::abs(budget_));
    return ((alpha_ + tau * beta_) - points_.back()).cwiseAbs().maxCoeff() <= scale;
  };
  if (!taus_.empty() && (tau - taus_.back() <= kTieTol * tau ||
                          (tau - taus_.back() <= kNearTieTol * tau && same_point()))) {
    points_.pop_back();
    taus_.pop_back();
    m0_.pop_back();
    m1_.pop_back();
    v0_.pop_back();
    v1_.pop_back();
    v2_.pop_back();
  }
  points_.push_back(alpha_ + tau * beta_);
  taus_.push_back(tau);
  m0_.push_back(p_.mu.dot(alpha_));
  m1_.push_back(p_.mu.dot(beta_));
  wt_ = s_alpha_ - c0_;  // S (alpha - b)
  v0_.push_back((alpha_ - bench_).dot(wt_));
  v1_.push_back(beta_.dot(wt_));
  v2_.push_back(beta_.dot(s_beta_));
  if (m0_.back() + tau * m1_.back() >= settings_.stop_return ||
      v0_.back() + tau * (2.0 * v1_.back() + tau * v2_.back()) >= settings_.stop_risk * settings_.stop_risk) {
    out_.truncated = true;
    return false;
  }
  if (static_cast<int>(points_.size()) >= max_points_ || events_ > 4 * max_points_) {  // merged ties keep size flat
    fail(Status::MaxIter, "turning-point limit reached");
    return false;
  }
  return true;
}

/// The nearest tau >= tau_ at which a free asset reaches a bound or a held asset's reduced
/// gradient changes sign (ties to the lowest index, Bland); -1 when there is none.
Index Walk::next_event(double& best) {
  const Index k = static_cast<Index>(free_.size());
  const double tau = tau_;
  const double beta_scale = beta_.cwiseAbs().maxCoeff();
  const double beta_tol = kSlopeTol * beta_scale;
  best = kInf;
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
    const Index i = free_[r];
    if (beta_[i] > beta_tol && ub_[i] < kInf) offer((ub_[i] - alpha_[i]) / beta_[i], i);
    if (beta_[i] < -beta_tol && lb_[i] > -kInf) offer((lb_[i] - alpha_[i]) / beta_[i], i);
  }
  const double delta_tol = kSlopeTol * (mu_scale_ + std::abs(nu1_));
  for (Index i = 0; i < n_; ++i) {
    if (side_[i] != kLower && side_[i] != kUpper) continue;
    // gamma = 0 exactly when i is tied with the free assets at the current point (a duplicate
    // of one of them): what is left below the rounding of its terms is not a distance, or the
    // event lands at tau + (rounding) in one build and at tau in another (FMA or not).
    double gamma = s_alpha_[i] - c0_[i] + nu0_;
    if (std::abs(gamma) <= kCancelTol * (std::abs(s_alpha_[i]) + std::abs(c0_[i]) + std::abs(nu0_))) gamma = 0.0;
    const double delta = s_beta_[i] - p_.mu[i] + nu1_;
    const bool enters = side_[i] == kLower ? delta < -delta_tol : delta > delta_tol;
    if (!enters) continue;
    const double t = -gamma / delta;
    if (i == last_left_ && t <= tau * (1.0 + 1e-9) + 1e-300) continue;
    offer(t, i);
  }
  if (who < 0) {
    // Moving forever is only possible towards an infinite bound (expected return without limit);
    // otherwise the remaining slopes are rounding and the path has reached its end.
    for (Index r = 0; r < k && k > 1; ++r) {
      const Index i = free_[r];
      if ((beta_[i] > beta_tol && ub_[i] == kInf) || (beta_[i] < -beta_tol && lb_[i] == -kInf)) out_.unbounded = true;
    }
    if (out_.unbounded) out_.ray = beta_;
  }
  return who;
}

/// Moves `who` across at tau_: a free asset is held at the bound it reached, a held one is
/// settled into the free block. False (status set) when that fails.
bool Walk::cross(Index who) {
  w_ = alpha_ + tau_ * beta_;
  if (side_[who] == kFree) {
    const bool up = beta_[who] > 0;
    w_[who] = up ? ub_[who] : lb_[who];
    side_[who] = up ? kUpper : kLower;
    hold_change(who, w_[who]);
    last_left_ = who;
    if (!drop(static_cast<Index>(std::find(free_.begin(), free_.end(), who) - free_.begin()))) {
      fail(Status::NumericalError, kSingular);
      return false;
    }
  } else {
    const int settled_who = settle(who);
    if (settled_who < 0) {
      fail(Status::NumericalError, settled_who == -1
                                       ? "the expected return grows without limit at no extra risk (infinite bounds)"
                                       : kSingular);
      return false;
    }
    last_left_ = settled_who == 1 ? who : -1;  // held (no gain along its direction): not offered again here
  }
  if (++events_ % kRefreshPeriod == 0) refresh_held();
  return true;
}

/// Turning points in increasing tau, until the end of the path, a target, a limit or a failure.
void Walk::walk() {
  for (;;) {
    if (settled_ < 0) {
      fail(Status::NumericalError, settled_ == -1
                                       ? "the expected return grows without limit at minimum risk (infinite bounds)"
                                       : kSingular);
      return;
    }
    if (const Index j = ensure_free(tau_); j >= 0) {
      // Appended when it can be; else it waits, unfactored, for the factorisation below.
      if (need_factor_ || block_->append(j, dir_) != FreeBlock::Append::Ok) need_factor_ = true;
      free_.push_back(j);
    }
    if (need_factor_) {
      if (!factor()) {
        fail(Status::NumericalError, kSingular);
        return;
      }
      need_factor_ = false;
    }
    solve_segment();
    if (!certify_at(tau_)) {
      refresh_held();
      fail(Status::NumericalError, "a turning point failed its certificate");
      return;
    }
    if (!record_point() || !checkpoint()) return;
    double best;
    const Index who = next_event(best);
    if (who < 0) return;  // no more turning points
    tau_ = best;
    if (!cross(who)) return;
  }
}

/// The maximum-return end: beyond its tau the path stays put, which holds only if the last point
/// also solves the linear program max mu'w (the limit tau -> infinity). Certified the same way.
void Walk::certify_end() {
  if (out_.status != Status::Optimal || out_.unbounded || out_.truncated || points_.empty()) return;
  const Vec& last = points_.back();
  g_ = -p_.mu;
  const double ret = p_.mu.dot(last);
  const double scale = std::max(std::abs(ret), 1e-12 * mu_scale_ * std::max(1.0, std::abs(budget_)));
  const Certificate c = certifier_.certify(last.data(), g_.data(), lb_.data(), ub_.data(), n_, budget_, scale);
  out_.max_rel_gap = std::max(out_.max_rel_gap, c.rel_gap);
  if (!(c.rel_gap <= settings_.tol)) {
    fail(Status::NumericalError, "the end of the path failed the maximum-return certificate");
  }
}

/// The turning points and segment coefficients into the result.
void Walk::collect() {
  const Index count = static_cast<Index>(points_.size());
  out_.tau = taus_;
  out_.weights.resize(count, n_);
  for (Index r = 0; r < count; ++r) out_.weights.row(r) = points_[static_cast<std::size_t>(r)].transpose();
  auto to_vec = [](const std::vector<double>& v) {
    return Vec(Eigen::Map<const Vec>(v.data(), static_cast<Index>(v.size())));
  };
  out_.mean0 = to_vec(m0_);
  out_.mean1 = to_vec(m1_);
  out_.var0 = to_vec(v0_);
  out_.var1 = to_vec(v1_);
  out_.var2 = to_vec(v2_);
  out_.expected_return.resize(count);
  out_.risk.resize(count);
  for (Index r = 0; r < count; ++r) {
    const double t = taus_[static_cast<std::size_t>(r)];
    out_.expected_return[r] = m0_[r] + t * m1_[r];
    out_.risk[r] = std::sqrt(std::max(v0_[r] + 2.0 * t * v1_[r] + t * t * v2_[r], 0.0));
  }
  if (!out_.unbounded) out_.ray = Vec::Zero(n_);
  out_.factorizations = block_->factorizations() - factorizations_before_;
}

}  // namespace

Frontier efficient_frontier(const FrontierProblem& p, const FrontierSettings& settings, Progress* progress) {
  const auto t0 = std::chrono::steady_clock::now();
  const Index n = p.cov.size();
  MICROALLOC_CHECK_SIZE(p.mu.size(), n, "mu");
  MICROALLOC_CHECK_SIZE(p.lower.size(), n, "lower");
  MICROALLOC_CHECK_SIZE(p.upper.size(), n, "upper");
  if (p.benchmark.size() != 0) MICROALLOC_CHECK_SIZE(p.benchmark.size(), n, "benchmark");
  Frontier out;
  Walk walk(p, settings, out, progress);
  if (!walk.start()) return out;
  walk.walk();
  walk.certify_end();
  walk.collect();
  out.solve_time_s = detail::seconds_since(t0);
  if (progress != nullptr) progress->finish();
  return out;
}

}  // namespace microalloc
