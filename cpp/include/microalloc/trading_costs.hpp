#pragma once
/// Proportional trading costs and a turnover limit around current weights w0:
///
///   minimise f(w) + sum_i buy_i (w_i - w0_i)^+ + sell_i (w0_i - w_i)^+
///   subject to sum(w) = budget,  lower <= w <= upper,  sum_i |w_i - w0_i| <= turnover
///
/// (f as in mean_variance.hpp; the rows of linear_rows.hpp may come too). The costs are exact: an
/// asset's box is cut at w0 into a buying segment [w0, upper] and a selling one [lower, w0], on each
/// of which the cost is linear, and an asset sitting at w0 is one more kind of bound.
///
/// Certificate: with w = w0 + x_buy + x_sell (x_buy >= 0 on the buying segment, x_sell <= 0 on the
/// selling one), the costs are linear in (x_buy, x_sell) and min over the feasible set of
/// g'v + cost(v) is a box-and-budget linear program in 2n variables with coefficients g + buy and
/// g - sell, so certificate.hpp's gap applies unchanged and bounds f(w) + cost(w) - (f + cost)*.
/// A turnover multiplier t >= 0 adds t to both rates (the limit priced) and t (turnover - limit)
/// to the gap's complementarity term.
#include <limits>
#include <vector>

#include "microalloc/certificate.hpp"
#include "microalloc/mean_variance.hpp"

namespace microalloc {

struct TradingCosts {
  VecRef current;  ///< w0 (n)
  VecRef buy;      ///< n rates >= 0 per unit of weight bought
  VecRef sell;     ///< n rates >= 0 per unit of weight sold
  double turnover = std::numeric_limits<double>::infinity();  ///< limit on sum |w - w0|

  bool has_turnover() const noexcept { return turnover < std::numeric_limits<double>::infinity(); }
  /// Throws std::invalid_argument on sizes other than n, negative or non-finite rates, a non-finite
  /// w0 or a negative turnover limit.
  void check(Index n) const;
};

/// sum buy_i (w - w0)^+ + sell_i (w0 - w)^+ with `extra` added to both rates.
double costs_paid(const TradingCosts& costs, const Vec& w, double extra = 0.0);
/// sum |w - w0|.
double turnover_of(const TradingCosts& costs, const Vec& w);

/// The least sum |w - w0| over the box and the budget: each weight moved into its box, then the
/// sum's shortfall (one unit of turnover moves the sum by at most one).
double minimum_turnover(const VecRef& current, const VecRef& lower, const VecRef& upper, double budget);

/// The certificate above for weights w with gradient g of f, against the box [lb, ub] (finite,
/// budget-implied), both rates raised by `extra`.
Certificate certify_with_costs(Certifier& certifier, const Vec& w, const Vec& g, const Vec& lb, const Vec& ub,
                               double budget, double scale, const TradingCosts& costs, double extra);

/// Box, budget and costs (no turnover limit, no rows), solved exactly: the active-set solver on
/// each asset's current segment, warm started from the last point, then every asset at w0 whose
/// multiplier leaves [-buy, sell] moves to the segment it asks for; each round lowers the
/// objective, and the certificate above decides the end. The object keeps the segments and the
/// active-set workspace between solves (warm starts of a sequence of nearby problems).
class CostsSolver {
 public:
  /// The objective reported is f + cost (rates raised by `extra`); the gap is the certificate's.
  /// Without `certify` (a caller that certifies the final point itself, as the rows' Newton method
  /// does) the rounds end on the kinks' multipliers alone and the gap is the last segments' solve's.
  SolveResult solve(const MeanVarianceProblem& problem, const TradingCosts& costs, double extra,
                    const SolverSettings& settings, const VecRef& warm_start, bool certify = true);
  /// Rounds of segment changes of the last solve.
  int rounds() const noexcept { return rounds_; }

 private:
  void guess_segments(const MeanVarianceProblem& problem, const TradingCosts& costs, const Vec& w);
  void reach_budget(const MeanVarianceProblem& problem, const TradingCosts& costs);
  void segment_problem(const MeanVarianceProblem& problem, const TradingCosts& costs, double extra);
  int switch_segments(const Vec& w, const Vec& g, double nu, const MeanVarianceProblem& problem,
                      const TradingCosts& costs, double extra);

  ActiveSetSolver inner_;
  std::vector<signed char> segment_;  // +1 buying, -1 selling
  Vec seg_lower_, seg_upper_, seg_mu_, lb_, ub_, sw_;
  Certifier certifier_;
  int rounds_ = 0;
};

}  // namespace microalloc
