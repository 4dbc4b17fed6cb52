#pragma once
/// Whole shares: from target weights t, a portfolio value V and the value of one lot of each asset
/// (price x lot size), integer lot counts q >= 0 that spend at most V and keep the gap to the
/// targets smallest,
///
///   minimise (w - t)' S (w - t)  with  w_i = q_i a_i,  a_i = lot value_i / V,  sum_i q_i a_i <= 1,
///
/// S the covariance (the squared tracking error of the rounded portfolio against the targets) or
/// the identity (the squared distance). What V does not buy stays in cash.
///
/// Two methods: a local search (start from the rounded-down lots, then the best single move
/// among buying one lot, selling one lot and swapping a lot of one asset for a lot of another,
/// until none lowers the gap: O(n^2) per move, for batches) and, for small problems, branch and
/// bound on the lots whose bound at each node is the certified relaxation (the continuous problem
/// on the node's box solved by the active set: its objective minus its gap is a lower bound), which
/// proves the best lots or says it ran out of nodes.
#include <cstdint>

#include "microalloc/progress.hpp"
#include "microalloc/status.hpp"
#include "microalloc/types.hpp"

namespace microalloc {

using LotVec = Eigen::Matrix<std::int64_t, Eigen::Dynamic, 1>;

struct SharesProblem {
  VecRef target;     ///< n target weights (fractions of V), >= 0, summing to at most 1
  VecRef lot_value;  ///< n values of one lot, > 0
  double value = 0;  ///< V > 0
  MatRef cov;        ///< n x n covariance (row-major), or 0 x 0 for the identity
};

struct SharesResult {
  LotVec lots;
  double cash = 0.0;         ///< V - sum q_i lot_value_i (>= 0)
  double objective = 0.0;    ///< (w - t)' S (w - t)
  double lower_bound = 0.0;  ///< no lots do better than this (branch and bound; 0 for the local search)
  Status status = Status::MaxIter;  ///< Optimal: proven best lots; MaxIter: the best found
  std::int64_t nodes = 0;    ///< branch-and-bound nodes
};

/// Throws std::invalid_argument on sizes or values outside the rules above (also n = 0, and a
/// value of more than 2^53 lots of an asset, where the counts would no longer be exact).
void check_shares_problem(const SharesProblem& problem);

/// The local search. Status MaxIter (not proven), lower_bound 0.
SharesResult round_to_lots(const SharesProblem& problem);

/// Branch and bound from the local search's lots, at most `max_nodes` nodes.
SharesResult best_lots(const SharesProblem& problem, std::int64_t max_nodes);

/// Many accounts over one universe of n assets: targets m x n, lot values 1 x n or m x n, values
/// (1 or m), one covariance (or none); the local search, or branch and bound when max_nodes > 0.
/// A bad row gets InvalidInput and lots of -1, never an exception. `progress` (may be null)
/// counts rows; once it is stopped, the rows not started keep InvalidInput.
struct SharesBatchResult {
  Eigen::Matrix<std::int64_t, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> lots;
  Vec cash, objective, lower_bound;
  Eigen::Matrix<std::int32_t, Eigen::Dynamic, 1> status;
};
SharesBatchResult round_to_lots_batch(const MatRef& targets, const MatRef& lot_values, const VecRef& values,
                                      const MatRef& cov, std::int64_t max_nodes, int threads,
                                      Progress* progress = nullptr);

}  // namespace microalloc
