// The dense covariance model (S given entry by entry) and its free block: the updated Cholesky
// factor of Ht_FF = ra S_FF + sigma 11' that the active-set solver and the frontier follow along
// their paths (docs/methods.md §2 and §4).
#include <algorithm>
#include <cmath>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <Eigen/Cholesky>

#include "cholesky_update.hpp"
#include "microalloc/check.hpp"
#include "coordinate_pass.hpp"
#include "microalloc/covariance_model.hpp"

namespace microalloc {

double CovarianceModel::mean_variance() const noexcept {
  const Vec& d = diagonal();
  const Index n = d.size();
  if (n == 0) return 0.0;
  double sum = 0.0;
  for (Index i = 0; i < n; ++i) sum += d[i];  // index order: the same scale for every model
  return sum / static_cast<double>(n);
}

void CovarianceModel::add_columns(const Index* cols, Index m, const MatRef& c,
                                  Eigen::Ref<Eigen::MatrixXd> y) const {
  for (Index r = 0; r < m; ++r) {
    for (Index q = 0; q < c.cols(); ++q) {
      if (c(r, q) != 0.0) add_column(cols[r], c(r, q), y.col(q));
    }
  }
}

MatRef dense_entries(const CovarianceModel& cov, RowMat& storage, Index max_copy) {
  if (const auto* dense = dynamic_cast<const DenseCovariance*>(&cov)) return dense->matrix();
  const Index n = cov.size();
  if (n > max_copy) {
    throw std::invalid_argument("cov: this method needs the covariance as a dense matrix, and a model of " +
                                std::to_string(n) + " assets is copied as one only up to " +
                                std::to_string(max_copy) + " assets");
  }
  storage.resize(n, n);
  std::vector<Index> all(static_cast<std::size_t>(n));
  for (Index i = 0; i < n; ++i) all[static_cast<std::size_t>(i)] = i;
  cov.gather(all.data(), n, all.data(), n, storage.data(), n);
  return storage;
}

namespace {

// Factor updates (insertions and deletions) between factorisations from scratch: a deletion's
// rotations add rounding of the order of the last pivots each time, so the factor is rebuilt
// before that can build up (64 updates cost about as much as one factorisation for k ~ 100).
constexpr int kRefactorPeriod = 64;
// A squared pivot rho^2 = Ht_jj - |L^{-1} Ht_Fj|^2 below this fraction of Ht_jj counts as zero:
// Ht_{F+j} is singular. rho^2 is a difference whose rounding is about k u Ht_jj (u = 1.1e-16; k
// terms in the squared norm), i.e. up to 1e-13 Ht_jj for the k ~ 1000 free assets of the largest
// blocks we solve: 1e-12 keeps a rounding-level pivot from being taken for curvature, where 1e-13
// (the frontier's former value) could, and a rounding-level pivot makes a solve with the factor
// meaningless. Both suites pass with 1e-12 (the active set always used it).
constexpr double kPivotTol = 1e-12;
// rho^2 below -this fraction of Ht_jj is negative beyond rounding: S is not PSD on the face.
constexpr double kNegativePivotTol = 1e-8;
// assign() updates the factor (a removal or an append per change, each O(k^2) element moves and
// rotations, at a far lower rate than a blocked factorisation's O(k^3 / 3)) when at most k /
// kUpdateDivisor assets change, else it factors from scratch.
constexpr Index kUpdateDivisor = 64;

/// Ht_FF = L L', L in the lower triangle of the leading k x k block of a larger, column-major
/// matrix (its capacity grows by doubling, up to n, so appends rarely reallocate).
class DenseFreeBlock final : public FreeBlock {
  // (first: deduced return type)
  auto lower() const { return fac_.topLeftCorner(k_, k_).triangularView<Eigen::Lower>(); }
  /// L' (a view).
  auto upper() const { return fac_.topLeftCorner(k_, k_).transpose().triangularView<Eigen::Upper>(); }

 public:
  explicit DenseFreeBlock(const DenseCovariance& cov)
      : cov_(&cov), where_(static_cast<std::size_t>(cov.size()), -1) {}

  bool reset(const std::vector<Index>& assets, double ra, double sigma) override {
    ra_ = ra;
    sigma_ = sigma;
    for (Index i : free_) where_[static_cast<std::size_t>(i)] = -1;
    free_.reserve(static_cast<std::size_t>(cov_->size()));
    free_ = assets;
    order_.clear();
    for (std::size_t t = 0; t < free_.size(); ++t) where_[static_cast<std::size_t>(free_[t])] = static_cast<Index>(t);
    k_ = 0;  // nothing to keep: reserve() copies only the leading k x k block
    // Room for a few appends after a warm start without a reallocation.
    const Index k = static_cast<Index>(free_.size());
    reserve(std::max(k, std::min<Index>(cov_->size(), std::max<Index>(16, k + 8))));
    k_ = k;
    if (!factor()) {
      clear();
      return false;
    }
    return true;
  }

  /// Few changes: the assets that went are removed and those that came appended (the factor's
  /// own order then differs from `assets`, and order_ maps one to the other); else reset().
  bool assign(const std::vector<Index>& assets, double ra, double sigma) override {
    if (ra != ra_ || sigma != sigma_) return reset(assets, ra, sigma);
    Index stay = 0;
    for (Index i : assets) stay += where_[static_cast<std::size_t>(i)] >= 0;
    const Index changes = (k_ - stay) + (static_cast<Index>(assets.size()) - stay);
    if (changes == 0 && order_.empty() && assets == free_) return true;
    if (kUpdateDivisor * changes > k_) return reset(assets, ra, sigma);
    std::vector<char> keep(static_cast<std::size_t>(k_), 0);
    for (Index i : assets) {
      const Index t = where_[static_cast<std::size_t>(i)];
      if (t >= 0) keep[static_cast<std::size_t>(t)] = 1;
    }
    for (Index t = k_ - 1; t >= 0; --t) {  // from the back: the positions before t stay valid
      if (!keep[static_cast<std::size_t>(t)] && !remove_internal(t)) return reset(assets, ra, sigma);
    }
    Vec dir;
    for (Index i : assets) {
      if (where_[static_cast<std::size_t>(i)] < 0 && append_internal(i, dir) != Append::Ok) {
        return reset(assets, ra, sigma);
      }
    }
    order_.resize(assets.size());
    for (std::size_t t = 0; t < assets.size(); ++t) order_[t] = where_[static_cast<std::size_t>(assets[t])];
    return true;
  }

  Append append(Index j, Vec& dir) override {
    const Append a = append_internal(j, dir);
    if (order_.empty()) return a;
    if (a == Append::Ok) {
      order_.push_back(k_ - 1);
    } else {
      to_caller(dir);
    }
    return a;
  }

  bool remove(Index pos) override {
    if (order_.empty()) return remove_internal(pos);
    const Index t = order_[static_cast<std::size_t>(pos)];
    order_.erase(order_.begin() + pos);
    for (auto& o : order_) o -= (o > t);
    return remove_internal(t);
  }

  void solve(Eigen::Ref<Vec> x) const override {
    if (k_ == 0) return;
    if (order_.empty()) {
      lower().solveInPlace(x);
      upper().solveInPlace(x);
      return;
    }
    Vec y(k_);
    for (Index t = 0; t < k_; ++t) y[order_[static_cast<std::size_t>(t)]] = x[t];
    lower().solveInPlace(y);
    upper().solveInPlace(y);
    for (Index t = 0; t < k_; ++t) x[t] = y[order_[static_cast<std::size_t>(t)]];
  }

  Index size() const noexcept override { return k_; }
  int factorizations() const noexcept override { return factorizations_; }

 private:
  double ht(Index i, Index j) const { return ra_ * cov_->matrix()(i, j) + sigma_; }

  void clear() {
    for (Index i : free_) where_[static_cast<std::size_t>(i)] = -1;
    free_.clear();
    order_.clear();
    k_ = 0;
  }

  /// A vector in the factor's order put in the caller's.
  void to_caller(Vec& v) const {
    const Vec internal = v;
    for (Index t = 0; t < k_; ++t) v[t] = internal[order_[static_cast<std::size_t>(t)]];
  }

  Append append_internal(Index j, Vec& dir) {
    // q = L^{-1} Ht_Fj from row j (S symmetric: row j is column j, contiguous).
    const auto row = cov_->matrix().row(j);
    dir.resize(k_);
    for (Index t = 0; t < k_; ++t) dir[t] = ra_ * row(free_[static_cast<std::size_t>(t)]) + sigma_;
    if (k_ > 0) lower().solveInPlace(dir);
    const double diag = ht(j, j);
    const double rho2 = diag - dir.squaredNorm();
    if (!(rho2 > kPivotTol * diag)) {
      // Ht_FF^{-1} Ht_Fj = L'^{-1} q.
      if (k_ > 0) upper().solveInPlace(dir);
      return rho2 < -kNegativePivotTol * diag ? Append::NegativeCurvature : Append::Singular;
    }
    reserve(k_ + 1);
    for (Index t = 0; t < k_; ++t) fac_(k_, t) = dir[t];
    fac_(k_, k_) = std::sqrt(rho2);
    free_.push_back(j);
    where_[static_cast<std::size_t>(j)] = k_;
    ++k_;
    ++updates_;
    return Append::Ok;
  }

  bool remove_internal(Index pos) {
    detail::cholesky_remove(fac_, k_, pos, v_);
    where_[static_cast<std::size_t>(free_[static_cast<std::size_t>(pos)])] = -1;
    free_.erase(free_.begin() + pos);
    for (auto t = static_cast<std::size_t>(pos); t < free_.size(); ++t) --where_[static_cast<std::size_t>(free_[t])];
    --k_;
    // Only deletions refresh: appends compute the new row exactly as a factorisation from
    // scratch would, deletions accumulate the rounding of their rotations.
    if (++updates_ < kRefactorPeriod) return true;
    if (factor()) return true;
    clear();
    return false;
  }

  void reserve(Index cap) {
    if (fac_.rows() >= cap) return;
    const Index nc =
        std::max<Index>(cap, std::min<Index>(cov_->size(), std::max<Index>(16, 2 * fac_.rows())));
    Eigen::MatrixXd nf(nc, nc);
    nf.topLeftCorner(k_, k_) = fac_.topLeftCorner(k_, k_);
    fac_.swap(nf);
  }

  /// Factors Ht_FF for F = free_ (k_ assets) from scratch, built and factorised in place in the
  /// factor's storage; false if it is not numerically positive definite.
  bool factor() {
    ++factorizations_;
    updates_ = 0;
    if (k_ == 0) return true;
    const MatRef& s = cov_->matrix();
    auto a = fac_.topLeftCorner(k_, k_);
    for (Index r = 0; r < k_; ++r) {
      const auto row = s.row(free_[static_cast<std::size_t>(r)]);
      for (Index t = 0; t <= r; ++t) a(r, t) = ra_ * row(free_[static_cast<std::size_t>(t)]) + sigma_;
    }
    Eigen::LLT<Eigen::Ref<Eigen::MatrixXd>, Eigen::Lower> llt(a);
    if (llt.info() != Eigen::Success) return false;
    for (Index t = 0; t < k_; ++t) {
      const Index i = free_[static_cast<std::size_t>(t)];
      if (!(a(t, t) * a(t, t) > kPivotTol * ht(i, i))) return false;
    }
    return true;
  }

  const DenseCovariance* cov_;
  double ra_ = 1.0;
  double sigma_ = 0.0;
  std::vector<Index> free_;    // F in the factor's order
  std::vector<Index> where_;   // per asset: its position in free_, or -1
  std::vector<Index> order_;   // after an updating assign(): position in free_ of the caller's t-th
                               // asset (empty: the same order)
  Eigen::MatrixXd fac_;
  Index k_ = 0;
  int updates_ = 0;
  int factorizations_ = 0;
  Vec v_;  // workspace of cholesky_remove
};

/// C = D^{-1} S_PP D^{-1} gathered (k x k, column-major: a move reads one contiguous column) and
/// u = C y kept whole: O(k) per move, O(k^2) per product, Newton by a dense Cholesky
/// factorisation (O(k^3)).
class DenseBlockTracker final : public CoordinateTracker {
 public:
  DenseBlockTracker(const CovarianceModel& cov, const std::vector<Index>& assets, const Vec& divisors) {
    const Index k = static_cast<Index>(assets.size());
    MICROALLOC_CHECK_SIZE(divisors.size(), k, "divisors");
    // A row of S_PP at a time (S is symmetric: row r is column r), scaled as it is copied.
    c_.resize(k, k);
    Vec row(k);
    for (Index r = 0; r < k; ++r) {
      cov.gather(&assets[static_cast<std::size_t>(r)], 1, assets.data(), k, row.data(), k);
      for (Index t = 0; t < k; ++t) c_(t, r) = row[t] / (divisors[r] * divisors[t]);
    }
    u_ = Vec::Zero(k);
  }

  Index size() const noexcept override { return c_.rows(); }
  double diagonal(Index t) const override { return c_(t, t); }
  void reset(const Vec& y) override { u_.noalias() = c_ * y; }
  void rescale(double s) override { u_ *= s; }
  double value(Index t, double) const override { return u_[t]; }
  void move(Index t, double delta) override { u_.noalias() += delta * c_.col(t); }
  const Vec& product() const noexcept override { return u_; }
  void spinu_pass(const Vec& cdiag, const Vec& b, Vec& y) override { detail::spinu_pass(*this, cdiag, b, y); }
  void apply(const Vec& y, Vec& out) const override { out.noalias() = c_ * y; }

  void abs_apply(const Vec& y, Vec& out) const override {
    out = Vec::Zero(c_.rows());
    for (Index t = 0; t < c_.rows(); ++t) out.noalias() += std::abs(y[t]) * c_.col(t).cwiseAbs();
  }

  bool solve_shifted(const Vec& h, const Vec& g, Vec& x) const override {
    Eigen::MatrixXd a = c_;
    a.diagonal() += h;
    Eigen::LLT<Eigen::MatrixXd> llt(a);
    if (llt.info() != Eigen::Success) return false;
    x = llt.solve(g);
    return true;
  }

  double solve_cost() const noexcept override { return static_cast<double>(c_.rows()) / 3.0; }
  bool dense_solve() const noexcept override { return true; }

 private:
  Eigen::MatrixXd c_;
  Vec u_;
};

}  // namespace

DenseCovariance::DenseCovariance(const MatRef& cov) : cov_(cov) {
  MICROALLOC_CHECK_SIZE(cov.cols(), cov.rows(), "cov columns");
  diag_ = cov_.diagonal();
}

void DenseCovariance::apply(const VecRef& x, Eigen::Ref<Vec> y) const { y.noalias() = cov_ * x; }

void DenseCovariance::apply_rows(const MatRef& x, RowMat& y) const {
  y.resize(x.rows(), cov_.cols());
  y.noalias() = x * cov_;
}

void DenseCovariance::add_column(Index j, double alpha, Eigen::Ref<Vec> y) const {
  y.noalias() += alpha * cov_.row(j).transpose();  // S symmetric: row j is column j, contiguous
}

void DenseCovariance::add_columns(const Index* cols, Index m, const MatRef& c,
                                  Eigen::Ref<Eigen::MatrixXd> y) const {
  const Index p = c.cols();
  for (Index r = 0; r < m; ++r) {
    const auto col = cov_.row(cols[r]).transpose();  // row j is column j, contiguous
    for (Index q = 0; q < p; ++q) {
      if (c(r, q) != 0.0) y.col(q).noalias() += c(r, q) * col;
    }
  }
}

void DenseCovariance::gather(const Index* rows, Index nr, const Index* cols, Index nc, double* out,
                             Index ld) const {
  for (Index r = 0; r < nr; ++r) {
    const double* row = cov_.row(rows[r]).data();
    double* o = out + r * ld;
    for (Index c = 0; c < nc; ++c) o[c] = row[cols[c]];
  }
}

void DenseCovariance::rows_of_product(const Vec& x, const Index* support, Index m, const Index* rows,
                                      Index nr, double* out) const {
  for (Index t = 0; t < nr; ++t) {
    const double* row = cov_.row(rows[t]).data();
    double sum = 0.0;
    for (Index k = 0; k < m; ++k) sum += row[support[k]] * x[support[k]];
    out[t] = sum;
  }
}

double DenseCovariance::quadratic(const VecRef& x) const {
  const Vec sx = cov_ * x;
  return std::max(x.dot(sx), 0.0);
}

std::unique_ptr<CoordinateTracker> CovarianceModel::coordinate_tracker(const std::vector<Index>& assets,
                                                                       const Vec& divisors) const {
  return std::make_unique<DenseBlockTracker>(*this, assets, divisors);
}

std::unique_ptr<FreeBlock> DenseCovariance::free_block() const {
  return std::make_unique<DenseFreeBlock>(*this);
}

}  // namespace microalloc
