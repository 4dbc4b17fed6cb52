#pragma once
// What rounding alone can do to a certificate computed from matrix-vector products.

#include <algorithm>
#include <cmath>
#include <limits>

#include "microalloc/types.hpp"

namespace microalloc::detail {

constexpr double kUnitRoundoff = std::numeric_limits<double>::epsilon() / 2.0;

/// A floor under the relative error of r_i = x_i (A x)_i / x'Ax as computed in floating point,
/// given `ratio` = max_i (|A||x|)_i / |(A x)_i|: each (A x)_i is perturbed by a few units of
/// roundoff of the size of its terms, (|A||x|)_i -- by rounding the entries of A when they are
/// formed (correlations from covariances) and by the sum itself, whose worst-case bound n u is
/// far from what happens (errors of random sign; Higham & Mary, SIAM J. Sci. Comput. 2019). The
/// ratio grows with n when the terms cancel (an equal-risk portfolio hedges the factors out).
/// Capped at 1e-8: beyond that the certificate cannot tell a solution from a non-solution, and
/// callers must fail rather than accept.
inline double ratio_rounding_floor(double ratio) {
  const double floor = 8.0 * kUnitRoundoff * ratio;
  return std::isfinite(floor) ? std::min(floor, 1e-8) : 1e-8;
}

/// max over `idx` of (|A||x|)_i / |(A x)_i| given ax = A x and abs_ax = |A||x| (infinite when
/// some (A x)_i is 0 while its terms are not).
template <class Indices>
double cancellation_ratio(const Vec& ax, const Vec& abs_ax, const Indices& idx) {
  double r = 1.0;
  for (Index i : idx) {
    const double q = abs_ax[i] / std::abs(ax[i]);
    if (!(q <= r)) r = q;  // NaN (0 / 0) counts as total cancellation
  }
  return std::isnan(r) ? std::numeric_limits<double>::infinity() : r;
}

}  // namespace microalloc::detail
