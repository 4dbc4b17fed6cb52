#pragma once
/// Risk decomposition of portfolios (ALGORITHMS.md section 6). For weights w (a row of W), M = W S
/// (one GEMM for the batch), sigma = sqrt(w'Sw) and m = S w:
///   marginal_i = m_i / sigma,  component_i = w_i m_i / sigma (sums to sigma),
///   percent_i = w_i m_i / sigma^2 (sums to 1).
/// With a benchmark b, the same for the active weights a = w - b (tracking error sqrt(a'Sa)); with
/// expected returns alpha as well, the contributions to active return a_i alpha_i and the
/// efficiency a_i alpha_i / (a'alpha) - a_i (Sa)_i / (a'Sa).
///
/// Undefined quantities are NaN: marginal and percent contributions when sigma (or the tracking
/// error) is 0; the efficiency when the active return or the tracking error is 0 relative to the
/// terms that sum to it (|sum| <= kVanishing * sum of |terms|). Components are 0 when sigma is 0.
#include "microalloc/types.hpp"

namespace microalloc {

constexpr double kVanishing = 1e-12;

struct RiskInput {
  MatRef cov;               ///< n x n, symmetric
  MatRef weights;           ///< m x n
  MatRef benchmark;         ///< 0 x 0, 1 x n (shared) or m x n
  MatRef expected_returns;  ///< 0 x 0, 1 x n (shared) or m x n; used with a benchmark
};

struct RiskDecomposition {
  Vec volatility;                                  ///< m
  RowMat marginal, component, percent;             ///< m x n
  Vec tracking_error;                              ///< m (with a benchmark, else empty)
  RowMat active_marginal, active_component, active_percent;
  Vec active_return;                               ///< m: a'alpha (benchmark and expected returns)
  RowMat active_return_contribution, efficiency;   ///< m x n
};

/// Throws std::invalid_argument on inconsistent sizes. `threads` splits the rows (<= 0: hardware).
RiskDecomposition decompose_risk(const RiskInput& in, int threads);

}  // namespace microalloc
