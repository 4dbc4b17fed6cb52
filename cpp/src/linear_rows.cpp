// Linear rows besides the box and the budget (linear_rows.hpp, docs/methods.md §9): Newton's
// method on the rows' multipliers. For multipliers lambda the box-and-budget problem with mu
// shifted by -A'lambda has the minimiser w(lambda), and the dual q(lambda) = f(w) + lambda'A w -
// sum (lambda^+ row_upper - lambda^- row_lower) is concave with gradient A w - (the limits of the
// binding sides). On the face of w(lambda) (free set F), A w moves with lambda as -A_F P A_F'
// with P the inverse of ra S_FF restricted to the budget plane, so the Newton step solves the small
// system M = A_WF P A_WF' for the rows W at a limit. A step that does not raise q is shortened
// where q's slope along it crosses zero (the secant of the slopes at its ends).
#include "microalloc/linear_rows.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <memory>
#include <stdexcept>
#include <utility>
#include <vector>

#include <Eigen/Eigenvalues>

#include "mean_variance_common.hpp"
#include "microalloc/certificate.hpp"
#include "microalloc/projection.hpp"

namespace microalloc {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr int kMaxHalvings = 60;
constexpr double kRowTol = 1e-9;  // rows met to this fraction of their scale
constexpr double kFlatStep = 0.1;  // a flat direction without a kink: a first move of this many gradient scales
// Eigenvalues of M below this fraction of the largest are zero. M's null directions (a turnover
// row that repeats the budget on F: every free asset buying) come out at 1e-10 of the largest
// through a factor model's Woodbury solves; taken as curvature they gave steps of 1e13.
constexpr double kRangeTol = 1e-8;
constexpr double kZeroPrice = 1e-13;  // a multiplier below this many gradient scales is zero
constexpr double kMaxStep = 10.0;    // a step moves a multiplier by at most this many gradient scales
constexpr double kOvershoot = 0.1;   // a step's end slope beyond this fraction of its start's: refined
constexpr int kRefinements = 3;      // regula falsi points per refined step

/// The side of each row: +1 its upper limit binds (or is exceeded), -1 its lower limit, 0 neither.
struct RowSides {
  std::vector<int> side;
  Vec residual;  // a_j w - (the limit of its side), for the rows with a side
};

/// The multipliers are those of the m rows and, with a turnover limit, one more (index m) for
/// sum |w - w0| <= limit, whose coefficients on a face are the sides of w0 the assets lie on.
class RowsNewton {
 public:
  RowsNewton(const MeanVarianceProblem& p, const LinearRows& rows, const SolverSettings& settings,
             const TradingCosts* costs)
      : p_(p), rows_(rows), settings_(settings), costs_(costs), n_(p.size()), m_(rows.a.rows()),
        mt_(m_ + (costs != nullptr && costs->has_turnover() ? 1 : 0)), block_(p.cov.free_block()),
        cov_b_(detail::cov_times_benchmark(p)) {
    detail::feasible_bounds(p_, lb_, ub_);  // the budget-implied box of every certificate
  }

  RowsSolveResult run(const VecRef& warm_start, int max_outer, const Vec& start_multipliers);

 private:
  bool inner_solve(const Vec& lambda, const Vec& start, SolveResult& out);
  double dual_value(const Vec& lambda, const SolveResult& inner) const;
  RowSides sides(const Vec& lambda, const Vec& values) const;
  Vec newton_step(const SolveResult& inner, const RowSides& s);
  static double ascent_reach(const Vec& lambda, const RowSides& s, Vec& step);
  double slope_at(const Vec& lambda, const Vec& step, const Vec& w) const;
  static double shorter(double slope0, double slope);
  Vec trial_at(const Vec& base, const Vec& step, double t) const;
  int refine(const Vec& base, const Vec& step, std::pair<double, double> below, std::pair<double, double> above,
             double slope0, Vec& lambda, SolveResult& inner, double& q);
  bool certify(const Vec& lambda, RowsSolveResult& out);
  bool proves_infeasible(const Vec& lambda, const Vec& w);
  double row_scale(Index j) const;
  double upper_of(Index j) const { return j < m_ ? rows_.upper[j] : costs_->turnover; }
  double lower_of(Index j) const { return j < m_ ? rows_.lower[j] : -kInf; }
  double extra(const Vec& lambda) const { return mt_ > m_ ? lambda[m_] : 0.0; }
  Vec values_of(const Vec& w) const;
  bool is_free(Index i, double wi) const;
  double coefficient(Index j, Index i, double wi) const;

  const MeanVarianceProblem& p_;
  const LinearRows& rows_;
  const SolverSettings& settings_;
  const TradingCosts* costs_;  // or none
  const Index n_, m_, mt_;     // mt_ = m_ + 1 with a turnover limit
  ActiveSetSolver inner_;
  CostsSolver costs_solver_;
  std::unique_ptr<FreeBlock> block_;  // the free block of the face, for M (reset every step)
  Vec lb_, ub_, cov_b_;               // the implied box and S b, fixed for the run
  Vec shifted_mu_;
  double gradient_scale_ = 1.0;
  Vec lambda_;  // the multipliers of the current iterate (for newton_step's flat directions)
  Vec values_;  // A w and the turnover of the last point certified
  Certifier certifier_;
};

double RowsNewton::row_scale(Index j) const {
  if (j == m_) return std::max({1.0, costs_->turnover, std::abs(p_.budget)});
  const double lo = std::isfinite(rows_.lower[j]) ? std::abs(rows_.lower[j]) : 0.0;
  const double up = std::isfinite(rows_.upper[j]) ? std::abs(rows_.upper[j]) : 0.0;
  return std::max({1.0, lo, up, rows_.a.row(j).cwiseAbs().maxCoeff() * std::max(1.0, std::abs(p_.budget))});
}

bool RowsNewton::inner_solve(const Vec& lambda, const Vec& start, SolveResult& out) {
  shifted_mu_ = p_.has_mu() ? Vec(p_.mu) : Vec::Zero(n_);
  if (m_ > 0) shifted_mu_.noalias() -= rows_.a.transpose() * lambda.head(m_);
  const MeanVarianceProblem q{p_.cov, shifted_mu_, p_.lower, p_.upper, p_.benchmark, p_.risk_aversion, p_.budget};
  out = costs_ != nullptr ? costs_solver_.solve(q, *costs_, extra(lambda), settings_, start, false)
                          : inner_.solve(q, settings_, start);
  return out.status == Status::Optimal;
}

Vec RowsNewton::values_of(const Vec& w) const {
  Vec v(mt_);
  if (m_ > 0) v.head(m_).noalias() = rows_.a * w;
  if (mt_ > m_) v[m_] = turnover_of(*costs_, w);
  return v;
}

/// Free on the face: strictly inside the box and, with costs, off w0 (a kink is a bound).
bool RowsNewton::is_free(Index i, double wi) const {
  return wi > p_.lower[i] && wi < p_.upper[i] && (costs_ == nullptr || wi != costs_->current[i]);
}

double RowsNewton::coefficient(Index j, Index i, double wi) const {
  if (j < m_) return rows_.a(j, i);
  return wi > costs_->current[i] ? 1.0 : -1.0;  // d|w_i - w0_i| / dw_i off the kink
}

double RowsNewton::dual_value(const Vec& lambda, const SolveResult& inner) const {
  double value = inner.objective;  // f(w) + lambda'A w (+ the costs, the turnover priced)
  for (Index j = 0; j < mt_; ++j) {
    if (lambda[j] > 0.0) value -= lambda[j] * upper_of(j);
    if (lambda[j] < 0.0) value -= lambda[j] * lower_of(j);
  }
  return value;
}

RowSides RowsNewton::sides(const Vec& lambda, const Vec& values) const {
  RowSides s;
  s.side.assign(static_cast<std::size_t>(mt_), 0);
  s.residual = Vec::Zero(mt_);
  for (Index j = 0; j < mt_; ++j) {
    const double tol = kRowTol * row_scale(j);
    // The side of a row off zero is its multiplier's sign (the dual's piece); at zero, the limit
    // the row exceeds, if any.
    int side = 0;
    if (lambda[j] > 0.0) side = 1;
    else if (lambda[j] < 0.0) side = -1;
    else if (values[j] > upper_of(j) + tol) side = 1;
    else if (values[j] < lower_of(j) - tol) side = -1;
    s.side[static_cast<std::size_t>(j)] = side;
    if (side != 0) s.residual[j] = values[j] - (side > 0 ? upper_of(j) : lower_of(j));
  }
  return s;
}

/// The Newton step on the multipliers of the rows with a side (zero elsewhere).
Vec RowsNewton::newton_step(const SolveResult& inner, const RowSides& s) {
  std::vector<Index> work, free;
  for (Index j = 0; j < mt_; ++j) {
    if (s.side[static_cast<std::size_t>(j)] != 0) work.push_back(j);
  }
  Vec step = Vec::Zero(mt_);
  if (work.empty()) return step;
  const Vec& w = inner.weights;
  for (Index i = 0; i < n_; ++i) {
    if (is_free(i, w[i])) free.push_back(i);
  }
  const Index k = static_cast<Index>(free.size()), mw = static_cast<Index>(work.size());
  Eigen::MatrixXd m = Eigen::MatrixXd::Zero(mw, mw);
  if (k > 0) {
    // P A_F' by solves with Ht = ra S_FF + sigma 11': on the budget plane the shift changes nothing.
    FreeBlock& block = *block_;
    const double ra = p_.risk_aversion;
    if (!block.reset(free, ra, 0.0) && !block.reset(free, ra, ra * p_.cov.mean_variance())) return step;
    Eigen::MatrixXd af(k, mw);
    for (Index c = 0; c < mw; ++c) {
      const Index j = work[static_cast<std::size_t>(c)];
      for (Index t = 0; t < k; ++t) {
        const Index i = free[static_cast<std::size_t>(t)];
        af(t, c) = coefficient(j, i, w[i]);
      }
    }
    Vec e = Vec::Ones(k);
    block.solve(e);
    const double se = e.sum();
    Eigen::MatrixXd z = af;
    for (Index c = 0; c < mw; ++c) {
      Vec col = z.col(c);
      block.solve(col);
      col -= e * (col.sum() / se);  // onto the budget plane
      z.col(c) = col;
    }
    m.noalias() = af.transpose() * z;
    m = 0.5 * (m + m.transpose());
  }
  Vec r(mw);
  for (Index c = 0; c < mw; ++c) r[c] = s.residual[work[static_cast<std::size_t>(c)]];
  // M is singular along rows that repeat the budget or each other on F (binding sectors covering
  // every free asset, say): along such a direction A w does not move on this face and the dual is
  // linear, so the way up is to go as far as the first multiplier that reaches zero (or the face
  // changes). The step is Newton's on M's range plus that direction, scaled to its first kink.
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(m);
  const Vec& ev = eig.eigenvalues();
  const double top = ev.size() > 0 ? std::max(ev.maxCoeff(), 0.0) : 0.0;
  Vec d = Vec::Zero(mw), flat = Vec::Zero(mw);
  for (Index c = 0; c < mw; ++c) {
    const auto v = eig.eigenvectors().col(c);
    const double along = v.dot(r);
    if (ev[c] > kRangeTol * top) d.noalias() += (along / ev[c]) * v;
    else flat.noalias() += along * v;
  }
  if (flat.cwiseAbs().maxCoeff() > 0.0) {
    // A near-degenerate null space comes out of the eigensolver mixed, with rounding-sized parts
    // on rows that do not move along it; left in, such a part set the first kink 1e13 away.
    const double big = flat.cwiseAbs().maxCoeff();
    for (Index c = 0; c < mw; ++c) {
      if (std::abs(flat[c]) < kRangeTol * big) flat[c] = 0.0;
    }
    Vec lam_w(mw);
    for (Index c = 0; c < mw; ++c) lam_w[c] = lambda_[work[static_cast<std::size_t>(c)]];
    double t = kInf;  // to the first multiplier that reaches zero
    for (Index c = 0; c < mw; ++c) {
      if (lam_w[c] != 0.0 && lam_w[c] * flat[c] < 0.0) t = std::min(t, -lam_w[c] / flat[c]);
    }
    if (!(t < kInf)) t = kFlatStep * gradient_scale_ / flat.cwiseAbs().maxCoeff();
    d.noalias() += t * flat;
  }
  for (Index c = 0; c < mw; ++c) step[work[static_cast<std::size_t>(c)]] = d[c];
  return step;
}

/// The step's first kink of the dual: the largest t <= 1 at which no multiplier off zero has
/// crossed zero (where the dual's slope for that row jumps from one limit to the other). A row at
/// zero only moves the way its exceeded limit asks (else its step is dropped).
double RowsNewton::ascent_reach(const Vec& lambda, const RowSides& s, Vec& step) {
  double reach = 1.0;
  for (Index j = 0; j < lambda.size(); ++j) {
    const int side = s.side[static_cast<std::size_t>(j)];
    if (lambda[j] == 0.0) {
      if (side == 0 || side * step[j] < 0.0) step[j] = 0.0;
    } else if (lambda[j] * (lambda[j] + step[j]) < 0.0) {
      reach = std::min(reach, -lambda[j] / step[j]);
    }
  }
  return reach;
}

/// The dual's slope along `step` at multipliers `lambda` with inner minimiser w: the step times the
/// gradient A w - (the limit each multiplier's sign, or the step's for a zero one, prices).
/// base + t step, each multiplier stopped at zero rather than change sign, and one within
/// rounding of zero zero (else it is the first kink of every later step, and those steps are empty).
Vec RowsNewton::trial_at(const Vec& base, const Vec& step, double t) const {
  Vec trial = base + t * step;
  for (Index j = 0; j < mt_; ++j) {
    if ((base[j] != 0.0 && trial[j] * base[j] <= 0.0) || std::abs(trial[j]) < kZeroPrice * gradient_scale_) {
      trial[j] = 0.0;
    }
  }
  return trial;
}

/// Up to kRefinements points of regula falsi on q's slope along the step between `below` (t,
/// slope > 0) and `above` (t, slope < 0), each replacing the accepted (lambda, inner, q) when its
/// dual is higher; stops once a slope is within kOvershoot of slope0 of zero. Returns the inner
/// iterations spent.
int RowsNewton::refine(const Vec& base, const Vec& step, std::pair<double, double> below,
                       std::pair<double, double> above, double slope0, Vec& lambda, SolveResult& inner, double& q) {
  int spent = 0;
  for (int r = 0; r < kRefinements; ++r) {
    const double width = above.first - below.first;
    double t = below.first + width * below.second / (below.second - above.second);
    t = std::clamp(t, below.first + 0.02 * width, above.first - 0.02 * width);
    const Vec trial = trial_at(base, step, t);
    SolveResult next;
    if (!inner_solve(trial, inner.weights, next)) return spent;
    spent += next.iterations;
    const double q_next = dual_value(trial, next);
    const double slope = slope_at(trial, step, next.weights);
    if (q_next > q) {
      lambda = trial;
      q = q_next;
      inner = std::move(next);
    }
    if (std::abs(slope) <= kOvershoot * slope0) break;
    (slope > 0.0 ? below : above) = {t, slope};
  }
  return spent;
}

double RowsNewton::slope_at(const Vec& lambda, const Vec& step, const Vec& w) const {
  const Vec values = values_of(w);
  double slope = 0.0;
  for (Index j = 0; j < mt_; ++j) {
    if (step[j] == 0.0) continue;
    const double side = lambda[j] != 0.0 ? lambda[j] : step[j];
    const double limit = side > 0.0 ? upper_of(j) : lower_of(j);
    if (std::isfinite(limit)) slope += step[j] * (values[j] - limit);
  }
  return slope;
}

/// The next trial's fraction of a step that lowered the dual: where the slope, falling from
/// slope0 at 0 to `slope` (< 0) at the trial, crosses zero by the secant (q is concave along the
/// step), kept within [1/16, 1/2]; a half where the slopes say nothing.
double RowsNewton::shorter(double slope0, double slope) {
  if (!(slope0 > 0.0) || !(slope < 0.0)) return 0.5;
  return std::clamp(slope0 / (slope0 - slope), 1.0 / 16.0, 0.5);
}

bool RowsNewton::certify(const Vec& lambda, RowsSolveResult& out) {
  SolveResult& res = out.result;
  const Vec& w = res.weights;
  values_ = values_of(w);
  const Vec& values = values_;
  out.values = values.head(m_);
  out.multipliers = lambda.head(m_);
  double violation = 0.0, comp = 0.0;
  bool met = true;
  for (Index j = 0; j < mt_; ++j) {
    const double a = values[j], up = upper_of(j), lo = lower_of(j);
    const double excess = std::max(a - up, lo - a);
    violation = std::max(violation, std::max(excess, 0.0));
    met = met && excess <= kRowTol * row_scale(j);
    if (lambda[j] > 0.0) comp += lambda[j] * std::max(up - a, 0.0);
    if (lambda[j] < 0.0) comp += -lambda[j] * std::max(a - lo, 0.0);
  }
  out.row_violation = violation;
  // The box-and-budget certificate (with costs: of the split variables) of the original
  // objective's gradient shifted by A'lambda.
  Vec sw(n_);
  p_.cov.apply(w, sw);
  detail::Evaluator ev(p_, lb_, ub_, cov_b_);
  const detail::Evaluator::Point pt = ev.measure(w, sw);
  Vec g = ev.g;
  if (m_ > 0) g.noalias() += rows_.a.transpose() * lambda.head(m_);
  double paid = 0.0, scale = pt.scale;
  Certificate c;
  if (costs_ != nullptr) {
    paid = costs_paid(*costs_, w);
    scale += std::abs(paid);
    c = certify_with_costs(certifier_, w, g, lb_, ub_, p_.budget, scale, *costs_, extra(lambda));
    out.turnover = turnover_of(*costs_, w);
    out.costs_paid = paid;
    out.turnover_multiplier = extra(lambda);
  } else {
    c = certifier_.certify(w.data(), g.data(), lb_.data(), ub_.data(), n_, p_.budget, scale);
  }
  res.objective = pt.objective + paid;
  res.expected_return = pt.expected_return;
  res.risk = std::sqrt(pt.risk_sq);
  res.gap = c.gap + comp;
  res.rel_gap = res.gap / scale;
  res.primal_residual = std::max(c.primal_residual, violation);
  res.budget_multiplier = c.multiplier;
  res.dual_residual = c.dual_residual;
  const double g_scale = std::max(g.cwiseAbs().maxCoeff(), 1e-300);
  return met && res.rel_gap <= settings_.tol && c.primal_residual <= 1e-10 * std::max(1.0, std::abs(p_.budget)) &&
         c.unbounded_violation <= settings_.tol * g_scale && res.weights.allFinite();
}

RowsSolveResult RowsNewton::run(const VecRef& warm_start, int max_outer, const Vec& start_multipliers) {
  RowsSolveResult out;
  const double mu_max = p_.has_mu() ? p_.mu.cwiseAbs().maxCoeff() : 0.0;
  const double rate_max = costs_ != nullptr ? std::max(costs_->buy.maxCoeff(), costs_->sell.maxCoeff()) : 0.0;
  gradient_scale_ = std::max(mu_max + rate_max + p_.risk_aversion * p_.cov.diagonal().maxCoeff() * std::max(1.0, std::abs(p_.budget)),
                             1e-300);
  Vec lambda = Vec::Zero(mt_);
  if (start_multipliers.size() == mt_ && start_multipliers.allFinite()) {
    // A guess (a solve of the same rows on fewer assets): each multiplier kept to a side its row
    // has, the turnover's >= 0. Only the start; the steps and the certificate are as ever.
    for (Index j = 0; j < mt_; ++j) {
      const double y = start_multipliers[j];
      lambda[j] = (y > 0.0 && std::isfinite(upper_of(j))) || (y < 0.0 && std::isfinite(lower_of(j))) ? y : 0.0;
    }
  }
  SolveResult inner;
  if (!inner_solve(lambda, Vec(warm_start), inner)) {
    out.result = inner;
    return out;
  }
  double q = dual_value(lambda, inner);
  int total_iterations = inner.iterations;
  for (; out.outer_iterations < max_outer; ++out.outer_iterations) {
    out.result = inner;
    if (certify(lambda, out)) {
      out.result.status = Status::Optimal;
      out.result.iterations = total_iterations;
      return out;
    }
    const RowSides s = sides(lambda, values_);  // the rows' values certify() just computed
    lambda_ = lambda;
    Vec step = newton_step(inner, s);
    double reach = ascent_reach(lambda, s, step);
    // Multipliers are prices of the size of the gradient: a step far beyond that (along a
    // direction where the dual is flat on this face) is cut to it before the halving.
    const double longest = step.size() > 0 ? step.cwiseAbs().maxCoeff() : 0.0;
    if (longest > 0.0) reach = std::min(reach, kMaxStep * gradient_scale_ / longest);
    bool raised = false;
    const double slope0 = step.dot(s.residual);  // q's slope along the step at t = 0 (>= 0)
    const Vec base = lambda;
    double t = reach, t_past = 0.0, slope_past = 0.0;  // the last trial that lowered q (past its top)
    for (int h = 0; h <= kMaxHalvings && !raised; ++h) {
      Vec trial = trial_at(base, step, t);
      SolveResult next;
      if (!inner_solve(trial, inner.weights, next)) {  // too far for the inner solve: shorter
        t *= 0.5;
        continue;
      }
      total_iterations += next.iterations;
      const double q_next = dual_value(trial, next);
      const double slope_t = slope_at(trial, step, next.weights);
      if (q_next >= q - 1e-15 * std::max(std::abs(q), 1e-300)) {
        raised = true;
        lambda = trial;
        inner = std::move(next);
        q = q_next;
        // Raised, but far from the top of q along the step (the face changed on the way, so the
        // step was Newton's for the wrong face): regula falsi on q's slope inside the bracket
        // the trials give. Without it such steps zig-zag at the 1/16 floor of shorter() (100
        // steps on a 300-asset rebalance, each 6% of the way).
        if (slope_t < -kOvershoot * slope0) {
          total_iterations += refine(base, step, {0.0, slope0}, {t, slope_t}, slope0, lambda, inner, q);
        } else if (slope_t > kOvershoot * slope0 && t_past > t) {
          total_iterations += refine(base, step, {t, slope_t}, {t_past, slope_past}, slope0, lambda, inner, q);
        }
      } else {
        t_past = t;
        slope_past = slope_t;
        t *= shorter(slope0, slope_t);
      }
    }
    if (!raised) break;  // no step raises the dual: rounding has the last word
  }
  out.result = inner;
  const bool ok = certify(lambda, out);
  out.result.iterations = total_iterations;
  out.result.status = ok ? Status::Optimal : proves_infeasible(lambda, inner.weights) ? Status::Infeasible
                                                                                   : Status::MaxIter;
  return out;
}

/// Farkas: for y = lambda / |lambda| (and its turnover part tau >= 0) every feasible w has
/// y'A w + tau sum |w - w0| <= sum (y^+ row_upper - y^- row_lower) + tau T. When the least of the
/// left side over the box and the budget (a box-and-budget linear program in the split variables,
/// its value read off the certificate of any point: value = g'x - gap) exceeds the right side, no
/// portfolio meets the rows: the multipliers grew because the rows cannot all hold.
bool RowsNewton::proves_infeasible(const Vec& lambda, const Vec& w) {
  const double size = lambda.size() > 0 ? lambda.cwiseAbs().maxCoeff() : 0.0;
  if (!(size > 0.0) || w.size() != n_ || !w.allFinite()) return false;
  const Vec y = lambda / size;
  Vec c = Vec::Zero(n_);
  if (m_ > 0) c.noalias() = rows_.a.transpose() * y.head(m_);
  double rhs = 0.0, scale = 0.0;
  for (Index j = 0; j < mt_; ++j) {
    if (y[j] == 0.0) continue;
    const double limit = y[j] > 0.0 ? upper_of(j) : lower_of(j);
    if (!std::isfinite(limit)) return false;
    rhs += y[j] * limit;
    scale = std::max(scale, std::abs(y[j] * limit));
  }
  const double tau = mt_ > m_ ? y[m_] : 0.0;
  Certificate cert;
  double at_w = c.dot(w);
  if (costs_ != nullptr && tau > 0.0) {
    const Vec zero = Vec::Zero(n_);
    const TradingCosts split{costs_->current, zero, zero, costs_->turnover};
    cert = certify_with_costs(certifier_, w, c, lb_, ub_, p_.budget, 1.0, split, tau);
    at_w += tau * turnover_of(*costs_, w);
  } else {
    cert = certifier_.certify(w.data(), c.data(), lb_.data(), ub_.data(), n_, p_.budget, 1.0);
  }
  if (cert.unbounded_violation > 0.0 || !std::isfinite(cert.gap)) return false;
  const double least = at_w - cert.gap;
  scale = std::max({scale, std::abs(at_w), c.cwiseAbs().maxCoeff() * std::max(1.0, std::abs(p_.budget))});
  return least > rhs + 1e-9 * std::max(scale, 1e-300);
}

/// f(w0) - objective, or +inf when w0 is not feasible (trade_gain above).
double trade_gain(const MeanVarianceProblem& p, const LinearRows& rows, const TradingCosts& costs,
                  const SolveResult& r) {
  const Index n = p.size();
  const VecRef& w0 = costs.current;
  const double tol = kRowTol * std::max(1.0, std::abs(p.budget));
  if ((w0.array() < p.lower.array() - tol).any() || (w0.array() > p.upper.array() + tol).any() ||
      std::abs(accurate_sum(w0.data(), n) - p.budget) > tol) {
    return kInf;
  }
  for (Index j = 0; j < rows.a.rows(); ++j) {
    const double v = rows.a.row(j).dot(w0);
    const double scale = kRowTol * std::max(1.0, rows.a.row(j).cwiseAbs().maxCoeff());
    if (v > rows.upper[j] + scale || v < rows.lower[j] - scale) return kInf;
  }
  Vec d = p.has_benchmark() ? Vec(w0 - p.benchmark) : Vec(w0);
  Vec sd(n);
  p.cov.apply(d, sd);
  const double f0 = 0.5 * p.risk_aversion * d.dot(sd) - (p.has_mu() ? p.mu.dot(w0) : 0.0);
  return f0 - r.objective;
}

RowsSolveResult solve_costs(const MeanVarianceProblem& problem, const TradingCosts& costs,
                            const SolverSettings& settings, const VecRef& warm_start) {
  RowsSolveResult out;
  CostsSolver solver;
  out.result = solver.solve(problem, costs, 0.0, settings, warm_start);
  if (out.result.weights.size() == problem.size()) {
    out.turnover = turnover_of(costs, out.result.weights);
    out.costs_paid = costs_paid(costs, out.result.weights);
  }
  out.values = Vec(0);
  out.multipliers = Vec(0);
  return out;
}

}  // namespace

RowsSolveResult solve_with_rows(const MeanVarianceProblem& problem, const LinearRows& rows,
                                const SolverSettings& settings, const VecRef& warm_start, int max_outer,
                                const TradingCosts* costs, const Vec& start_multipliers) {
  const auto t0 = std::chrono::steady_clock::now();
  problem.check_sizes();
  const Index m = rows.a.rows();
  if ((m > 0 && rows.a.cols() != problem.size()) || rows.lower.size() != m || rows.upper.size() != m) {
    throw std::invalid_argument("rows: A must be m x n with m lower and m upper limits");
  }
  if (costs != nullptr) costs->check(problem.size());
  // A linear program has no curvature for the multipliers' steps (costs alone are solved); no
  // assets, no problem (the scales below take maxima over the assets).
  if (problem.size() == 0 ||
      (!(problem.risk_aversion > 0.0) && (m > 0 || (costs != nullptr && costs->has_turnover())))) {
    RowsSolveResult refused;
    refused.result.weights = Vec::Constant(problem.size(), std::numeric_limits<double>::quiet_NaN());
    refused.result.status = Status::InvalidInput;
    return refused;
  }
  // Costs alone are one costs solve: no multipliers to find.
  RowsSolveResult out = costs != nullptr && m == 0 && !costs->has_turnover()
                            ? solve_costs(problem, *costs, settings, warm_start)
                            : RowsNewton(problem, rows, settings, costs).run(warm_start, max_outer, start_multipliers);
  if (costs != nullptr && out.result.status == Status::Optimal) {
    out.trade_gain = trade_gain(problem, rows, *costs, out.result);
  }
  out.result.solve_time_s = detail::seconds_since(t0);
  return out;
}

}  // namespace microalloc
