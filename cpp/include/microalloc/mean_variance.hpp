#pragma once
/// The mean-variance problem shared by every solver:
///
///   minimise  f(w) = (risk_aversion / 2) (w - b)' S (w - b) - mu' w
///   subject to sum(w) = budget,  lower <= w <= upper,
///
/// i.e. maximise the utility mu'w - (risk_aversion/2) (w-b)'S(w-b). Without a benchmark b = 0;
/// without mu it is minimum (active) variance.
#include <chrono>
#include <memory>

#include "microalloc/covariance_model.hpp"
#include "microalloc/progress.hpp"
#include "microalloc/status.hpp"
#include "microalloc/types.hpp"

namespace microalloc {

struct MeanVarianceProblem {
  const CovarianceModel& cov;  ///< S (n x n, symmetric positive semidefinite), borrowed
  VecRef mu;           ///< length n, or length 0 for minimum variance
  VecRef lower;        ///< length n; may hold -inf
  VecRef upper;        ///< length n; may hold +inf
  VecRef benchmark;    ///< length n, or length 0
  double risk_aversion = 1.0;
  double budget = 1.0;

  Index size() const noexcept { return cov.size(); }
  bool has_mu() const noexcept { return mu.size() > 0; }
  bool has_benchmark() const noexcept { return benchmark.size() > 0; }
  /// Throws std::invalid_argument on inconsistent sizes or a negative risk aversion.
  void check_sizes() const;
};

struct SolverSettings {
  double tol = 1e-9;          ///< target relative duality gap
  int max_iter = 20000;       ///< iteration limit
  int check_every = 10;       ///< certificate evaluation period (iterations)
  bool check_curvature = false; ///< watch for negative curvature (when S was not checked for PSD)
  /// Projected gradient: stop (status MaxIter unless certified) once the set of weights at a bound
  /// has not changed for this many iterations; 0 = never. The active set's crossover uses it.
  int stop_when_stable = 0;
  /// Active set: allow the crossover to the primal-dual active set (see active_set.cpp).
  bool crossover = true;
  /// Active set: polled every 16 iterations (progress.hpp); once stopped, the solve ends as at the
  /// iteration limit (MaxIter) and its result is discarded by the caller.
  Progress* progress = nullptr;
};

struct SolveResult {
  Vec weights;
  Status status = Status::NumericalError;
  double objective = 0.0;        ///< f(w), the minimised value (= minus the utility)
  double expected_return = 0.0;  ///< mu'w (0 without mu)
  double risk = 0.0;             ///< sqrt((w-b)'S(w-b)): volatility, or tracking error with b
  int iterations = 0;
  double primal_residual = 0.0;
  double dual_residual = 0.0;
  double gap = 0.0;
  double rel_gap = 0.0;
  double budget_multiplier = 0.0; ///< nu: marginal utility of one more unit of budget
  IndexVec active_lower;          ///< indices with w_i == lower_i
  IndexVec active_upper;          ///< indices with w_i == upper_i
  double solve_time_s = 0.0;
  double lipschitz = 0.0;         ///< projected gradient: step constant used (Jacobi metric)
  int restarts = 0;               ///< projected gradient: momentum restarts
  int factorizations = 0;         ///< active set: Cholesky factorisations from scratch
  int zero_curvature_steps = 0;   ///< active set: moves along a direction of zero curvature
  int crossover_iterations = 0;   ///< active set: primal-dual active-set steps of its crossover
};

/// Accelerated projected gradient (FISTA) in the Jacobi metric with adaptive restart and a
/// backtracking safeguard on a power-iteration step constant, stopping on the duality-gap
/// certificate. `warm_start` (length n or 0) is projected onto the feasible set first.
SolveResult solve_projected_gradient(const MeanVarianceProblem& problem,
                                     const SolverSettings& settings, const VecRef& warm_start);

/// Primal active-set method on (free, at-lower, at-upper) with an updated Cholesky factor of the
/// free block and the budget through its scalar Schur complement (see active_set.cpp). It starts
/// from `warm_start` (length n, projected onto the feasible set; its working set is read off the
/// bounds it touches) or, without one, from a greedy vertex. The object keeps its workspace between
/// solves, so one solver per thread serves a whole batch without reallocating; the free block's
/// factorisation is kept while consecutive solves use the same covariance model object (a model
/// must outlive the solves that use it).
class ActiveSetSolver {
 public:
  ActiveSetSolver();
  ~ActiveSetSolver();
  ActiveSetSolver(ActiveSetSolver&&) noexcept;
  ActiveSetSolver& operator=(ActiveSetSolver&&) noexcept;
  ActiveSetSolver(const ActiveSetSolver&) = delete;
  ActiveSetSolver& operator=(const ActiveSetSolver&) = delete;

  SolveResult solve(const MeanVarianceProblem& problem, const SolverSettings& settings,
                    const VecRef& warm_start);

 private:
  /// The primal-dual active set from the solver's current point (its bound pattern the first
  /// guess), certified; what it cannot certify the primal active set finishes from its last
  /// iterate. `iterations` active-set iterations were spent already.
  SolveResult crossover(const MeanVarianceProblem& problem, const SolverSettings& settings,
                        int iterations, std::chrono::steady_clock::time_point t0);

  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// The certificate of given weights, without solving: objective pieces, duality gap (against the
/// budget-implied box), residuals, budget multiplier and the bounds the weights touch. The status is
/// Optimal when the certificate passes `tol` (as a solver's would), NumericalError when it does not,
/// Infeasible when no point satisfies the bounds and the budget. `iterations` is 0.
SolveResult certify_weights(const MeanVarianceProblem& problem, const VecRef& weights, double tol);

/// One active-set solve with a fresh workspace.
SolveResult solve_active_set(const MeanVarianceProblem& problem, const SolverSettings& settings,
                             const VecRef& warm_start);

}  // namespace microalloc
