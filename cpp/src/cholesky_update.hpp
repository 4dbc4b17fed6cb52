#pragma once
// Internal to the core (not installed): O(k^2) updates of a Cholesky factor stored in the lower
// triangle of the leading k x k block of a larger matrix, shared by the active-set solver and the
// frontier.
#include <cmath>

#include "microalloc/types.hpp"

namespace microalloc::detail {

/// Deletes row and column pos from the factor L (L L' = A) of the leading k x k block: the rows
/// below pos move up, the columns after it move left, and the trailing block T takes the removed
/// column v through T T' <- T T' + v v' (Givens-like rotations). `v` is workspace.
inline void cholesky_remove(Eigen::MatrixXd& fac, Index k, Index pos, Vec& v) {
  const Index m = k - 1 - pos;  // size of the trailing block
  v = fac.col(pos).segment(pos + 1, m);
  for (Index c = 0; c < pos; ++c) {
    for (Index r = pos; r < k - 1; ++r) fac(r, c) = fac(r + 1, c);
  }
  for (Index c = pos + 1; c < k; ++c) {
    for (Index r = c; r < k; ++r) fac(r - 1, c - 1) = fac(r, c);
  }
  for (Index i = 0; i < m; ++i) {
    const Index a = pos + i;
    const double lii = fac(a, a);
    const double r = std::hypot(lii, v[i]);
    const double cs = r / lii, sn = v[i] / lii;
    fac(a, a) = r;
    for (Index j = i + 1; j < m; ++j) {
      const double l = (fac(pos + j, a) + sn * v[j]) / cs;
      fac(pos + j, a) = l;
      v[j] = cs * v[j] - sn * l;
    }
  }
}

}  // namespace microalloc::detail
