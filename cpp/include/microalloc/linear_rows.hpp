#pragma once
#include <limits>
/// The mean-variance problem with linear rows besides the box and the budget:
///
///   minimise f(w)  subject to  sum(w) = budget,  lower <= w <= upper,  row_lower <= A w <= row_upper,
///
/// (f as in mean_variance.hpp; A is m x n, a few to a few hundred rows such as sector limits).
///
/// Certificate: for multipliers lambda (lambda_j > 0 where the upper side of row j binds, < 0
/// where the lower side does) and a w that satisfies the rows, every feasible v has
/// f(v) >= f(w) + (g + A'lambda)'(v - w) - comp with comp = sum lambda_j^+ (row_upper_j - a_j w)
/// + lambda_j^- (a_j w - row_lower_j) >= 0, so f(w) - f* <= gap_box(g + A'lambda) + comp, where
/// gap_box is the box-and-budget certificate of certificate.hpp applied to the shifted gradient.
#include "microalloc/mean_variance.hpp"
#include "microalloc/trading_costs.hpp"

namespace microalloc {

struct LinearRows {
  MatRef a;      ///< m x n, row-major
  VecRef lower;  ///< m; may hold -inf
  VecRef upper;  ///< m; may hold +inf
};

struct RowsSolveResult {
  SolveResult result;      ///< gap and rel_gap include the rows' complementarity term
  Vec multipliers;         ///< lambda (m): > 0 at an upper row limit, < 0 at a lower one, else 0
  Vec values;              ///< A w (m)
  double row_violation = 0.0;  ///< largest excess of A w over its limits
  int outer_iterations = 0;    ///< Newton steps on the multipliers (one inner solve each)
  double turnover = 0.0;             ///< sum |w - w0| (with costs)
  double costs_paid = 0.0;           ///< the trading costs of w at the given rates (with costs)
  double turnover_multiplier = 0.0;  ///< the price of the turnover limit (0 when it does not bind)
  /// f(w0) - (f(w) + costs(w)): the utility gained by trading, net of costs; +inf when w0 breaks
  /// the bounds, the budget or a row (to 1e-9 of its scale): trading is then not optional.
  double trade_gain = std::numeric_limits<double>::quiet_NaN();
};

/// Newton's method on the row multipliers (the concave dual of the rows), each step one
/// box-and-budget solve of the problem with mu shifted by -A'lambda (the active-set solver, warm
/// started) and one small m_W x m_W system built from the free block of that solve; steps that do
/// not raise the dual are shortened (to where the dual's slope along them crosses zero, by the
/// secant, within 1/16..1/2 of the step). OPTIMAL only with the certificate above passing `tol` and the
/// rows met to 1e-9 of their scale; MaxIter after `max_outer` steps or when no step raises the dual
/// (rows that no portfolio meets end here); InvalidInput when risk_aversion is 0.
///
/// With `costs` (trading_costs.hpp) each inner solve is the costs solver's, the objective and the
/// certificate carry the costs, and a turnover limit is one more row: sum_i s_i (w_i - w0_i) on
/// the face, s_i the side of w0 that asset i lies on, its multiplier added to both rates. Costs
/// without rows or a turnover limit are one costs solve (risk_aversion 0 allowed).
///
/// `start_multipliers` (m, plus one with a turnover limit; else ignored) start the Newton method
/// where a solve of the same rows on fewer assets ended: a warm start for the multipliers, as
/// `warm_start` is for the weights.
RowsSolveResult solve_with_rows(const MeanVarianceProblem& problem, const LinearRows& rows,
                                const SolverSettings& settings, const VecRef& warm_start, int max_outer = 100,
                                const TradingCosts* costs = nullptr, const Vec& start_multipliers = Vec());

}  // namespace microalloc
