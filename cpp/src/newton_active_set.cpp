// Primal-dual active-set iterations (docs/methods.md §2.3). Each step guesses which assets sit at
// a bound, solves the equality-constrained problem on the others (one solve with the free block,
// whatever the number of assets that moved), and reads the next guess off the signs: a free asset
// beyond a bound goes to it, a bound asset whose multiplier has the wrong sign becomes free. For a
// strictly convex problem the guesses settle in a few steps when the start is reasonable, but the
// iteration is not monotone and may cycle; a repeated working set ends it, and the caller finishes
// with the primal active set from the last iterate.
#include "newton_active_set.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <unordered_set>
#include <utility>
#include <vector>

#include "microalloc/certificate.hpp"

namespace microalloc::detail {
namespace {

// Step t frees at most max(kFreeAtLeast 2^(t-1), kGrowth |F|) bound assets. From a poor first
// guess (a vertex, whose multiplier makes a third of the assets look attractive) freeing all of
// them made the free set 40x too large and then halved it step by step: on a 100,000-asset
// minimum variance problem 11 steps with up to 30,000 free, against 9 steps with at most 1,300.
// The limit doubles with every step, so that assets crossing from one bound to the other (which
// leave the free set at once) are not held back for long: the limit is gone after about
// log2(n / 64) steps.
constexpr Index kFreeAtLeast = 64;
constexpr Index kGrowth = 2;

enum State : signed char { kFree = 0, kLower = 1, kUpper = 2, kFixed = 3 };

/// Working-set bookkeeping of one run.
struct WorkingSet {
  std::vector<signed char> state;
  std::vector<Index> free;
  std::unordered_set<std::uint64_t> seen;

  void init(const Vec& w, const Vec& lb, const Vec& ub) {
    const Index n = w.size();
    state.assign(static_cast<std::size_t>(n), kFree);
    for (Index i = 0; i < n; ++i) {
      if (lb[i] == ub[i]) state[i] = kFixed;
      else if (w[i] <= lb[i]) state[i] = kLower;
      else if (w[i] >= ub[i]) state[i] = kUpper;
    }
    seen.clear();
  }

  /// Lists the free assets; false when this working set was met before (a cycle), told by an
  /// FNV-1a hash of the states.
  bool list_free_first_visit() {
    free.clear();
    std::uint64_t h = 1469598103934665603ULL;
    for (std::size_t i = 0; i < state.size(); ++i) {
      const signed char s = state[i];
      if (s == kFree) free.push_back(static_cast<Index>(i));
      h = (h ^ static_cast<std::uint64_t>(s + 1)) * 1099511628211ULL;
    }
    return seen.insert(h).second;
  }
};

/// A vector that is zero but on a few assets (its support, listed with the values), and S times
/// it: one pass over the model for a factor S, O(n |support|) entries for a dense one.
struct SparseProduct {
  std::vector<Index> support;
  std::vector<double> values;

  void clear() {
    support.clear();
    values.clear();
  }

  void add(Index i, double v) {
    if (v == 0.0) return;
    support.push_back(i);
    values.push_back(v);
  }

  /// y = S x.
  void apply(const CovarianceModel& cov, Eigen::Ref<Vec> y) const {
    y.setZero();
    const Index m = static_cast<Index>(support.size());
    cov.add_columns(support.data(), m, Eigen::Map<const RowMat>(values.data(), m, 1), y);
  }
};

/// The free block is singular even with the shift (assets whose rows depend on the others', such
/// as two with the same loadings and no specific risk): the free assets enter one at a time, and
/// one that would make the block singular is held at the bound nearer to its last value `w`.
/// False when the block cannot be set up at all.
bool hold_dependent(FreeBlock& block, double ra, double sigma, WorkingSet& ws, const Vec& w, const Vec& lb,
                    const Vec& ub) {
  std::vector<Index> kept;
  if (!block.reset(kept, ra, sigma)) return false;
  Vec dir;
  for (Index i : ws.free) {
    if (block.append(i, dir) == FreeBlock::Append::Ok) {
      kept.push_back(i);
    } else {
      ws.state[static_cast<std::size_t>(i)] = w[i] - lb[i] <= ub[i] - w[i] ? kLower : kUpper;
    }
  }
  ws.free.swap(kept);
  return true;
}

/// The point of the working set: bounds where bound, the face's minimiser on the free block; `sw`
/// returns S w. The free assets' pull from the bound ones, (S x_A)_F, is read off the bound
/// assets' few columns (rows_of_product: no pass over the model), so that a step costs one
/// product with S, the final S w. Assets that make the free block singular even with the shift are
/// held at a bound (hold_dependent). Returns false when the free block cannot be set up at all.
bool face_minimiser(const CovarianceModel& cov, FreeBlock& block, double ra, double& sigma,
                    double shift, const Vec& c, const Vec& lb, const Vec& ub, double budget,
                    WorkingSet& ws, Vec& w, Vec& sw, Vec& h, Vec& e, double& nu,
                    SparseProduct& sp) {
  const Index n = w.size();
  if (!ws.free.empty() && !block.assign(ws.free, ra, sigma)) {
    if (sigma != 0.0 || !block.assign(ws.free, ra, sigma = shift)) {
      if (!hold_dependent(block, ra, sigma, ws, w, lb, ub)) return false;
    }
  }
  sp.clear();  // the bound assets off zero, then the free ones
  for (Index i = 0; i < n; ++i) {
    const signed char s = ws.state[static_cast<std::size_t>(i)];
    w[i] = s == kFree ? 0.0 : (s == kUpper ? ub[i] : lb[i]);
    sp.add(i, w[i]);
  }
  const Index k = static_cast<Index>(ws.free.size());
  if (k > 0) {
    h.resize(k);
    const Index m = static_cast<Index>(sp.support.size());
    cov.rows_of_product(w, sp.support.data(), m, ws.free.data(), k, h.data());
    const double b_free = budget - accurate_sum(sp.values.data(), m);
    e.setOnes(k);
    for (Index t = 0; t < k; ++t) h[t] = c[ws.free[t]] - ra * h[t];
    block.solve(h);
    block.solve(e);
    // (ra S_FF + sigma 11') w_F = h_F - nu' 1 with nu' = nu - sigma b_free and 1'w_F = b_free
    const double nu_shifted = (accurate_sum(h.data(), k) - b_free) / accurate_sum(e.data(), k);
    nu = nu_shifted + sigma * b_free;
    for (Index t = 0; t < k; ++t) {
      w[ws.free[t]] = h[t] - nu_shifted * e[t];
      sp.add(ws.free[t], w[ws.free[t]]);
    }
  }
  sw.resize(n);
  sp.apply(cov, sw);
  return true;
}

/// Moves every free asset beyond a bound to it, and frees bound assets whose multiplier g_i + nu
/// has the wrong sign: all of them, or when more than `limit` (the rest of a poor first guess, say), the
/// `limit` whose sign is the most wrong relative to their variance (the step each would take on
/// its own). Returns how many moved.
Index update_working_set(WorkingSet& ws, const Vec& w, const Vec& g, double nu, const Vec& lb, const Vec& ub,
                         const Vec& var, double tol_w, double tol_r, Index limit,
                         std::vector<std::pair<double, Index>>& candidates) {
  Index moved = 0;
  const Index n = w.size();
  candidates.clear();
  for (Index i = 0; i < n; ++i) {
    signed char& s = ws.state[static_cast<std::size_t>(i)];
    if (s == kFree) {
      if (w[i] < lb[i] - tol_w) s = kLower, ++moved;
      else if (w[i] > ub[i] + tol_w) s = kUpper, ++moved;
      continue;
    }
    const double r = g[i] + nu;  // the bound's multiplier, signed
    if ((s == kLower && r < -tol_r) || (s == kUpper && r > tol_r)) {
      candidates.emplace_back(-std::abs(r) / std::max(var[i], 1e-300), i);  // most wrong first
    }
  }
  auto last = candidates.end();
  if (static_cast<Index>(candidates.size()) > limit) {
    last = candidates.begin() + limit;
    std::nth_element(candidates.begin(), last, candidates.end());
  }
  for (auto it = candidates.begin(); it != last; ++it) ws.state[static_cast<std::size_t>(it->second)] = kFree;
  return moved + static_cast<Index>(last - candidates.begin());
}

/// Without free assets the budget may be missed: every asset that can move towards it is freed.
Index free_towards_budget(WorkingSet& ws, const Vec& w, double budget) {
  const double miss = budget - accurate_sum(w.data(), w.size());
  Index moved = 0;
  if (miss == 0.0) return 0;
  for (auto& s : ws.state) {
    if ((miss > 0.0 && s == kLower) || (miss < 0.0 && s == kUpper)) {
      s = kFree;
      ++moved;
    }
  }
  return moved;
}

}  // namespace

NewtonActiveSetOutcome newton_active_set(const CovarianceModel& cov, FreeBlock& block, double ra,
                                         const Vec& c, const Vec& lb, const Vec& ub, double budget,
                                         int max_iter, Vec& w, Vec& sw,
                                         Progress* progress) {
  const Index n = w.size();
  NewtonActiveSetOutcome out;
  WorkingSet ws;
  ws.init(w, lb, ub);
  double sigma = 0.0;
  const double shift = ra * cov.mean_variance();
  const double tol_w = 1e-14 * std::max(1.0, std::abs(budget));
  Vec h, e, g(n);
  sw.resize(n);
  Certifier certifier;
  SparseProduct sp;
  std::vector<std::pair<double, Index>> candidates;
  Vec previous;
  while (out.iterations < max_iter) {
    // each step factorises the free block: a checkpoint per step costs nothing in comparison
    if (progress != nullptr && !progress->poll()) break;  // stopped: not settled, discarded by the caller
    if (!ws.list_free_first_visit()) break;  // a cycle
    ++out.iterations;
    previous = w;
    if (!face_minimiser(cov, block, ra, sigma, shift, c, lb, ub, budget, ws, w, sw, h, e,
                        out.multiplier, sp)) {
      w.swap(previous);  // no free block could be set up: the last iterate is the better guess
      break;
    }
    double g_max = 0.0;  // g = ra S w - c and its largest magnitude, in one sweep
    for (Index i = 0; i < n; ++i) {
      g[i] = ra * sw[i] - c[i];
      g_max = std::max(g_max, std::abs(g[i]));
    }
    if (ws.free.empty()) {
      out.multiplier = certifier.certify(w.data(), g.data(), lb.data(), ub.data(), n, budget, 1.0).multiplier;
    }
    const double tol_r = 1e-13 * std::max(g_max, 1e-300);
    const int doublings = std::min(out.iterations - 1, 40);
    const Index limit = std::max(kFreeAtLeast << doublings, kGrowth * static_cast<Index>(ws.free.size()));
    Index moved = update_working_set(ws, w, g, out.multiplier, lb, ub, cov.diagonal(), tol_w, tol_r, limit,
                                     candidates);
    if (moved == 0 && ws.free.empty()) moved = free_towards_budget(ws, w, budget);
    if (moved == 0) {
      out.settled = true;
      break;
    }
  }
  // The last iterate, inside the bounds (a settled one is off by rounding only), and its S w.
  const Vec clipped = w.cwiseMax(lb).cwiseMin(ub);
  if (!out.settled || clipped != w) {
    w = clipped;
    cov.apply(w, sw);
  }
  return out;
}

}  // namespace microalloc::detail
