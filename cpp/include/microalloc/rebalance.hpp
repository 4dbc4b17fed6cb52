#pragma once
/// Micro-rebalancing kernels (docs/methods.md §7): drift of weights under returns, tolerance-band
/// checks over a batch of portfolios, and the trades that restore the bands. Rows are portfolios
/// (m x n, row-major); a per-portfolio input is 1 x n (shared by every row) or m x n. Outputs are
/// written into caller-owned arrays, so that a batch of a million portfolios is never copied.
#include <cstdint>
#include <vector>

#include "microalloc/covariance_model.hpp"
#include "microalloc/progress.hpp"
#include "microalloc/types.hpp"

namespace microalloc {

/// Tolerance bands around targets t. For asset i, with a = absolute[i] (weight points) and
/// r = relative[i] * |t_i| (a fraction of the target), the half-width is
///   a or r when only one kind is given; min(a, r) ("min", the tighter) or max(a, r) ("max") with
///   both; and a alone (0 without an absolute band) when t_i = 0.
/// A weight breaches its band when w_i > t_i + width or w_i < t_i - width: a weight exactly on an
/// edge is inside.
struct Bands {
  MatRef targets;   ///< 1 x n or m x n
  VecRef absolute;  ///< size 0 (no absolute band) or n
  VecRef relative;  ///< size 0 (no relative band) or n
  bool combine_max = false;

  double width(double target, Index i) const noexcept;
};

/// Portfolio-level trigger of a band check.
enum class Trigger : int {
  AnyBreach = 0,      ///< at least one weight outside its band
  L1Drift = 1,        ///< half the L1 distance to target above the threshold
  TrackingError = 2,  ///< sqrt(d'Sd) of the drift d = w - t above the threshold (needs S)
};

/// Caller-owned outputs of check_bands (breach and tracking_error may be null).
struct BandCheckOutput {
  bool* breach = nullptr;              ///< m x n
  std::int64_t* n_breaches = nullptr;  ///< m
  double* max_drift = nullptr;         ///< m: max_i |w_i - t_i| / width_i (0/0 = 0, x/0 = inf)
  double* l1_drift = nullptr;          ///< m: 0.5 sum_i |w_i - t_i|
  double* tracking_error = nullptr;    ///< m, when cov is given
  bool* triggered = nullptr;           ///< m
};

/// Band check of m portfolios. `cov` is null (no tracking error) or an n x n model. Throws
/// std::invalid_argument on inconsistent sizes and on a weight that is not finite (naming it).
void check_bands(const MatRef& weights, const Bands& bands, const CovarianceModel* cov, Trigger trigger,
                 double threshold, int threads, const BandCheckOutput& out);

enum class Action : int {
  Target = 0,    ///< trade back to the targets
  BandEdge = 1,  ///< the least-squares smallest trade that restores every band and the budget
  Halfway = 2,   ///< midway between the band-edge portfolio and the targets
};

/// Trades for the rows with trade_rows[r] set (others are copied unchanged; null: every row).
/// The budget of a row is the sum of its weights, which must match the sum of its targets. Band
/// edges never go below 0 for a non-negative target (rebalancing does not short a long target).
/// Trades smaller than min_trade (> 0) are skipped for holdings inside their bands; the other
/// trades absorb the difference (least squares, bands kept), repeated until no such trade is
/// left or none can be skipped without losing a band. Writes the new weights (m x n) and,
/// if not null, the trades (new - old, m x n).
void rebalance(const MatRef& weights, const Bands& bands, const bool* trade_rows, Action action,
               double min_trade, int threads, double* new_weights, double* trades);

/// Weights after one period of returns: w_i (1 + r_i) / (1 + w'r) (for weights summing to 1; in
/// general scaled to keep their sum), for m portfolios with returns 1 x n (shared) or m x n.
/// Writes m x n. Throws std::invalid_argument when a portfolio's value
/// is not positive afterwards (1 + w'r <= 0).
void drift(const MatRef& weights, const MatRef& returns, int threads, double* out);

}  // namespace microalloc

namespace microalloc {

/// One rebalancing policy of a backtest. On a check day (check_days[d] != 0, or every day when
/// check_days is null), a calendar policy trades back to the targets; a band policy checks the
/// bands (any breach triggers) and trades with its action. Buy-and-hold never trades.
struct Policy {
  enum class Kind : int { BuyAndHold = 0, Calendar = 1, Band = 2 };
  Kind kind = Kind::BuyAndHold;
  const std::uint8_t* check_days = nullptr;  ///< T flags, or null: every day
  Vec absolute, relative;                    ///< the bands (size 0 or n)
  bool combine_max = false;
  Action action = Action::BandEdge;
  double min_trade = 0.0;  ///< band policies (see rebalance)
};

/// Costs of a trade of d (weights) at portfolio value V: V * sum_i (proportional_i |d_i| +
/// impact_i |d_i|^1.5); the second term is a square-root market impact (cost per unit traded
/// proportional to the square root of the trade's size). Costs are paid out of the portfolio.
struct Costs {
  VecRef proportional;  ///< n (fractions: 10 bp = 0.001)
  VecRef impact;        ///< n
};

/// Outputs per policy p (caller-owned, row-major): values[p * T + d] (value 1 on day 0, invested at
/// the targets), and per policy: rebalances, turnover (sum of 0.5 sum|d| over trades), costs paid
/// (in units of the initial value), and sum_k log(1 - c_k) over the trades' cost fractions c_k (the
/// log of the value kept: the path with costs is the cost-free path times its exponential).
struct BacktestOutput {
  double* values = nullptr;
  std::int64_t* rebalances = nullptr;
  double* turnover = nullptr;
  double* costs = nullptr;
  double* log_kept = nullptr;  ///< may be null
};

/// Simulates every policy on the same prices (T x n, positive) from the targets (n, summing to
/// 1), in parallel over the policies. `progress` (may be null) counts policy-days (total P T);
/// once it is stopped, the outputs are incomplete.
void backtest(const MatRef& prices, const VecRef& targets, const std::vector<Policy>& policies, const Costs& costs,
              int threads, const BacktestOutput& out, Progress* progress = nullptr);

}  // namespace microalloc
