#include "microalloc/risk.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <exception>
#include <limits>
#include <stdexcept>
#include <thread>
#include <vector>

#include "microalloc/check.hpp"

namespace microalloc {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

void check_rows(const MatRef& a, Index m, Index n, const char* name) {
  if (a.rows() == 0 && a.cols() == 0) return;
  if (a.cols() != n || !(a.rows() == 1 || a.rows() == m)) {
    throw std::invalid_argument(std::string(name) + ": expected 1 x n or m x n");
  }
}

Eigen::Map<const Vec> row_of(const MatRef& a, Index i) {
  const Index r = a.rows() == 1 ? 0 : i;
  return Eigen::Map<const Vec>(a.data() + r * a.outerStride(), a.cols());
}

/// |sum| small against the sum of |terms|: the ratio of a term to the sum is undefined.
bool vanishing(double sum, double abs_sum) { return !(std::abs(sum) > kVanishing * abs_sum); }

/// sigma, marginal, component and percent of one row from x (weights) and s_x = S x.
double decompose_row(const double* x, const double* sx, Index n, double* marginal, double* component,
                     double* percent) {
  double var = 0.0, abs_var = 0.0;
  for (Index i = 0; i < n; ++i) {
    const double t = x[i] * sx[i];
    var += t;
    abs_var += std::abs(t);
  }
  const bool zero = vanishing(var, abs_var) || var <= 0.0;
  const double sigma = zero ? 0.0 : std::sqrt(var);
  const double inv_s = zero ? kNaN : 1.0 / sigma;
  const double inv_v = zero ? kNaN : 1.0 / var;
  for (Index i = 0; i < n; ++i) {
    const double t = x[i] * sx[i];
    marginal[i] = sx[i] * inv_s;
    component[i] = zero ? 0.0 : t * inv_s;
    percent[i] = t * inv_v;
  }
  return sigma;
}

}  // namespace

RiskDecomposition decompose_risk(const RiskInput& in, int threads) {
  const Index n = in.cov.rows();
  const Index m = in.weights.rows();
  MICROALLOC_CHECK_SIZE(in.cov.cols(), n, "cov columns");
  MICROALLOC_CHECK_SIZE(in.weights.cols(), n, "weights columns");
  check_rows(in.benchmark, m, n, "benchmark");
  check_rows(in.expected_returns, m, n, "expected_returns");
  const bool active = in.benchmark.size() > 0;
  const bool alpha = active && in.expected_returns.size() > 0;

  RiskDecomposition out;
  out.volatility.resize(m);
  out.marginal.resize(m, n);
  out.component.resize(m, n);
  out.percent.resize(m, n);
  if (active) {
    out.tracking_error.resize(m);
    out.active_marginal.resize(m, n);
    out.active_component.resize(m, n);
    out.active_percent.resize(m, n);
  }
  if (alpha) {
    out.active_return.resize(m);
    out.active_return_contribution.resize(m, n);
    out.efficiency.resize(m, n);
  }
  if (m == 0 || n == 0) return out;

  // S b once when the benchmark is shared: S a = S w - S b.
  Vec sb;
  if (active && in.benchmark.rows() == 1) sb.noalias() = in.cov * row_of(in.benchmark, 0);

  auto work = [&](Index r0, Index r1) {
    if (r0 >= r1) return;
    // M = W S for these rows (S symmetric: rows of M are (S w)').
    RowMat mw(r1 - r0, n);
    mw.noalias() = in.weights.middleRows(r0, r1 - r0) * in.cov;
    Vec a(n), sa(n);
    for (Index i = r0; i < r1; ++i) {
      const Index k = i - r0;
      const double* w = in.weights.row(i).data();
      const double* sw = mw.row(k).data();
      out.volatility[i] = decompose_row(w, sw, n, out.marginal.row(i).data(), out.component.row(i).data(),
                                        out.percent.row(i).data());
      if (!active) continue;
      const auto b = row_of(in.benchmark, i);
      a = Eigen::Map<const Vec>(w, n) - b;
      if (sb.size() == n) {
        sa = Eigen::Map<const Vec>(sw, n) - sb;
      } else {
        sa.noalias() = in.cov * a;
      }
      const double te = decompose_row(a.data(), sa.data(), n, out.active_marginal.row(i).data(),
                                      out.active_component.row(i).data(), out.active_percent.row(i).data());
      out.tracking_error[i] = te;
      if (!alpha) continue;
      const auto al = row_of(in.expected_returns, i);
      double ar = 0.0, abs_ar = 0.0;
      for (Index j = 0; j < n; ++j) {
        const double t = a[j] * al[j];
        out.active_return_contribution(i, j) = t;
        ar += t;
        abs_ar += std::abs(t);
      }
      out.active_return[i] = ar;
      const bool undefined = vanishing(ar, abs_ar) || te == 0.0;
      for (Index j = 0; j < n; ++j) {
        out.efficiency(i, j) = undefined ? kNaN : out.active_return_contribution(i, j) / ar - out.active_percent(i, j);
      }
    }
  };
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  // Rows in fixed blocks of kBlock (one GEMM each), taken by the threads in turn: the blocking,
  // hence every rounding, does not depend on the thread count.
  constexpr Index kBlock = 64;
  const Index blocks = (m + kBlock - 1) / kBlock;
  const Index t = std::max<Index>(1, std::min<Index>(threads, blocks));
  std::atomic<Index> next{0};
  std::vector<std::exception_ptr> errors(static_cast<std::size_t>(t));
  auto run = [&](Index id) {
    try {
      for (Index c = next.fetch_add(1); c < blocks; c = next.fetch_add(1)) {
        work(c * kBlock, std::min(m, (c + 1) * kBlock));
      }
    } catch (...) {
      errors[static_cast<std::size_t>(id)] = std::current_exception();  // rethrown after the join
    }
  };
  std::vector<std::thread> pool;
  for (Index c = 1; c < t; ++c) pool.emplace_back(run, c);
  run(0);
  for (auto& th : pool) th.join();
  for (auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }
  return out;
}

}  // namespace microalloc
