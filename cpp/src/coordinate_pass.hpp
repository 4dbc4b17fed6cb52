#pragma once
// The coordinate rule of risk budgeting (docs/methods.md §6.1), written once for every model and
// instantiated in each CoordinateTracker (a final class), so that the tracker's calls inside the
// pass are direct and inline rather than two virtual calls per coordinate.

#include <cmath>

#include "microalloc/types.hpp"

namespace microalloc::detail {

/// One cyclic pass on Spinu's problem min 0.5 y'Cy - b'ln y: y_i becomes the positive root of
/// C_ii y^2 + c y - b_i = 0 with c = (C y)_i - C_ii y_i (in the form without cancellation for
/// c > 0, where small budgets would otherwise round to 0), and the tracker follows each change.
template <class Tracker>
void spinu_pass(Tracker& tracker, const Vec& cdiag, const Vec& b, Vec& y) {
  const Index k = y.size();
  for (Index i = 0; i < k; ++i) {
    const double cii = cdiag[i];
    const double c = tracker.Tracker::value(i, y[i]) - cii * y[i];
    const double root = std::sqrt(c * c + 4.0 * cii * b[i]);
    const double yi = c > 0.0 ? 2.0 * b[i] / (c + root) : (root - c) / (2.0 * cii);
    const double d = yi - y[i];
    if (d != 0.0) {
      tracker.Tracker::move(i, d);
      y[i] = yi;
    }
  }
}

}  // namespace microalloc::detail
