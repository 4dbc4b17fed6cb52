#pragma once
// Internal to the core (not installed): the primal-dual active-set iteration (a semismooth Newton
// method) for the mean-variance problem, docs/methods.md §2.3.
#include <vector>

#include "microalloc/covariance_model.hpp"
#include "microalloc/progress.hpp"
#include "microalloc/types.hpp"

namespace microalloc::detail {

struct NewtonActiveSetOutcome {
  bool settled = false;   ///< the working set repeated itself: w is a KKT point up to rounding
  int iterations = 0;     ///< Newton steps (one free-block solve each)
  double multiplier = 0.0;  ///< nu of the last step (r = g + nu vanishes on the free set)
};

/// Primal-dual active-set iterations for
///     min (ra/2) w'Sw - c'w   s.t.  1'w = B,  lb <= w <= ub   (lb, ub finite, lb <= ub),
/// each a solve on the free block, moving every bound whose sign is wrong at once. `w` holds the
/// starting guess (its bound pattern is the first working set; an interior value means free) and
/// returns the last iterate clipped to the bounds; `sw` returns S w for it. `ra` > 0.
/// Not settled (cycling, a singular free block, the iteration limit): `w` is the best guess so far,
/// to be finished by the primal active set, which cannot cycle.
NewtonActiveSetOutcome newton_active_set(const CovarianceModel& cov, FreeBlock& block, double ra,
                                         const Vec& c, const Vec& lb, const Vec& ub, double budget,
                                         int max_iter, Vec& w, Vec& sw,
                                         Progress* progress = nullptr);

}  // namespace microalloc::detail
