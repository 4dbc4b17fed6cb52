#pragma once
/// Exact Euclidean (or diagonally weighted) projection onto {lb <= x <= ub, sum(x) = budget}.
///
/// x_i(nu) = clip(u_i - nu * h_i, lb_i, ub_i) and nu solves phi(nu) = sum_i x_i(nu) - budget = 0.
/// phi is piecewise linear and non-increasing; a safeguarded Newton iteration on nu ends when the
/// free set repeats, which makes the last step the exact closed form on that free set. A sorted
/// breakpoint search takes over if Newton leaves its bracket. With h = 1, lb = 0 and ub >= budget
/// (the simplex) Condat's algorithm is used. Infinite bounds are allowed.
#include <vector>

#include "microalloc/types.hpp"

namespace microalloc {

class BoxBudgetProjector {
 public:
  /// Projects `u` (length n). `h` is the inverse metric (nullptr: all ones). `nu_start` warm-starts
  /// the multiplier. Preconditions (checked by callers): lb <= ub, sum(lb) <= budget <= sum(ub).
  /// Returns the multiplier nu; `x` receives the projection.
  double project(const double* u, const double* h, const double* lb, const double* ub, Index n,
                 double budget, double* x, double nu_start = 0.0);

  int last_iterations() const noexcept { return iterations_; }
  bool last_used_simplex() const noexcept { return used_simplex_; }

 private:
  struct Eval {
    double phi, sum_free_u, sum_free_h, sum_fixed, abs_sum;
    Index n_free;
  };
  Eval evaluate(const double* u, const double* h, const double* lb, const double* ub, Index n,
                double budget, double nu, double* x) const noexcept;
  double breakpoint_search(const double* u, const double* h, const double* lb, const double* ub,
                           Index n, double budget, double lo, double hi, double* x);
  double simplex(const double* u, Index n, double budget, double* x);

  std::vector<double> work_;
  std::vector<double> work2_;
  int iterations_ = 0;
  bool used_simplex_ = false;
};

/// Replaces infinite or loose bounds by the bounds the budget implies:
/// ub_i <- min(ub_i, budget - sum_{j != i} lb_j) and lb_i <- max(lb_i, budget - sum_{j != i} ub_j).
/// The feasible set is unchanged; the duality-gap certificate needs finite bounds.
void implied_bounds(const VecRef& lb, const VecRef& ub, double budget, Vec& lb_out, Vec& ub_out);

/// The first fault of a box-and-budget feasible set {lb <= x <= ub, sum(x) = budget}, for error
/// messages: `argument` is 0 for lb, 1 for ub; `index` the first faulty entry and `count` how many
/// there are (per-entry kinds); `value` / `other` the entry and its partner (lb_i and ub_i), or the
/// bound sum and the budget.
struct BoundsIssue {
  enum class Kind : int { None = 0, NaN, LowerPlusInf, UpperMinusInf, Crossed, LowerAboveBudget, UpperBelowBudget };
  Kind kind = Kind::None;
  int argument = 0;
  Index index = -1;
  Index count = 0;
  double value = 0.0;
  double other = 0.0;
};

/// One pass over the bounds. The sums are compared to the budget with the tolerance
/// 1e-12 * max(1, |budget|, sum |finite lb|, sum |finite ub|).
BoundsIssue check_bounds(const VecRef& lb, const VecRef& ub, double budget);

/// First non-finite entry of `v` (-1 if none) and how many there are.
struct NonFinite {
  Index index = -1;
  Index count = 0;
  double value = 0.0;
};
NonFinite find_non_finite(const VecRef& v, bool allow_infinite = false);

}  // namespace microalloc
