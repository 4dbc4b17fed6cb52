#include "microalloc/covariance.hpp"

#include <Eigen/Cholesky>
#include <Eigen/Eigenvalues>
#include <cmath>

#include "microalloc/status.hpp"

namespace microalloc {

const char* to_string(Status status) noexcept {
  switch (status) {
    case Status::Optimal: return "optimal";
    case Status::MaxIter: return "max_iter";
    case Status::Infeasible: return "infeasible";
    case Status::NumericalError: return "numerical_error";
    case Status::NotConvex: return "not_convex";
    case Status::InvalidInput: return "invalid_input";
  }
  return "unknown";
}

CovarianceReport inspect_covariance(const MatRef& cov, double symmetry_tol) noexcept {
  CovarianceReport rep;
  const Index n = cov.rows();
  double trace = 0.0;
  for (Index i = 0; i < n; ++i) {
    const double d = cov(i, i);
    if (!std::isfinite(d)) {
      rep.issue = CovarianceIssue::NonFinite;
      rep.row = rep.col = i;
      rep.value = d;
      return rep;
    }
    if (!(d > 0.0)) {
      rep.issue = CovarianceIssue::NonPositiveVariance;
      rep.row = rep.col = i;
      rep.value = d;
      return rep;
    }
    trace += d;
    rep.max_variance = std::max(rep.max_variance, d);
  }
  rep.mean_variance = n > 0 ? trace / static_cast<double>(n) : 0.0;
  // Upper triangle against lower triangle, row by row (both reads stream along rows of the
  // row-major upper part; the transposed read is strided but each element is read once).
  for (Index i = 0; i < n; ++i) {
    const double di = cov(i, i);
    for (Index j = i + 1; j < n; ++j) {
      const double a = cov(i, j);
      const double b = cov(j, i);
      if (!std::isfinite(a) || !std::isfinite(b)) {
        rep.issue = CovarianceIssue::NonFinite;
        rep.row = std::isfinite(a) ? j : i;
        rep.col = std::isfinite(a) ? i : j;
        rep.value = std::isfinite(a) ? b : a;
        return rep;
      }
      const double sd = std::sqrt(di * cov(j, j));
      if (std::abs(a - b) > symmetry_tol * sd) {
        rep.issue = CovarianceIssue::NotSymmetric;
        rep.row = i;
        rep.col = j;
        rep.value = a;
        rep.other = b;
        return rep;
      }
      if (std::abs(a) > sd * (1.0 + 1e-12)) {
        rep.issue = CovarianceIssue::CorrelationAboveOne;
        rep.row = i;
        rep.col = j;
        rep.value = a;
        rep.other = sd;
        return rep;
      }
    }
  }
  return rep;
}

PsdReport check_positive_semidefinite(const MatRef& cov, double rel_tol) {
  const Index n = cov.rows();
  PsdReport rep;
  if (n == 0) return rep;
  const Vec inv_sd = cov.diagonal().cwiseSqrt().cwiseInverse();
  Eigen::MatrixXd corr = inv_sd.asDiagonal() * cov * inv_sd.asDiagonal();
  corr.diagonal().array() += rel_tol * static_cast<double>(n);
  Eigen::LLT<Eigen::MatrixXd, Eigen::Lower> llt(corr);
  if (llt.info() == Eigen::Success) return rep;
  rep.psd = false;
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(cov, Eigen::EigenvaluesOnly);
  rep.min_eigenvalue = eig.eigenvalues().minCoeff();
  rep.max_eigenvalue = eig.eigenvalues().maxCoeff();
  return rep;
}

}  // namespace microalloc
