#include "microalloc/covariance.hpp"

#include <Eigen/Cholesky>
#include <Eigen/Eigenvalues>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <thread>
#include <vector>

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

namespace {

/// The exact first offending entry, in row order (the slow path, run only after a failed check).
CovarianceReport locate_issue(const MatRef& cov, double symmetry_tol) noexcept {
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

constexpr int kTile = 64;

constexpr int kKeys = 64;

std::uint64_t splitmix(std::uint64_t z) noexcept {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/// Fixed keys of the fingerprint: integer keys and floating-point weights in [1, 2).
struct HashKeys {
  std::uint64_t k[kKeys];
  double r[kKeys];
  HashKeys() {
    std::uint64_t x = 0x9E3779B97F4A7C15ull;
    for (int t = 0; t < kKeys; ++t) {
      k[t] = splitmix(x += 0x9E3779B97F4A7C15ull);
      r[t] = 1.0 + static_cast<double>(splitmix(x += 0x9E3779B97F4A7C15ull) >> 11) * 0x1.0p-53;
    }
  }
};

}  // namespace

CovarianceReport inspect_covariance(const MatRef& cov, double symmetry_tol) noexcept {
  CovarianceReport rep;
  const Index n = cov.rows();
  Vec sd(n);
  double trace = 0.0;
  for (Index i = 0; i < n; ++i) {
    const double d = cov(i, i);
    if (!(d > 0.0) || !std::isfinite(d)) return locate_issue(cov, symmetry_tol);
    trace += d;
    rep.max_variance = std::max(rep.max_variance, d);
    sd[i] = std::sqrt(d);
  }
  rep.mean_variance = n > 0 ? trace / static_cast<double>(n) : 0.0;
  // Tile pairs (I, J), J >= I: the lower tile S[J, I] is copied transposed into `bt` (contiguous
  // reads), then compared with the upper tile S[I, J] row by row. Each entry is read once from
  // memory and hashed once. The checks are max-reductions (vectorisable); a NaN or infinity
  // turns `finite` into NaN.
  const double* base = cov.data();
  const Index stride = cov.outerStride();
  alignas(64) double bt[kTile][kTile];
  std::int64_t any_bad = 0;
  constexpr double kMaxFinite = std::numeric_limits<double>::max();
  const double corr_slack = 1.0 + 1e-12;
  for (Index i0 = 0; i0 < n; i0 += kTile) {
    const int ni = static_cast<int>(std::min<Index>(kTile, n - i0));
    for (Index j0 = i0; j0 < n; j0 += kTile) {
      const int nj = static_cast<int>(std::min<Index>(kTile, n - j0));
      const bool diag_tile = j0 == i0;
      // lower tile rows j0.., columns i0.. (for the diagonal tile: its strict lower part is
      // compared; it is hashed with the upper part below, so skip hashing here)
      for (int r = 0; r < nj; ++r) {
        const double* src = base + (j0 + r) * stride + i0;
        for (int c = 0; c < ni; ++c) bt[c][r] = src[c];
      }
      for (int r = 0; r < ni; ++r) {
        const Index i = i0 + r;
        const double* a = base + i * stride + j0;
        const double* b = bt[r];
        const int start = diag_tile ? r + 1 : 0;  // strict upper part against the lower
        const double sdi = sd[i];
        const double* sdj = sd.data() + j0;
        const Index len = nj - start;
        if (len > 0) {
          // Max-reductions that propagate NaN (a NaN or infinite entry makes one of them NaN or
          // positive); Eigen vectorises them.
          const Eigen::Map<const Eigen::ArrayXd> x(a + start, len), y(b + start, len), sj(sdj + start, len);
          const double sym = ((x - y).abs() - (symmetry_tol * sdi) * sj).maxCoeff<Eigen::PropagateNaN>();
          const double cor = (x.abs() - (corr_slack * sdi) * sj).maxCoeff<Eigen::PropagateNaN>();
          const double yf = (y - y).maxCoeff<Eigen::PropagateNaN>();
          if (!(sym <= 0.0) || !(cor <= 0.0) || !(yf == 0.0)) any_bad = 1;
        }
      }
    }
  }
  if (any_bad != 0) {
    return locate_issue(cov, symmetry_tol);
  }
  return rep;
}

namespace {

/// Per-row pieces of the fingerprint (row order does not matter for the combination, which is
/// done sequentially afterwards, so the result does not depend on the thread count).
void fingerprint_rows(const double* base, Index stride, Index n, Index r0, Index r1,
                      std::uint64_t* ints, double* floats) noexcept {
  static const HashKeys keys;
  for (Index i = r0; i < r1; ++i) {
    const double* row = base + i * stride;
    const std::uint64_t salt = splitmix(static_cast<std::uint64_t>(i) + 0x632BE59BD9B4E019ull);
    std::uint64_t a2 = 0;
    double a3[2] = {0.0, 0.0};
    for (Index j0 = 0; j0 < n; j0 += kKeys) {
      const int len = static_cast<int>(std::min<Index>(kKeys, n - j0));
      const double* x = row + j0;
      const std::uint64_t s2 = salt + static_cast<std::uint64_t>(j0);
      int t = 0;
      for (; t + 2 <= len; t += 2) {
        std::uint64_t b0, b1;
        std::memcpy(&b0, x + t, 8);
        std::memcpy(&b1, x + t + 1, 8);
        a2 += (b0 ^ (keys.k[t] + s2)) + (b1 ^ (keys.k[t + 1] + s2));
        a3[0] += x[t] * keys.r[t];
        a3[1] += x[t + 1] * keys.r[t + 1];
      }
      if (t < len) {
        std::uint64_t b0;
        std::memcpy(&b0, x + t, 8);
        a2 += b0 ^ (keys.k[t] + s2);
        a3[0] += x[t] * keys.r[t];
      }
    }
    ints[i] = a2;
    floats[i] = a3[0] + a3[1];
  }
}

}  // namespace

Fingerprint fingerprint(const MatRef& cov) noexcept {
  const Index n = cov.rows();
  std::vector<std::uint64_t> ints(static_cast<std::size_t>(n));
  std::vector<double> floats(static_cast<std::size_t>(n));
  const Index half = n / 2;
  if (n >= 512) {
    // Large matrices: two threads, one per half of the rows (memory-bound pass).
    std::thread worker(fingerprint_rows, cov.data(), cov.outerStride(), n, half, n, ints.data(), floats.data());
    fingerprint_rows(cov.data(), cov.outerStride(), n, 0, half, ints.data(), floats.data());
    worker.join();
  } else {
    fingerprint_rows(cov.data(), cov.outerStride(), n, 0, n, ints.data(), floats.data());
  }
  std::uint64_t h1 = 0, h2 = 0;
  double h3 = 0.0;
  for (Index i = 0; i < n; ++i) {
    const std::uint64_t salt = splitmix(static_cast<std::uint64_t>(i) + 0x632BE59BD9B4E019ull);
    h1 += ints[i] * (salt | 1u);
    h2 ^= splitmix(ints[i] + salt);
    h3 += (1.0 + static_cast<double>(salt >> 11) * 0x1.0p-53) * floats[i];
  }
  Fingerprint fp;
  std::uint64_t h3bits;
  std::memcpy(&h3bits, &h3, sizeof h3bits);
  fp.h[0] = splitmix(h1 ^ splitmix(static_cast<std::uint64_t>(n)));
  fp.h[1] = splitmix(h2 + 0x9E3779B97F4A7C15ull * static_cast<std::uint64_t>(n));
  fp.h[2] = h3bits;
  return fp;
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
