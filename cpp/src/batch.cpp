#include "microalloc/batch.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "microalloc/check.hpp"
#include "microalloc/projection.hpp"
#include "microalloc/trading_costs.hpp"
#include "parallel.hpp"

namespace microalloc {
namespace {

using detail::check_rows;
using detail::row_of;

bool finite_or_empty(const VecRef& v) { return v.size() == 0 || v.allFinite(); }

/// The row's status before solving, by the rule the single solve raises on (check_bounds): a NaN or
/// a +inf lower / -inf upper bound is invalid input; crossed bounds or bound sums that miss the
/// budget are infeasible. Optimal means "go ahead".
Status bounds_status(const VecRef& lo, const VecRef& up, double budget) {
  using Kind = BoundsIssue::Kind;
  switch (check_bounds(lo, up, budget).kind) {
    case Kind::None: return Status::Optimal;
    case Kind::Crossed:
    case Kind::LowerAboveBudget:
    case Kind::UpperBelowBudget: return Status::Infeasible;
    default: return Status::InvalidInput;
  }
}

void check_shapes(const BatchInput& in, bool trading) {
  const Index n = in.cov.size(), m = in.m;
  check_rows(in.mu, m, n, "mu", true);
  check_rows(in.lower, m, n, "lower", false);
  check_rows(in.upper, m, n, "upper", false);
  check_rows(in.benchmark, m, n, "benchmark", true);
  if (!(in.warm_start.rows() == 0 && in.warm_start.cols() == 0)) {
    if (in.warm_start.rows() != m || in.warm_start.cols() != n) {
      throw std::invalid_argument("warm_start: expected m x n rows");
    }
  }
  if (!(in.risk_aversion.size() == 1 || in.risk_aversion.size() == m)) {
    throw std::invalid_argument("risk_aversion: expected length 1 or m");
  }
  if (!(in.budget.size() == 1 || in.budget.size() == m)) {
    throw std::invalid_argument("budget: expected length 1 or m");
  }
  if (trading) {
    check_rows(in.current, m, n, "current", false);
    check_rows(in.buy, m, n, "buy", false);
    check_rows(in.sell, m, n, "sell", false);
    if (!(in.turnover.size() == 1 || in.turnover.size() == m)) {
      throw std::invalid_argument("turnover: expected length 1 or m");
    }
  }
}

/// Every row InvalidInput with NaN numbers until its solve says otherwise.
BatchResult preset(Index m, Index n, bool trading) {
  constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  BatchResult out;
  out.weights.setConstant(m, n, nan);
  out.status.setConstant(m, static_cast<std::int32_t>(Status::InvalidInput));
  out.iterations.setZero(m);
  for (Vec* v : {&out.objective, &out.expected_return, &out.risk, &out.gap, &out.rel_gap}) v->setConstant(m, nan);
  out.solve_time_s.setZero(m);
  if (trading) {
    for (Vec* v : {&out.turnover, &out.costs_paid, &out.trade_gain}) v->setConstant(m, nan);
  }
  return out;
}

/// One thread's solver of rows: its active-set workspace is reused for every row it takes.
class RowSolver {
 public:
  RowSolver(const BatchInput& in, const SolverSettings& settings, Method method, bool trading, BatchResult& out)
      : in_(in), settings_(settings), method_(method), trading_(trading), out_(out),
        no_rows_(0, in.cov.size()), no_limits_(0), empty_rows_{no_rows_, no_limits_, no_limits_} {}

  /// Solves row i into the result; a bad row keeps (or gets) its status. Throws
  /// std::invalid_argument for a row the core's checks refuse (InvalidInput).
  void solve(Index i);

 private:
  SolveResult rebalance(Index i, const MeanVarianceProblem& p, const VecRef& w0);

  const BatchInput& in_;
  const SolverSettings& settings_;
  const Method method_;
  const bool trading_;
  BatchResult& out_;
  ActiveSetSolver active_set_;
  const RowMat no_rows_;
  const Vec no_limits_;
  const LinearRows empty_rows_;
};

void RowSolver::solve(Index i) {
  const auto mu = row_of(in_.mu, i);
  const auto lo = row_of(in_.lower, i);
  const auto up = row_of(in_.upper, i);
  const auto b = row_of(in_.benchmark, i);
  const auto w0 = row_of(in_.warm_start, i);
  const double ra = in_.risk_aversion[in_.risk_aversion.size() == 1 ? 0 : i];
  const double budget = in_.budget[in_.budget.size() == 1 ? 0 : i];
  if (!finite_or_empty(mu) || !finite_or_empty(b) || !finite_or_empty(w0) || lo.hasNaN() || up.hasNaN() ||
      !std::isfinite(ra) || !std::isfinite(budget) || ra < 0.0 || (mu.size() == 0 && !(ra > 0.0))) {
    return;  // InvalidInput
  }
  if (const Status pre = bounds_status(lo, up, budget); pre != Status::Optimal) {
    out_.status[i] = static_cast<std::int32_t>(pre);
    return;  // NaN weights and numbers, as preset
  }
  const MeanVarianceProblem p{in_.cov, mu, lo, up, b, ra, budget};
  SolveResult r;
  if (trading_) {
    r = rebalance(i, p, w0);
    if (r.weights.size() == 0) return;  // its status is set
  } else {
    r = in_.rows != nullptr             ? solve_with_rows(p, *in_.rows, settings_, w0).result
        : method_ == Method::ActiveSet ? active_set_.solve(p, settings_, w0)
                                       : solve_projected_gradient(p, settings_, w0);
  }
  out_.weights.row(i) = r.weights.transpose();
  out_.status[i] = static_cast<std::int32_t>(r.status);
  out_.iterations[i] = r.iterations;
  out_.objective[i] = r.objective;
  out_.expected_return[i] = r.expected_return;
  out_.risk[i] = r.risk;
  out_.gap[i] = r.gap;
  out_.rel_gap[i] = r.rel_gap;
  out_.solve_time_s[i] = r.solve_time_s;
}

/// Row i as a rebalance from its current weights; empty weights when the turnover limit is below
/// what the bounds and budget need (the row is then Infeasible).
SolveResult RowSolver::rebalance(Index i, const MeanVarianceProblem& p, const VecRef& w0) {
  const TradingCosts costs{row_of(in_.current, i), row_of(in_.buy, i), row_of(in_.sell, i),
                           in_.turnover[in_.turnover.size() == 1 ? 0 : i]};
  costs.check(p.size());  // invalid_argument: InvalidInput
  if (costs.turnover < minimum_turnover(costs.current, p.lower, p.upper, p.budget) * (1.0 - 1e-12) - 1e-15) {
    out_.status[i] = static_cast<std::int32_t>(Status::Infeasible);
    return {};
  }
  RowsSolveResult rr = solve_with_rows(p, in_.rows != nullptr ? *in_.rows : empty_rows_, settings_, w0, 100, &costs);
  if (rr.result.status != Status::InvalidInput) {  // a refused row keeps its NaN figures
    out_.turnover[i] = rr.turnover;
    out_.costs_paid[i] = rr.costs_paid;
    out_.trade_gain[i] = rr.trade_gain;
  }
  return std::move(rr.result);
}

}  // namespace

BatchResult solve_batch(const BatchInput& in, const SolverSettings& settings, Method method, int threads,
                        Progress* progress) {
  const bool trading = !(in.current.rows() == 0 && in.current.cols() == 0);
  check_shapes(in, trading);
  BatchResult out = preset(in.m, in.cov.size(), trading);
  if (progress != nullptr) progress->set_total(in.m);
  SolverSettings polled = settings;  // a long row can be interrupted too (the active set's rows)
  polled.progress = progress;
  detail::run_workers(in.m, threads, progress, [&](auto take) {
    RowSolver rows(in, polled, method, trading, out);
    for (Index i = take(); i >= 0; i = take()) {
      try {
        rows.solve(i);
      } catch (const std::invalid_argument&) {
        out.status[i] = static_cast<std::int32_t>(Status::InvalidInput);
      } catch (...) {
        out.status[i] = static_cast<std::int32_t>(Status::NumericalError);
      }
      if (progress != nullptr) progress->add(1);
    }
  });
  if (progress != nullptr) progress->finish();
  return out;
}

}  // namespace microalloc
