#pragma once
/// Many mean-variance problems sharing one covariance, solved on a pool of threads.
///
/// Per-row inputs are matrices with either one row (shared by every problem) or m rows; per-row
/// scalars are vectors of length 1 or m. Each row is an independent solve on the calling
/// thread's own workspace, so the results do not depend on the number of threads. A bad row (NaN,
/// infeasible bounds, a negative risk aversion) gets its status, never an exception. With current
/// weights every problem is a rebalance (trading_costs.hpp): its costs and turnover limit, the rows
/// if any; a turnover limit below the least the bounds and budget need is Infeasible.
#include <cstdint>

#include "microalloc/covariance_model.hpp"
#include "microalloc/linear_rows.hpp"
#include "microalloc/mean_variance.hpp"
#include "microalloc/progress.hpp"
#include "microalloc/types.hpp"

namespace microalloc {

enum class Method : int { ActiveSet = 0, ProjectedGradient = 1 };

struct BatchInput {
  const CovarianceModel& cov;  ///< n x n, shared by every row
  MatRef mu;         ///< 0 x 0 (minimum variance), 1 x n or m x n
  MatRef lower;      ///< 1 x n or m x n
  MatRef upper;      ///< 1 x n or m x n
  MatRef benchmark;  ///< 0 x 0, 1 x n or m x n
  MatRef warm_start; ///< 0 x 0 or m x n
  VecRef risk_aversion;  ///< length 1 or m
  VecRef budget;         ///< length 1 or m
  Index m = 0;
  const LinearRows* rows = nullptr;  ///< rows shared by every problem (active set only), or none
  MatRef current;        ///< 0 x 0 (no trading), 1 x n or m x n current weights
  MatRef buy;            ///< 1 x n or m x n cost rates (with current)
  MatRef sell;           ///< 1 x n or m x n cost rates (with current)
  VecRef turnover;       ///< length 1 or m limits (inf: none), with current
};

struct BatchResult {
  RowMat weights;                                     ///< m x n
  Eigen::Matrix<std::int32_t, Eigen::Dynamic, 1> status;      ///< Status codes
  Eigen::Matrix<std::int32_t, Eigen::Dynamic, 1> iterations;
  Vec objective, expected_return, risk, gap, rel_gap, solve_time_s;
  Vec turnover, costs_paid, trade_gain;  ///< with current weights (else empty)
};

/// Throws std::invalid_argument for inconsistent shapes (a caller error, not a bad row).
/// `threads` <= 0 means std::thread::hardware_concurrency(). `progress` (may be null) counts rows;
/// once it is stopped, the rows not started keep InvalidInput and the result is incomplete.
BatchResult solve_batch(const BatchInput& input, const SolverSettings& settings, Method method,
                        int threads, Progress* progress = nullptr);

}  // namespace microalloc
