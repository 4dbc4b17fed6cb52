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

#include "microalloc/certificate.hpp"

namespace microalloc::detail {
namespace {

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

  void list_free() {
    free.clear();
    for (std::size_t i = 0; i < state.size(); ++i) {
      if (state[i] == kFree) free.push_back(static_cast<Index>(i));
    }
  }

  /// FNV-1a of the states; false when this working set was met before (a cycle).
  bool first_visit() {
    std::uint64_t h = 1469598103934665603ULL;
    for (signed char s : state) h = (h ^ static_cast<std::uint64_t>(s + 1)) * 1099511628211ULL;
    return seen.insert(h).second;
  }
};

/// The assets where a vector is not zero, and S times it: one pass over the model for a factor S,
/// O(n |support|) entries for a dense one.
struct SparseProduct {
  std::vector<Index> support;
  std::vector<double> values;

  void find_support(const Vec& x) {
    support.clear();
    values.clear();
    for (Index i = 0; i < x.size(); ++i) {
      if (x[i] != 0.0) {
        support.push_back(i);
        values.push_back(x[i]);
      }
    }
  }

  /// y = S x, x zero outside the support found last.
  void apply(const CovarianceModel& cov, Eigen::Ref<Vec> y) const {
    y.setZero();
    const Index m = static_cast<Index>(support.size());
    cov.add_columns(support.data(), m, Eigen::Map<const RowMat>(values.data(), m, 1), y);
  }
};

/// The point of the working set: bounds where bound, the face's minimiser on the free block; `sw`
/// returns S w. The free assets' pull from the bound ones, (S x_A)_F, is read off the bound
/// assets' few columns (rows_of_product: no pass over the model), so that a step costs one
/// product with S, the final S w. Returns false when the free block cannot be factored (singular
/// even with the shift).
bool face_minimiser(const CovarianceModel& cov, FreeBlock& block, double ra, double& sigma,
                    double shift, const Vec& c, const Vec& lb, const Vec& ub, double budget,
                    const WorkingSet& ws, Vec& w, Vec& sw, Vec& h, Vec& e, double& nu,
                    SparseProduct& sp) {
  const Index n = w.size();
  for (Index i = 0; i < n; ++i) {
    const signed char s = ws.state[static_cast<std::size_t>(i)];
    w[i] = s == kFree ? 0.0 : (s == kUpper ? ub[i] : lb[i]);
  }
  const Index k = static_cast<Index>(ws.free.size());
  if (k > 0) {
    if (!block.assign(ws.free, ra, sigma)) {
      if (sigma != 0.0 || !block.assign(ws.free, ra, sigma = shift)) return false;
    }
    sp.find_support(w);  // the bound assets off zero
    h.resize(k);
    cov.rows_of_product(w, sp.support.data(), static_cast<Index>(sp.support.size()), ws.free.data(), k,
                        h.data());
    const double b_free = budget - accurate_sum(w.data(), n);
    e.setOnes(k);
    for (Index t = 0; t < k; ++t) h[t] = c[ws.free[t]] - ra * h[t];
    block.solve(h);
    block.solve(e);
    // (ra S_FF + sigma 11') w_F = h_F - nu' 1 with nu' = nu - sigma b_free and 1'w_F = b_free
    const double nu_shifted = (accurate_sum(h.data(), k) - b_free) / accurate_sum(e.data(), k);
    nu = nu_shifted + sigma * b_free;
    for (Index t = 0; t < k; ++t) w[ws.free[t]] = h[t] - nu_shifted * e[t];
  }
  sp.find_support(w);
  sw.resize(n);
  sp.apply(cov, sw);
  return true;
}

/// Moves every asset whose bound or sign is wrong; returns how many moved.
Index update_working_set(WorkingSet& ws, const Vec& w, const Vec& r, const Vec& lb, const Vec& ub,
                         double tol_w, double tol_r) {
  Index moved = 0;
  const Index n = w.size();
  for (Index i = 0; i < n; ++i) {
    signed char& s = ws.state[static_cast<std::size_t>(i)];
    const signed char before = s;
    if (s == kFree) {
      if (w[i] < lb[i] - tol_w) s = kLower;
      else if (w[i] > ub[i] + tol_w) s = kUpper;
    } else if (s == kLower) {
      if (r[i] < -tol_r) s = kFree;  // the objective falls as w_i rises
    } else if (s == kUpper) {
      if (r[i] > tol_r) s = kFree;
    }
    moved += s != before;
  }
  return moved;
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
                                         int max_iter, Vec& w, Vec& sw) {
  const Index n = w.size();
  NewtonActiveSetOutcome out;
  WorkingSet ws;
  ws.init(w, lb, ub);
  double sigma = 0.0;
  const double shift = ra * cov.mean_variance();
  const double tol_w = 1e-14 * std::max(1.0, std::abs(budget));
  Vec h, e, r(n);
  sw.resize(n);
  Certifier certifier;
  SparseProduct sp;
  Vec previous;
  while (out.iterations < max_iter) {
    ws.list_free();
    if (!ws.first_visit()) break;  // a cycle
    ++out.iterations;
    previous = w;
    if (!face_minimiser(cov, block, ra, sigma, shift, c, lb, ub, budget, ws, w, sw, h, e,
                        out.multiplier, sp)) {
      w.swap(previous);  // the free block is singular: the last iterate is the better guess
      break;
    }
    r = ra * sw - c;  // the gradient g
    if (ws.free.empty()) {
      out.multiplier = certifier.certify(w.data(), r.data(), lb.data(), ub.data(), n, budget, 1.0).multiplier;
    }
    const double tol_r = 1e-13 * std::max(r.cwiseAbs().maxCoeff(), 1e-300);
    r.array() += out.multiplier;
    Index moved = update_working_set(ws, w, r, lb, ub, tol_w, tol_r);
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
