#pragma once
/// Checks of a covariance matrix: one O(n^2) pass for finiteness, symmetry, positive variances and
/// correlations within [-1, 1]; and an opt-in O(n^3) positive-semidefiniteness test.
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

/// One pass over S. `symmetry_tol` is relative to sqrt(S_ii S_jj).
CovarianceReport inspect_covariance(const MatRef& cov, double symmetry_tol) noexcept;

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
