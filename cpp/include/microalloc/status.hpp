#pragma once
/// How a solve ended. Only OPTIMAL carries a certificate that passed its tolerance.
namespace microalloc {

enum class Status : int {
  Optimal = 0,         ///< certified: relative duality gap <= tol and constraints hold
  MaxIter = 1,         ///< iteration limit reached before the certificate passed
  Infeasible = 2,      ///< no point satisfies the bounds and the budget
  NumericalError = 3,  ///< no further progress possible in floating point before the certificate passed
  NotConvex = 4,       ///< negative curvature met: the covariance is not positive semidefinite
  InvalidInput = 5,    ///< rejected input (used by batch solves, which never raise for one row)
};

const char* to_string(Status status) noexcept;

}  // namespace microalloc
