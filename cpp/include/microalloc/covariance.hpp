#pragma once
/// Checks of a covariance matrix: one O(n^2) pass for finiteness, symmetry, positive variances and
/// correlations within [-1, 1]; and an opt-in O(n^3) positive-semidefiniteness test.
#include <cstdint>

#include "microalloc/types.hpp"

namespace microalloc {

enum class CovarianceIssue : int {
  None = 0,
  NonFinite = 1,            ///< NaN or infinity at (row, col)
  NonPositiveVariance = 2,  ///< diagonal entry (row, row) <= 0
  NotSymmetric = 3,         ///< |S(row,col) - S(col,row)| above tolerance
  CorrelationAboveOne = 4,  ///< |S(row,col)| > sqrt(S(row,row) S(col,col)): cannot be PSD
};

struct CovarianceReport {
  CovarianceIssue issue = CovarianceIssue::None;
  Index row = -1;
  Index col = -1;
  double value = 0.0;         ///< the offending entry
  double other = 0.0;         ///< its transpose partner, or the bound it broke
  double mean_variance = 0.0; ///< trace / n
  double max_variance = 0.0;
};

/// Every check in one cache-friendly pass over S (tiles of S against tiles of S'); the exact
/// offending entry is located by a second, slower scan only when a check fails. `symmetry_tol` is
/// relative to sqrt(S_ii S_jj).
CovarianceReport inspect_covariance(const MatRef& cov, double symmetry_tol) noexcept;

/// A fingerprint of the exact contents of S, in one row-streaming pass (no transposed reads; two
/// threads from n = 512, with a result independent of the thread count), for recognising a matrix
/// that has been validated before. Per row: the sum mod 2^64 of (bits XOR a key of the position),
/// which changes with any single entry, and the floating-point sum of S_ij r_j with pseudo-random
/// weights in [1, 2), which changes when values move between places; the rows are then combined
/// with row-dependent multipliers into three 64-bit words.
struct Fingerprint {
  std::uint64_t h[3] = {0, 0, 0};
};
Fingerprint fingerprint(const MatRef& cov) noexcept;

struct PsdReport {
  bool psd = true;
  double min_eigenvalue = 0.0;  ///< computed only when the fast test fails
  double max_eigenvalue = 0.0;  ///< computed only when the fast test fails
};

/// Positive-semidefiniteness within a relative tolerance: a Cholesky factorisation of the
/// correlation matrix shifted by `rel_tol * n` succeeds iff lambda_min(corr) >= -rel_tol * n
/// (up to rounding). The eigenvalues of S are computed only on failure, for the message.
PsdReport check_positive_semidefinite(const MatRef& cov, double rel_tol);

}  // namespace microalloc
