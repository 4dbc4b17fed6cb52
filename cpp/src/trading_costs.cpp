// Proportional trading costs around current weights (trading_costs.hpp, docs/methods.md §10).
#include "microalloc/trading_costs.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

#include "mean_variance_common.hpp"

namespace microalloc {
namespace {

constexpr int kMaxRounds = 100;
constexpr double kEps = std::numeric_limits<double>::epsilon();

/// w0 strictly inside the box: the asset has two segments (else one, with one rate).
bool has_kink(double w0, double lo, double hi) noexcept { return w0 > lo && w0 < hi; }

/// A weight within rounding of its kink is at it: the inner solve's budget repair can leave one a
/// few ulps off w0, where it would be taken for a trade and never for an asset whose segment to
/// change.
void snap_to_current(Vec& w, const MeanVarianceProblem& p, const TradingCosts& costs) {
  for (Index i = 0; i < w.size(); ++i) {
    const double w0 = costs.current[i];
    if (has_kink(w0, p.lower[i], p.upper[i]) && std::abs(w[i] - w0) <= 8.0 * kEps * std::max(1.0, std::abs(w0))) {
      w[i] = w0;
    }
  }
}

}  // namespace

void TradingCosts::check(Index n) const {
  if (current.size() != n || buy.size() != n || sell.size() != n) {
    throw std::invalid_argument("costs: current weights and rates must have n entries");
  }
  if (!current.allFinite()) throw std::invalid_argument("costs: current weights must be finite");
  if (!buy.allFinite() || !sell.allFinite() || (buy.array() < 0.0).any() || (sell.array() < 0.0).any()) {
    throw std::invalid_argument("costs: rates must be finite and >= 0");
  }
  if (std::isnan(turnover) || turnover < 0.0) throw std::invalid_argument("costs: turnover limit must be >= 0");
}

double costs_paid(const TradingCosts& costs, const Vec& w, double extra) {
  CompensatedSum s;
  for (Index i = 0; i < w.size(); ++i) {
    const double d = w[i] - costs.current[i];
    s.add(d > 0.0 ? (costs.buy[i] + extra) * d : (costs.sell[i] + extra) * -d);
  }
  return s.value();
}

double turnover_of(const TradingCosts& costs, const Vec& w) {
  CompensatedSum s;
  for (Index i = 0; i < w.size(); ++i) s.add(std::abs(w[i] - costs.current[i]));
  return s.value();
}

double minimum_turnover(const VecRef& current, const VecRef& lower, const VecRef& upper, double budget) {
  CompensatedSum moved, inside;
  for (Index i = 0; i < current.size(); ++i) {
    const double clipped = std::clamp(current[i], lower[i], upper[i]);
    moved.add(std::abs(current[i] - clipped));
    inside.add(clipped);
  }
  return moved.value() + std::abs(budget - inside.value());
}

Certificate certify_with_costs(Certifier& certifier, const Vec& w, const Vec& g, const Vec& lb, const Vec& ub,
                               double budget, double scale, const TradingCosts& costs, double extra) {
  const Index n = w.size();
  // The split variables: x_buy = (w - w0)^+ in [(lb - w0)^+, (ub - w0)^+] and x_sell = -(w0 - w)^+
  // in [-(w0 - lb)^+, -(w0 - ub)^+]; a w0 outside the box leaves one of them fixed at 0.
  Vec x(2 * n), gx(2 * n), lx(2 * n), ux(2 * n);
  for (Index i = 0; i < n; ++i) {
    const double w0 = costs.current[i];
    x[i] = std::max(w[i] - w0, 0.0);
    x[n + i] = std::min(w[i] - w0, 0.0);
    gx[i] = g[i] + costs.buy[i] + extra;
    gx[n + i] = g[i] - costs.sell[i] - extra;
    lx[i] = std::max(lb[i] - w0, 0.0);
    ux[i] = std::max(ub[i] - w0, 0.0);
    lx[n + i] = std::min(lb[i] - w0, 0.0);
    ux[n + i] = std::min(ub[i] - w0, 0.0);
  }
  // The split budget is sum x = budget - sum w0; its residual is that of w itself, measured on w.
  const double split_budget = accurate_sum(x.data(), 2 * n);
  Certificate c = certifier.certify(x.data(), gx.data(), lx.data(), ux.data(), 2 * n, split_budget, scale);
  c.primal_residual = std::abs(accurate_sum(w.data(), n) - budget);
  for (Index i = 0; i < n; ++i) c.primal_residual = std::max({c.primal_residual, lb[i] - w[i], w[i] - ub[i]});
  return c;
}

void CostsSolver::guess_segments(const MeanVarianceProblem& p, const TradingCosts& costs, const Vec& w) {
  const Index n = p.size();
  // Assets away from w0 are on the segment they lie on; one at w0 keeps its last segment, and
  // without one takes the side its gradient at w points to against the median (a guess: the
  // rounds correct it).
  bool need_gradient = false;
  for (Index i = 0; i < n; ++i) {
    const double d = w[i] - costs.current[i];
    auto& s = segment_[static_cast<std::size_t>(i)];
    if (d != 0.0) s = d > 0.0 ? 1 : -1;
    need_gradient = need_gradient || s == 0;
  }
  if (!need_gradient) return;
  sw_.resize(n);
  p.cov.apply(p.has_benchmark() ? Vec(w - p.benchmark) : w, sw_);
  Vec g = p.risk_aversion * sw_;
  if (p.has_mu()) g -= p.mu;
  std::vector<double> sorted(g.data(), g.data() + n);
  std::nth_element(sorted.begin(), sorted.begin() + n / 2, sorted.end());
  const double median = sorted[static_cast<std::size_t>(n / 2)];
  for (Index i = 0; i < n; ++i) {
    auto& s = segment_[static_cast<std::size_t>(i)];
    if (s == 0) s = g[i] <= median ? 1 : -1;
  }
}

void CostsSolver::reach_budget(const MeanVarianceProblem& p, const TradingCosts& costs) {
  // The guessed segments can miss the budget (every asset selling from a portfolio that sums to
  // less): assets at a kink move to the other side, in index order, until the budget is within
  // the segments' reach. Later rounds keep the last point feasible, so only the guess needs this.
  segment_problem(p, costs, 0.0);
  double low = accurate_sum(seg_lower_.data(), p.size()), high = accurate_sum(seg_upper_.data(), p.size());
  for (Index i = 0; i < p.size() && (high < p.budget || low > p.budget); ++i) {
    const double w0 = costs.current[i];
    if (!has_kink(w0, p.lower[i], p.upper[i])) continue;
    auto& s = segment_[static_cast<std::size_t>(i)];
    if (high < p.budget && s < 0) {  // selling [lower, w0] -> buying [w0, upper]
      s = 1;
      high += p.upper[i] - w0;
      low += w0 - p.lower[i];
    } else if (low > p.budget && s > 0) {
      s = -1;
      low -= w0 - p.lower[i];
      high -= p.upper[i] - w0;
    }
  }
}

void CostsSolver::segment_problem(const MeanVarianceProblem& p, const TradingCosts& costs, double extra) {
  const Index n = p.size();
  seg_lower_ = p.lower;
  seg_upper_ = p.upper;
  seg_mu_ = p.has_mu() ? Vec(p.mu) : Vec::Zero(n);
  for (Index i = 0; i < n; ++i) {
    const double w0 = costs.current[i];
    // Buying where w0 lies below the box or the asset is on its buying segment, else selling.
    const bool buying = w0 <= p.lower[i] || (w0 < p.upper[i] && segment_[static_cast<std::size_t>(i)] > 0);
    if (buying) {
      seg_mu_[i] -= costs.buy[i] + extra;
      if (has_kink(w0, p.lower[i], p.upper[i])) seg_lower_[i] = w0;
    } else {
      seg_mu_[i] += costs.sell[i] + extra;
      if (has_kink(w0, p.lower[i], p.upper[i])) seg_upper_[i] = w0;
    }
  }
}

int CostsSolver::switch_segments(const Vec& w, const Vec& g, double nu, const MeanVarianceProblem& p,
                                 const TradingCosts& costs, double extra) {
  int moved = 0;
  for (Index i = 0; i < w.size(); ++i) {
    const double w0 = costs.current[i];
    if (w[i] != w0 || !has_kink(w0, p.lower[i], p.upper[i])) continue;
    const double r = g[i] + nu;  // > sell: selling pays; < -buy: buying pays
    auto& s = segment_[static_cast<std::size_t>(i)];
    if (s > 0 && r > costs.sell[i] + extra) {
      s = -1;
      ++moved;
    } else if (s < 0 && r < -(costs.buy[i] + extra)) {
      s = 1;
      ++moved;
    }
  }
  return moved;
}

SolveResult CostsSolver::solve(const MeanVarianceProblem& p, const TradingCosts& costs, double extra,
                               const SolverSettings& settings, const VecRef& warm_start, bool certify) {
  const auto t0 = std::chrono::steady_clock::now();
  const Index n = p.size();
  p.check_sizes();
  costs.check(n);
  rounds_ = 0;
  if (!detail::feasible_bounds(p, lb_, ub_)) return inner_.solve(p, settings, warm_start);  // its status
  // From the warm start, else from w0 (a rebalance mostly keeps what it holds).
  Vec w = warm_start.size() == n ? Vec(warm_start) : Vec(costs.current);
  if (segment_.size() != static_cast<std::size_t>(n) || warm_start.size() != n) {
    segment_.assign(static_cast<std::size_t>(n), 0);
  }
  guess_segments(p, costs, w);
  reach_budget(p, costs);
  const Vec cov_b = detail::cov_times_benchmark(p);
  int iterations = 0;
  SolveResult r;
  for (; rounds_ < kMaxRounds; ++rounds_) {
    segment_problem(p, costs, extra);
    const MeanVarianceProblem q{p.cov, seg_mu_, seg_lower_, seg_upper_, p.benchmark, p.risk_aversion, p.budget};
    // The first round without a warm start lets the active set pick its own start in the
    // segments (w0 itself, every asset at a segment's end, frees them a few at a time).
    r = inner_.solve(q, settings, rounds_ == 0 && warm_start.size() != n ? Vec(0) : w);
    iterations += r.iterations;
    if (r.status != Status::Optimal) break;
    const double segment_nu = r.budget_multiplier;
    snap_to_current(r.weights, p, costs);
    w = r.weights;
    sw_.resize(n);
    p.cov.apply(w, sw_);
    if (!certify) {
      // The segments' solve is optimal; with every kink's multiplier inside [-buy, sell] for the
      // same budget multiplier, so is w for the costs (the caller certifies).
      Vec g = p.risk_aversion * (p.has_benchmark() ? Vec(sw_ - cov_b) : sw_);
      if (p.has_mu()) g -= p.mu;
      if (switch_segments(w, g, segment_nu, p, costs, extra) > 0) continue;
      const double risk_sq = std::max(p.has_benchmark() ? (w - p.benchmark).dot(sw_ - cov_b) : w.dot(sw_), 0.0);
      r.expected_return = p.has_mu() ? p.mu.dot(w) : 0.0;
      r.objective = 0.5 * p.risk_aversion * risk_sq - r.expected_return + costs_paid(costs, w, extra);
      r.risk = std::sqrt(risk_sq);
      break;
    }
    detail::Evaluator ev(p, lb_, ub_, cov_b);
    const detail::Evaluator::Point pt = ev.measure(w, sw_);
    const double paid = costs_paid(costs, w, extra);
    const double scale = pt.scale + std::abs(paid);
    const Certificate c = certify_with_costs(certifier_, w, ev.g, lb_, ub_, p.budget, scale, costs, extra);
    r.objective = pt.objective + paid;
    r.expected_return = pt.expected_return;
    r.risk = std::sqrt(pt.risk_sq);
    r.gap = c.gap;
    r.rel_gap = c.rel_gap;
    r.primal_residual = c.primal_residual;
    r.dual_residual = c.dual_residual;
    r.budget_multiplier = c.multiplier;
    const double g_scale = std::max(ev.g.cwiseAbs().maxCoeff(), 1e-300);
    if (c.rel_gap <= settings.tol && c.primal_residual <= 1e-10 * std::max(1.0, std::abs(p.budget)) &&
        c.unbounded_violation <= settings.tol * g_scale) {
      break;  // Optimal, with the costs' certificate
    }
    // The segment solve's own multiplier first (its free assets fix it); the certificate's if
    // that moves nobody.
    if (switch_segments(w, ev.g, segment_nu, p, costs, extra) == 0 &&
        switch_segments(w, ev.g, c.multiplier, p, costs, extra) == 0) {
      r.status = Status::MaxIter;
      break;
    }
  }
  if (rounds_ == kMaxRounds) r.status = Status::MaxIter;
  r.iterations = iterations;
  r.solve_time_s = detail::seconds_since(t0);
  return r;
}

}  // namespace microalloc
