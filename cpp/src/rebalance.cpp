#include "microalloc/rebalance.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <cstring>
#include <vector>

#if defined(__AVX2__)
#include <immintrin.h>
#endif

#include "microalloc/check.hpp"
#include "microalloc/projection.hpp"
#include "parallel.hpp"

namespace microalloc {

using detail::check_rows;
using detail::row_of;

double Bands::width(double target, Index i) const noexcept {
  const bool has_abs = absolute.size() > 0, has_rel = relative.size() > 0;
  if (target == 0.0) return has_abs ? absolute[i] : 0.0;
  const double r = has_rel ? relative[i] * std::abs(target) : 0.0;
  if (has_abs && has_rel) return combine_max ? std::max(absolute[i], r) : std::min(absolute[i], r);
  return has_abs ? absolute[i] : r;
}

namespace {

void check_bands_input(const MatRef& weights, const Bands& bands) {
  const Index m = weights.rows(), n = weights.cols();
  check_rows(bands.targets, m, n, "targets", false);
  if (bands.absolute.size() != 0) MICROALLOC_CHECK_SIZE(bands.absolute.size(), n, "absolute");
  if (bands.relative.size() != 0) MICROALLOC_CHECK_SIZE(bands.relative.size(), n, "relative");
}

[[noreturn]] void not_finite(const char* name, Index r, Index i, double value) {
  throw std::invalid_argument(std::string(name) + ": entry [" + std::to_string(r) + ", " + std::to_string(i) +
                              "] is " + std::to_string(value) + " (not finite)");
}

constexpr Index kBlock = 256;  // rows per task (and per GEMM for the tracking error)

/// The band edges t -/+ width of one row of targets, and the inverse widths (inf for a zero
/// width): once they are known, a breach is two comparisons and the loops are branch-free.
struct BandEdges {
  Vec lo, hi, inv_width;

  void set(const Bands& bands, const double* t, Index n) {
    lo.resize(n);
    hi.resize(n);
    inv_width.resize(n);
    for (Index i = 0; i < n; ++i) {
      const double h = bands.width(t[i], i);
      lo[i] = t[i] - h;
      hi[i] = t[i] + h;
      inv_width[i] = h > 0.0 ? 1.0 / h : std::numeric_limits<double>::infinity();
    }
  }

  bool breached(const double* w) const {
    for (Index i = 0; i < lo.size(); ++i) {
      if (w[i] > hi[i] || w[i] < lo[i]) return true;
    }
    return false;
  }
};

/// Per-row statistics of a band check.
struct RowScan {
  std::int64_t count = 0;  ///< weights outside their bands
  double worst = 0.0;      ///< max |w_i - t_i| / width_i (0/0 = 0, x/0 = inf)
  double l1 = 0.0;         ///< sum |w_i - t_i|: not finite iff a weight is not finite
};

/// One row of the band check. The ratio is |w - t| * (1 / width) with 1/0 = inf; the 0 * inf = NaN
/// of an on-target weight with a zero width is dropped by the max (x > NaN is false), which is the
/// 0/0 = 0 convention without a branch. With AVX2 the loop runs four assets per step, the breach
/// mask leaving as four bytes from a table indexed by the comparison's sign bits.
template <bool kWriteBreach>
RowScan scan_row(const double* w, const double* t, const double* lo, const double* hi, const double* inv,
                 Index n, bool* breach) {
  RowScan s;
  Index i = 0;
#if defined(__AVX2__)
  static constexpr std::uint32_t kBytes[16] = {
      0x00000000, 0x00000001, 0x00000100, 0x00000101, 0x00010000, 0x00010001, 0x00010100, 0x00010101,
      0x01000000, 0x01000001, 0x01000100, 0x01000101, 0x01010000, 0x01010001, 0x01010100, 0x01010101};
  const __m256d sign = _mm256_set1_pd(-0.0);
  __m256d l1 = _mm256_setzero_pd(), worst = _mm256_setzero_pd();
  __m256i count = _mm256_setzero_si256();  // minus the sum of the all-ones comparison masks
  for (; i + 4 <= n; i += 4) {
    const __m256d x = _mm256_loadu_pd(w + i);
    const __m256d out_of_band = _mm256_or_pd(_mm256_cmp_pd(x, _mm256_loadu_pd(hi + i), _CMP_GT_OQ),
                                             _mm256_cmp_pd(x, _mm256_loadu_pd(lo + i), _CMP_LT_OQ));
    count = _mm256_sub_epi64(count, _mm256_castpd_si256(out_of_band));
    static_assert(sizeof(bool) == 1, "the breach mask is written as bytes");
    if constexpr (kWriteBreach) {
      std::memcpy(breach + i, &kBytes[_mm256_movemask_pd(out_of_band)], 4);
    }
    const __m256d d = _mm256_andnot_pd(sign, _mm256_sub_pd(x, _mm256_loadu_pd(t + i)));
    l1 = _mm256_add_pd(l1, d);
    worst = _mm256_max_pd(_mm256_mul_pd(d, _mm256_loadu_pd(inv + i)), worst);  // NaN keeps worst
  }
  const __m128d l1_2 = _mm_add_pd(_mm256_castpd256_pd128(l1), _mm256_extractf128_pd(l1, 1));
  s.l1 = _mm_cvtsd_f64(_mm_add_sd(l1_2, _mm_unpackhi_pd(l1_2, l1_2)));
  const __m128d worst_2 = _mm_max_pd(_mm256_castpd256_pd128(worst), _mm256_extractf128_pd(worst, 1));
  s.worst = _mm_cvtsd_f64(_mm_max_sd(worst_2, _mm_unpackhi_pd(worst_2, worst_2)));
  alignas(32) std::int64_t counts[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(counts), count);
  s.count = counts[0] + counts[1] + counts[2] + counts[3];
#endif
  for (; i < n; ++i) {
    const double wi = w[i];
    const bool out_of_band = (wi > hi[i]) | (wi < lo[i]);
    s.count += out_of_band;
    if constexpr (kWriteBreach) breach[i] = out_of_band;
    const double d = std::abs(wi - t[i]);
    s.l1 += d;
    const double ratio = d * inv[i];
    s.worst = ratio > s.worst ? ratio : s.worst;  // NaN keeps worst
  }
  return s;
}

}  // namespace

void check_bands(const MatRef& weights, const Bands& bands, const CovarianceModel* cov, Trigger trigger,
                 double threshold, int threads, const BandCheckOutput& out) {
  const Index m = weights.rows(), n = weights.cols();
  check_bands_input(weights, bands);
  const bool with_te = cov != nullptr;
  if (with_te) MICROALLOC_CHECK_SIZE(cov->size(), n, "cov rows");
  if (trigger == Trigger::TrackingError && !with_te) {
    throw std::invalid_argument("cov: the tracking-error trigger needs a covariance");
  }
  const bool shared = bands.targets.rows() == 1;
  detail::run_workers((m + kBlock - 1) / kBlock, threads, [&](auto take) {
    RowMat drift_block, sd_block;
    // Edges of the current targets, computed once for shared targets.
    BandEdges e;
    auto edges = [&](Index r) { e.set(bands, row_of(bands.targets, r).data(), n); };
    const Vec &lo = e.lo, &hi = e.hi, &inv_width = e.inv_width;
    if (shared) edges(0);
    for (Index c = take(); c >= 0; c = take()) {
      const Index r0 = c * kBlock, r1 = std::min(m, r0 + kBlock);
      if (with_te) drift_block.resize(r1 - r0, n);
      for (Index r = r0; r < r1; ++r) {
        const double* w = weights.data() + r * weights.outerStride();
        if (!shared) edges(r);
        const double* t = bands.targets.data() + (shared ? 0 : r * bands.targets.outerStride());
        bool* breach = out.breach ? out.breach + r * n : nullptr;
        const RowScan s = breach ? scan_row<true>(w, t, lo.data(), hi.data(), inv_width.data(), n, breach)
                                 : scan_row<false>(w, t, lo.data(), hi.data(), inv_width.data(), n, nullptr);
        if (!std::isfinite(s.l1)) {  // NaN or inf somewhere in the row (finite drifts never sum to inf here)
          for (Index i = 0; i < n; ++i) {
            if (!std::isfinite(w[i])) not_finite("weights", r, i, w[i]);
          }
        }
        if (with_te) {
          for (Index i = 0; i < n; ++i) drift_block(r - r0, i) = w[i] - t[i];
        }
        out.n_breaches[r] = s.count;
        out.max_drift[r] = s.worst;
        out.l1_drift[r] = 0.5 * s.l1;
      }
      if (with_te) {
        cov->apply_rows(drift_block, sd_block);
        for (Index r = r0; r < r1; ++r) {
          const double v = drift_block.row(r - r0).dot(sd_block.row(r - r0));
          out.tracking_error[r] = std::sqrt(std::max(v, 0.0));
        }
      }
      for (Index r = r0; r < r1; ++r) {
        out.triggered[r] = trigger == Trigger::AnyBreach ? out.n_breaches[r] > 0
                           : trigger == Trigger::L1Drift ? out.l1_drift[r] > threshold
                                                         : out.tracking_error[r] > threshold;
      }
    }
  });
}

namespace {

/// One row of rebalance(): w -> x.
class RowRebalancer {
 public:
  void run(const double* w, const Eigen::Map<const Vec>& t, const Bands& bands, Index r, Action action,
           double min_trade, double* x) {
    const Index n = t.size();
    lo_.resize(n);
    hi_.resize(n);
    double budget = 0.0, target_sum = 0.0;
    for (Index i = 0; i < n; ++i) {
      const double h = bands.width(t[i], i);
      lo_[i] = t[i] - h;
      if (t[i] >= 0.0) lo_[i] = std::max(lo_[i], 0.0);
      hi_[i] = t[i] + h;
      budget += w[i];
      target_sum += t[i];
    }
    if (!(std::abs(budget - target_sum) <= 1e-9 * std::max(1.0, std::abs(target_sum)))) {
      throw std::invalid_argument("weights: row " + std::to_string(r) + " sums to " + std::to_string(budget) +
                                  " but its targets sum to " + std::to_string(target_sum) +
                                  " (trades must be self-financing)");
    }
    scaled_ = t;
    if (budget != target_sum && target_sum != 0.0) {
      // A rounding-level mismatch: the targets scaled to the weights' sum, so that every action
      // trades to exactly the budget; the band edges too if they no longer contain it.
      const double scale = budget / target_sum;
      scaled_ *= scale;
      if (lo_.sum() > budget || hi_.sum() < budget) {
        lo_ *= scale;
        hi_ *= scale;
      }
    }
    edge_.resize(n);
    if (action != Action::Target) projector_.project(w, nullptr, lo_.data(), hi_.data(), n, budget, edge_.data());
    for (Index i = 0; i < n; ++i) {
      x[i] = action == Action::Target     ? scaled_[i]
             : action == Action::BandEdge ? edge_[i]
                                          : 0.5 * (edge_[i] + scaled_[i]);
    }
    if (min_trade > 0.0) skip_small_trades(w, n, budget, min_trade, x);
  }

 private:
  /// Holdings inside their bands whose trade is below min_trade are held (lb = ub = w_i); the
  /// others are re-projected, least squares from the action's answer, until nothing changes.
  void skip_small_trades(const double* w, Index n, double budget, double min_trade, double* x) {
    lb_ = lo_;
    ub_ = hi_;
    held_.assign(static_cast<std::size_t>(n), 0);
    for (Index round = 0; round < n; ++round) {
      bool added = false;
      double lb_sum = 0.0, ub_sum = 0.0;
      std::vector<Index> fresh;
      for (Index i = 0; i < n; ++i) {
        const double d = std::abs(x[i] - w[i]);
        if (!held_[static_cast<std::size_t>(i)] && d > 0.0 && d < min_trade && w[i] >= lo_[i] && w[i] <= hi_[i]) {
          fresh.push_back(i);
          added = true;
        }
      }
      if (!added) return;
      for (Index i : fresh) {
        held_[static_cast<std::size_t>(i)] = 1;
        lb_[i] = ub_[i] = w[i];
      }
      for (Index i = 0; i < n; ++i) {
        lb_sum += lb_[i];
        ub_sum += ub_[i];
      }
      const double slack = 1e-12 * std::max(1.0, std::abs(budget));
      if (lb_sum > budget + slack || ub_sum < budget - slack) {
        // The others cannot absorb the skipped trades within their bands: keep these trades.
        for (Index i : fresh) {
          held_[static_cast<std::size_t>(i)] = 0;
          lb_[i] = lo_[i];
          ub_[i] = hi_[i];
        }
        return;
      }
      from_.assign(x, x + n);
      projector_.project(from_.data(), nullptr, lb_.data(), ub_.data(), n, budget, x);
      for (Index i = 0; i < n; ++i) {
        if (held_[static_cast<std::size_t>(i)]) x[i] = w[i];  // exactly no trade
      }
    }
  }

  BoxBudgetProjector projector_;
  Vec lo_, hi_, lb_, ub_, edge_, scaled_;
  std::vector<double> from_;
  std::vector<char> held_;
};

}  // namespace

void rebalance(const MatRef& weights, const Bands& bands, const bool* trade_rows, Action action,
               double min_trade, int threads, double* new_weights, double* trades) {
  const Index m = weights.rows(), n = weights.cols();
  check_bands_input(weights, bands);
  detail::run_workers((m + kBlock - 1) / kBlock, threads, [&](auto take) {
    RowRebalancer row;
    for (Index c = take(); c >= 0; c = take()) {
      for (Index r = c * kBlock; r < std::min(m, (c + 1) * kBlock); ++r) {
        const double* w = weights.data() + r * weights.outerStride();
        double* x = new_weights + r * n;
        if (trade_rows && !trade_rows[r]) {
          std::copy(w, w + n, x);
        } else {
          row.run(w, row_of(bands.targets, r), bands, r, action, min_trade, x);
        }
        if (trades) {
          for (Index i = 0; i < n; ++i) trades[r * n + i] = x[i] - w[i];
        }
      }
    }
  });
}

void drift(const MatRef& weights, const MatRef& returns, int threads, double* out) {
  const Index m = weights.rows(), n = weights.cols();
  check_rows(returns, m, n, "returns", false);
  detail::run_workers((m + kBlock - 1) / kBlock, threads, [&](auto take) {
    for (Index c = take(); c >= 0; c = take()) {
      for (Index r = c * kBlock; r < std::min(m, (c + 1) * kBlock); ++r) {
        const double* w = weights.data() + r * weights.outerStride();
        const auto ret = row_of(returns, r);
        double* x = out + r * n;
        double growth = 0.0, budget = 0.0;
        for (Index i = 0; i < n; ++i) {
          x[i] = w[i] * (1.0 + ret[i]);
          growth += x[i];
          budget += w[i];
        }
        if (!(budget > 0.0)) {
          throw std::invalid_argument("weights: portfolio " + std::to_string(r) + " sums to " + std::to_string(budget) +
                                      "; drift needs a positive total");
        }
        if (!(growth > 0.0)) {
          throw std::invalid_argument("returns: portfolio " + std::to_string(r) +
                                      " has no positive value left after the returns (1 + w'r = " +
                                      std::to_string(growth) + ")");
        }
        const double scale = budget / growth;  // the weights keep their sum
        for (Index i = 0; i < n; ++i) x[i] *= scale;
      }
    }
  });
}

}  // namespace microalloc

namespace microalloc {

void backtest(const MatRef& prices, const VecRef& targets, const std::vector<Policy>& policies, const Costs& costs,
              int threads, const BacktestOutput& out, Progress* progress) {
  const Index T = prices.rows(), n = prices.cols();
  MICROALLOC_CHECK_SIZE(targets.size(), n, "targets");
  MICROALLOC_CHECK_SIZE(costs.proportional.size(), n, "costs");
  MICROALLOC_CHECK_SIZE(costs.impact.size(), n, "impact");
  const Index np = static_cast<Index>(policies.size());
  const RowMat target_row = targets.transpose();
  constexpr Index kDays = 64;  // days between checkpoints
  if (progress != nullptr) progress->set_total(np * T);
  detail::run_workers(np, threads, progress, [&](auto take) {
    RowRebalancer rebalancer;
    BandEdges edges;
    Vec w(n), x(n);
    for (Index p = take(); p >= 0; p = take()) {
      const Policy& pol = policies[static_cast<std::size_t>(p)];
      if (pol.absolute.size() != 0) MICROALLOC_CHECK_SIZE(pol.absolute.size(), n, "absolute");
      if (pol.relative.size() != 0) MICROALLOC_CHECK_SIZE(pol.relative.size(), n, "relative");
      const Bands bands{target_row, pol.absolute, pol.relative, pol.combine_max};
      edges.set(bands, targets.data(), n);
      double* values = out.values + p * T;
      std::int64_t rebalances = 0;
      double turnover = 0.0, paid = 0.0, kept = 0.0, value = 1.0;
      w = targets;
      if (T > 0) values[0] = value;
      for (Index d = 1; d < T; ++d) {
        if (progress != nullptr && d % kDays == 0) {
          progress->add(kDays);
          if (!progress->poll()) return;  // stopped: the outputs are discarded
        }
        // Drift: the holdings are fixed between trades, the weights move with the prices.
        double growth = 0.0;
        for (Index i = 0; i < n; ++i) {
          w[i] *= prices(d, i) / prices(d - 1, i);
          growth += w[i];
        }
        value *= growth;
        w /= growth;
        const bool check = pol.kind != Policy::Kind::BuyAndHold && (!pol.check_days || pol.check_days[d]);
        bool trade = false;
        if (check && pol.kind == Policy::Kind::Calendar) {
          x = targets;
          trade = true;
        } else if (check) {
          trade = edges.breached(w.data());
          if (trade) rebalancer.run(w.data(), Eigen::Map<const Vec>(targets.data(), n), bands, p, pol.action, pol.min_trade, x.data());
        }
        if (trade) {
          double one_way = 0.0, cost = 0.0;
          for (Index i = 0; i < n; ++i) {
            const double a = std::abs(x[i] - w[i]);
            one_way += a;
            cost += costs.proportional[i] * a + costs.impact[i] * a * std::sqrt(a);
          }
          if (one_way > 0.0) {
            ++rebalances;
            turnover += 0.5 * one_way;
            paid += value * cost;
            kept += std::log1p(-cost);
            value *= 1.0 - cost;
            w.swap(x);
          }
        }
        values[d] = value;
      }
      out.rebalances[p] = rebalances;
      out.turnover[p] = turnover;
      out.costs[p] = paid;
      if (out.log_kept) out.log_kept[p] = kept;
      if (progress != nullptr) progress->add(T - (T - 1) / kDays * kDays);
    }
  });
  if (progress != nullptr) progress->finish();
}

}  // namespace microalloc
