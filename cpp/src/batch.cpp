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

}  // namespace

BatchResult solve_batch(const BatchInput& in, const SolverSettings& settings, Method method, int threads) {
  const Index n = in.cov.size();
  const Index m = in.m;
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

  const bool trading = !(in.current.rows() == 0 && in.current.cols() == 0);
  if (trading) {
    check_rows(in.current, m, n, "current", false);
    check_rows(in.buy, m, n, "buy", false);
    check_rows(in.sell, m, n, "sell", false);
    if (!(in.turnover.size() == 1 || in.turnover.size() == m)) throw std::invalid_argument("turnover: expected length 1 or m");
  }

  BatchResult out;
  out.weights.setConstant(m, n, std::numeric_limits<double>::quiet_NaN());
  out.status.setConstant(m, static_cast<std::int32_t>(Status::InvalidInput));
  out.iterations.setZero(m);
  for (Vec* v : {&out.objective, &out.expected_return, &out.risk, &out.gap, &out.rel_gap}) {
    v->setConstant(m, std::numeric_limits<double>::quiet_NaN());
  }
  out.solve_time_s.setZero(m);
  if (trading) {
    for (Vec* v : {&out.turnover, &out.costs_paid, &out.trade_gain}) v->setConstant(m, std::numeric_limits<double>::quiet_NaN());
  }
  const RowMat no_rows(0, n);
  const Vec no_limits(0);
  const LinearRows empty_rows{no_rows, no_limits, no_limits};

  detail::run_workers(m, threads, [&](auto take) {
    ActiveSetSolver active_set;  // this thread's workspace, reused for every row it takes
    for (Index i = take(); i >= 0; i = take()) {
      try {
        const auto mu = row_of(in.mu, i);
        const auto lo = row_of(in.lower, i);
        const auto up = row_of(in.upper, i);
        const auto b = row_of(in.benchmark, i);
        const auto w0 = row_of(in.warm_start, i);
        const double ra = in.risk_aversion[in.risk_aversion.size() == 1 ? 0 : i];
        const double budget = in.budget[in.budget.size() == 1 ? 0 : i];
        if (!finite_or_empty(mu) || !finite_or_empty(b) || !finite_or_empty(w0) || lo.hasNaN() ||
            up.hasNaN() || !std::isfinite(ra) || !std::isfinite(budget) || ra < 0.0 ||
            (mu.size() == 0 && !(ra > 0.0))) {
          continue;  // InvalidInput
        }
        if (const Status pre = bounds_status(lo, up, budget); pre != Status::Optimal) {
          out.status[i] = static_cast<std::int32_t>(pre);
          continue;  // NaN weights and numbers, as preset
        }
        MeanVarianceProblem p{in.cov, mu, lo, up, b, ra, budget};
        SolveResult r;
        if (trading) {
          const TradingCosts costs{row_of(in.current, i), row_of(in.buy, i), row_of(in.sell, i),
                                   in.turnover[in.turnover.size() == 1 ? 0 : i]};
          costs.check(n);  // invalid_argument: InvalidInput
          if (costs.turnover < minimum_turnover(costs.current, lo, up, budget) * (1.0 - 1e-12) - 1e-15) {
            out.status[i] = static_cast<std::int32_t>(Status::Infeasible);
            continue;
          }
          RowsSolveResult rr = solve_with_rows(p, in.rows != nullptr ? *in.rows : empty_rows, settings, w0, 100, &costs);
          out.turnover[i] = rr.turnover;
          out.costs_paid[i] = rr.costs_paid;
          out.trade_gain[i] = rr.trade_gain;
          r = std::move(rr.result);
        } else {
          r = in.rows != nullptr        ? solve_with_rows(p, *in.rows, settings, w0).result
              : method == Method::ActiveSet ? active_set.solve(p, settings, w0)
                                            : solve_projected_gradient(p, settings, w0);
        }
        out.weights.row(i) = r.weights.transpose();
        out.status[i] = static_cast<std::int32_t>(r.status);
        out.iterations[i] = r.iterations;
        out.objective[i] = r.objective;
        out.expected_return[i] = r.expected_return;
        out.risk[i] = r.risk;
        out.gap[i] = r.gap;
        out.rel_gap[i] = r.rel_gap;
        out.solve_time_s[i] = r.solve_time_s;
      } catch (const std::invalid_argument&) {
        out.status[i] = static_cast<std::int32_t>(Status::InvalidInput);
      } catch (...) {
        out.status[i] = static_cast<std::int32_t>(Status::NumericalError);
      }
    }
  });
  return out;
}

}  // namespace microalloc
