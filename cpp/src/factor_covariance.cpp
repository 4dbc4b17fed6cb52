// The factor model S = X F X' + diag(d) as an operator, and the factorisation of its free blocks
// (docs/methods.md, "Covariance models").
//
// F = R R' (R: k x r from an eigendecomposition) and V = X R give S = V V' + diag(d): every
// operation is a product with V (n x r) and a diagonal, and nothing n x n is ever formed.
//
// FactorFreeBlock factors Ht = ra S_FF + sigma 11' = ra D_F + U U' with U = [sqrt(ra) V_F,
// sqrt(sigma) 1] (m = r or r + 1 columns). The free assets split into
//   P: d_i clearly positive, handled by the Woodbury identity through the m x m capacitance
//      C = I + U_P' (ra D_P)^{-1} U_P (a Cholesky factor of C, refactored after every change);
//   Z: d_i zero or negligible, kept as a small dense block whose Schur complement
//      S_Z = ra D_Z + U_Z C^{-1} U_Z' is factored by a QR of [L^{-1} U_Z'; sqrt(ra D_Z)].
// C does not depend on ra and sigma through its accumulated part: C = I + D_s T D_s with
// T = sum_{i in P} [v_i; 1][v_i; 1]' / d_i and D_s = diag(1, ..., 1, sqrt(sigma / ra)), so a new ra
// or sigma costs one O(m^3) refactorisation. T is accumulated in double-double (hi + lo): an asset
// that comes and later goes cancels to O(eps^2) of its own contribution, so the incremental path
// does not drift however large the contribution of assets that left.
#include <Eigen/Cholesky>
#include <Eigen/Eigenvalues>
#include <Eigen/QR>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "microalloc/check.hpp"
#include "coordinate_pass.hpp"
#include "microalloc/covariance_model.hpp"

namespace microalloc {
namespace {

constexpr double kRankTol = 1e-12;      // eigenvalues of F at or below this x the largest are dropped
constexpr double kNotPsdTol = 1e-10;    // an eigenvalue below -this x the largest: F is not PSD
constexpr double kSymmetryTol = 1e-10;  // |F_ab - F_ba| above this x max |F|: F is not symmetric
constexpr double kPivotTol = 1e-12;     // relative pivot at or below which Ht_{F+j} is singular
// d_i at or below kDenseTol x max(S_ii, mean variance): the asset goes to the dense block Z. The
// Woodbury solve loses about eps x S_ii / d_i relative digits (then recovered by one step of
// refinement), which this keeps below 1e-8.
constexpr double kDenseTol = 1e-8;
// One step of iterative refinement once a diagonal entry of C exceeds this (the Woodbury solve's
// error grows with the capacitance, about eps x max C_aa) or when Z is not empty.
constexpr double kRefineAbove = 64.0;
constexpr Index kGemvColumns = 4;  // add_columns: up to this many columns, one V x per column
// Recompute T from scratch after max(kRefreshMin, |P|) incremental changes (amortised O(m^2) per
// change), or when a diagonal entry of T fell below 1 / kDriftRatio of its value at the last
// recomputation (the rounding of that recomputation would then dominate what is left).
constexpr std::int64_t kRefreshMin = 256;
constexpr double kDriftRatio = 1e4;
constexpr Index kBlock = 256;  // rows per block of gather and of T's recomputation
constexpr Index kPrefetchRows = 8;  // rows of V prefetched ahead when the free rows are gathered

/// hi + lo += p, error-free (Knuth's two-sum; the rounding error of the sum goes to lo). The
/// products p come from a buffer written beforehand, so no multiply can be fused into the sum.
inline void two_sum_add(double& hi, double& lo, double p) noexcept {
  const double s = hi + p;
  const double bp = s - hi;
  lo += (hi - (s - bp)) + (p - bp);
  hi = s;
}

void check_finite(const MatRef& a, const char* what) {
  if (!a.allFinite()) throw std::invalid_argument(std::string(what) + ": non-finite entry");
}

/// R with F = R R' (k x r): the eigenvectors of the eigenvalues above kRankTol x the largest,
/// scaled by their square roots. Throws if F is not symmetric or clearly not PSD.
Eigen::MatrixXd factor_root(const MatRef& f) {
  const Index k = f.rows();
  if (k == 0) return Eigen::MatrixXd(0, 0);
  const double scale = f.cwiseAbs().maxCoeff();
  const double asym = (f - f.transpose()).cwiseAbs().maxCoeff();
  if (asym > kSymmetryTol * scale) {
    throw std::invalid_argument("factor_cov: not symmetric (max |F_ab - F_ba| = " + std::to_string(asym) +
                                ", max |F_ab| = " + std::to_string(scale) + ")");
  }
  const Eigen::MatrixXd sym = 0.5 * (f + f.transpose());
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(sym);
  if (es.info() != Eigen::Success) throw std::invalid_argument("factor_cov: eigendecomposition failed");
  const Vec& lam = es.eigenvalues();  // ascending
  const double top = std::max(lam[k - 1], 0.0);
  if (lam[0] < -kNotPsdTol * top || (top == 0.0 && lam[0] < 0.0)) {
    throw std::invalid_argument("factor_cov: not positive semidefinite (eigenvalue " + std::to_string(lam[0]) +
                                ", largest " + std::to_string(lam[k - 1]) + ")");
  }
  Index first = k;
  while (first > 0 && lam[first - 1] > kRankTol * top) --first;
  const Index r = k - first;
  Eigen::MatrixXd root(k, r);
  for (Index c = 0; c < r; ++c) root.col(c) = es.eigenvectors().col(first + c) * std::sqrt(lam[first + c]);
  return root;
}

/// V = X R. A root with one entry per column (a diagonal F, as principal components give) scales
/// columns of X: O(n r) instead of the O(n k r) product.
void compute_scaled_loadings(const MatRef& x, const Eigen::MatrixXd& root, RowMat& v) {
  const Index r = root.cols();
  v.resize(x.rows(), r);
  std::vector<Index> source(static_cast<std::size_t>(r), -1);  // the one row of R's column c
  bool one_each = true;
  for (Index c = 0; c < r && one_each; ++c) {
    for (Index a = 0; a < root.rows(); ++a) {
      if (root(a, c) == 0.0) continue;
      one_each = source[static_cast<std::size_t>(c)] < 0;
      source[static_cast<std::size_t>(c)] = a;
    }
  }
  if (!one_each) {
    v.noalias() = x * root;
    return;
  }
  for (Index i = 0; i < x.rows(); ++i) {
    for (Index c = 0; c < r; ++c) {
      const Index a = source[static_cast<std::size_t>(c)];
      v(i, c) = x(i, a) * root(a, c);
    }
  }
}

class FactorFreeBlock final : public FreeBlock {
 public:
  explicit FactorFreeBlock(const FactorCovariance& model);

  bool reset(const std::vector<Index>& assets, double ra, double sigma) override;
  bool assign(const std::vector<Index>& assets, double ra, double sigma) override;
  Append append(Index j, Vec& dir) override;
  bool remove(Index pos) override;
  void solve(Eigen::Ref<Vec> x) const override;
  Index size() const noexcept override { return static_cast<Index>(assets_.size()); }
  int factorizations() const noexcept override { return factorizations_; }

 private:
  Index z_size() const noexcept { return static_cast<Index>(zpos_.size()); }
  /// u_i = [sqrt(ra) v_i; sqrt(sigma)] (m entries): row i of U.
  void u_row(Index i, Eigen::Ref<Vec> out) const;
  void check_parameters(const std::vector<Index>& assets, double ra, double sigma);
  /// hi + lo += sign [v_i; 1][v_i; 1]' / d_i (lower triangle).
  void accumulate(Index i, double sign);
  /// T from scratch over the current P.
  void recompute_t();
  void maybe_recompute_t();
  void rebuild_zpos();
  /// C, its Cholesky factor, the Z block's QR and N (E = N'N); false if a pivot of Z vanishes.
  bool factor_small();
  bool fail();
  // The passes of solve() (x = Ht_FF^{-1} b by Woodbury and the Z block, then one step of
  // refinement): b and x never alias.
  using RowMap = Eigen::Map<const Vec>;
  const double* row(Index i) const noexcept { return v_.data() + i * r_; }
  /// Row of V of the asset at position t of F, from the gathered copy.
  const double* free_row(Index t) const noexcept { return vf_.data() + t * r_; }
  /// vf_ and df_ from scratch for the current F (the rows read with prefetching).
  void gather_rows();
  /// U_P' (ra D_P)^{-1} b_P (m).
  Vec capacitance_rhs(const double* b) const;
  /// c <- C^{-1} c, then the Z block: writes x_Z and adds C^{-1} U_Z' x_Z to c.
  void small_solve(const double* b, Vec& c, double* x) const;
  /// x_P = (ra D_P)^{-1} (b_P - U_P c); with sum_xv, also V_F' x and 1'x.
  void finish(const double* b, const Vec& c, double* x, Vec* sum_xv, double* sum_x) const;
  /// res = b - Ht_FF x (from V_F' x and 1'x); returns U_P' (ra D_P)^{-1} res.
  Vec residual(const double* b, const double* x, const Vec& sum_xv, double sum_x, double* res) const;

  const FactorCovariance* model_;
  const RowMat& v_;
  VecRef d_;
  Index n_ = 0, r_ = 0, m_ = 0;
  double ra_ = 1.0, sigma_ = 0.0;

  std::vector<Index> assets_;      // F, in order
  std::vector<Index> zpos_;        // positions in F of the Z assets, ascending
  std::vector<char> dense_;        // per asset of the model: goes to Z when free
  std::vector<char> in_;           // per asset: in F
  std::vector<std::uint32_t> stamp_;  // per asset: generation of the last assign() that listed it
  // V_F and d_F in the order of F, contiguous: the solves walk them several times per call, and
  // rows scattered over an n x r array cost a cache (and TLB) miss each at large n.
  std::vector<double> vf_;
  std::vector<double> df_;
  std::uint32_t generation_ = 0;

  Eigen::MatrixXd t_hi_, t_lo_;  // T (r+1 x r+1, lower triangle), double-double
  Vec t_base_;                   // diag of T at the last recomputation
  Vec y_;                        // workspace of accumulate()
  Eigen::MatrixXd prod_;         // workspace of accumulate()
  std::int64_t changes_ = 0;     // incremental changes of P since the last recomputation
  Index p_size_ = 0;

  Eigen::LLT<Eigen::MatrixXd> llt_;  // C = L L'
  Eigen::MatrixXd rz_;               // S_Z = R'R (upper triangular, |Z| x |Z|)
  Eigen::MatrixXd n_mat_;            // N (m x m): u'(I - U_F' Ht_FF^{-1} U_F) u = ||N u||^2
  bool refine_ = false;
  int factorizations_ = 0;
};

FactorFreeBlock::FactorFreeBlock(const FactorCovariance& model)
    : model_(&model), v_(model.scaled_loadings()), d_(model.specific_var()) {
  n_ = model.size();
  r_ = model.rank();
  const Vec& diag = model.diagonal();
  const double mean = n_ > 0 ? diag.mean() : 0.0;
  dense_.resize(static_cast<std::size_t>(n_));
  for (Index i = 0; i < n_; ++i) {
    dense_[static_cast<std::size_t>(i)] = !(d_[i] > kDenseTol * std::max(diag[i], mean));
  }
  in_.assign(static_cast<std::size_t>(n_), 0);
  stamp_.assign(static_cast<std::size_t>(n_), 0);
  t_hi_ = Eigen::MatrixXd::Zero(r_ + 1, r_ + 1);
  t_lo_ = t_hi_;
  t_base_ = Vec::Zero(r_ + 1);
  y_.resize(r_ + 1);
  prod_.resize(r_ + 1, r_ + 1);
  factor_small();
}

void FactorFreeBlock::u_row(Index i, Eigen::Ref<Vec> out) const {
  out.head(r_) = std::sqrt(ra_) * v_.row(i).transpose();
  if (m_ > r_) out[r_] = std::sqrt(sigma_);
}

void FactorFreeBlock::check_parameters(const std::vector<Index>& assets, double ra, double sigma) {
  if (!(ra > 0.0) || !std::isfinite(ra)) throw std::invalid_argument("ra: must be positive and finite");
  if (!(sigma >= 0.0) || !std::isfinite(sigma)) throw std::invalid_argument("sigma: must be >= 0 and finite");
  if (++generation_ == 0) {  // wrapped: clear the stamps once every 2^32 calls
    std::fill(stamp_.begin(), stamp_.end(), 0);
    generation_ = 1;
  }
  for (Index j : assets) {
    if (j < 0 || j >= n_) throw std::out_of_range("assets: index " + std::to_string(j) + " out of range");
    auto& s = stamp_[static_cast<std::size_t>(j)];
    if (s == generation_) throw std::invalid_argument("assets: index " + std::to_string(j) + " repeated");
    s = generation_;
  }
}

void FactorFreeBlock::accumulate(Index i, double sign) {
  const double w = 1.0 / std::sqrt(d_[i]);
  y_.head(r_) = w * v_.row(i).transpose();
  y_[r_] = w;
  prod_.noalias() = (sign * y_) * y_.transpose();
  for (Index b = 0; b <= r_; ++b) {
    for (Index a = b; a <= r_; ++a) two_sum_add(t_hi_(a, b), t_lo_(a, b), prod_(a, b));
  }
  ++changes_;
}

void FactorFreeBlock::recompute_t() {
  ++factorizations_;
  changes_ = 0;
  t_hi_.setZero();
  t_lo_.setZero();
  Eigen::MatrixXd y(r_ + 1, kBlock);  // columns [v_i; 1] / sqrt(d_i) of a block of P
  Index filled = 0;
  auto flush = [&] {
    if (filled > 0) t_hi_.selfadjointView<Eigen::Lower>().rankUpdate(y.leftCols(filled));
    filled = 0;
  };
  for (Index t = 0; t < size(); ++t) {
    if (dense_[static_cast<std::size_t>(assets_[static_cast<std::size_t>(t)])]) continue;
    const double w = 1.0 / std::sqrt(df_[static_cast<std::size_t>(t)]);
    y.col(filled).head(r_) = w * RowMap(free_row(t), r_);
    y(r_, filled) = w;
    if (++filled == kBlock) flush();
  }
  flush();
  t_base_ = t_hi_.diagonal();
}

void FactorFreeBlock::maybe_recompute_t() {
  bool drift = changes_ >= std::max<std::int64_t>(kRefreshMin, p_size_);
  for (Index a = 0; a <= r_ && !drift; ++a) {
    drift = t_base_[a] > kDriftRatio * (t_hi_(a, a) + t_lo_(a, a));
  }
  if (drift) recompute_t();
}

void FactorFreeBlock::rebuild_zpos() {
  zpos_.clear();
  p_size_ = 0;
  for (std::size_t t = 0; t < assets_.size(); ++t) {
    if (dense_[static_cast<std::size_t>(assets_[t])]) {
      zpos_.push_back(static_cast<Index>(t));
    } else {
      ++p_size_;
    }
  }
}

bool FactorFreeBlock::factor_small() {
  m_ = r_ + (sigma_ > 0.0 ? 1 : 0);
  const double s = std::sqrt(sigma_ / ra_);
  Eigen::MatrixXd c(m_, m_);
  for (Index b = 0; b < m_; ++b) {
    for (Index a = b; a < m_; ++a) {
      double val = t_hi_(a, b) + t_lo_(a, b);
      if (a == r_) val *= s;
      if (b == r_) val *= s;
      c(a, b) = val + (a == b ? 1.0 : 0.0);
    }
  }
  llt_.compute(c);  // C >= I: fails only on non-finite input
  if (llt_.info() != Eigen::Success) return false;
  refine_ = m_ > 0 && c.diagonal().maxCoeff() > kRefineAbove;

  const Index z = z_size();
  if (z == 0) {
    rz_.resize(0, 0);
    n_mat_ = Eigen::MatrixXd::Identity(m_, m_);
    llt_.matrixL().solveInPlace(n_mat_);  // E = C^{-1}
    return true;
  }
  refine_ = true;
  // M = [L^{-1} U_Z'; sqrt(ra D_Z)] = Q [R; 0]: R'R = S_Z, and the last m columns of Q give
  // I - G S_Z^{-1} G' = B'B (G = L^{-1} U_Z'), so E = L^{-T} B'B L^{-1} with no cancellation.
  Eigen::MatrixXd mz = Eigen::MatrixXd::Zero(m_ + z, z);
  for (Index t = 0; t < z; ++t) {
    const Index i = assets_[static_cast<std::size_t>(zpos_[static_cast<std::size_t>(t)])];
    u_row(i, mz.col(t).head(m_));
    mz(m_ + t, t) = std::sqrt(ra_ * d_[i]);
  }
  auto top = mz.topRows(m_);
  llt_.matrixL().solveInPlace(top);
  Eigen::HouseholderQR<Eigen::MatrixXd> qr(mz);
  rz_ = qr.matrixQR().topRows(z).triangularView<Eigen::Upper>();
  Eigen::MatrixXd tail = Eigen::MatrixXd::Zero(m_ + z, m_);
  tail.bottomRows(m_).setIdentity();
  tail.applyOnTheLeft(qr.householderQ());
  Eigen::MatrixXd bt = tail.topRows(m_);  // B'
  llt_.matrixU().solveInPlace(bt);        // L^{-T} B' = N'
  n_mat_ = bt.transpose();
  // Pivots of Ht_FF eliminated in the order P, then Z: those of P are >= ra d_i, those of Z are
  // R_tt^2.
  const Vec& diag = model_->diagonal();
  for (Index t = 0; t < z; ++t) {
    const Index i = assets_[static_cast<std::size_t>(zpos_[static_cast<std::size_t>(t)])];
    const double piv = rz_(t, t) * rz_(t, t);
    if (!(piv > kPivotTol * (ra_ * diag[i] + sigma_))) return false;
  }
  return true;
}

bool FactorFreeBlock::fail() {
  for (Index i : assets_) in_[static_cast<std::size_t>(i)] = 0;
  assets_.clear();
  gather_rows();
  rebuild_zpos();
  recompute_t();
  factor_small();
  return false;
}

bool FactorFreeBlock::reset(const std::vector<Index>& assets, double ra, double sigma) {
  check_parameters(assets, ra, sigma);
  for (Index i : assets_) in_[static_cast<std::size_t>(i)] = 0;
  assets_ = assets;
  for (Index i : assets_) in_[static_cast<std::size_t>(i)] = 1;
  ra_ = ra;
  sigma_ = sigma;
  gather_rows();
  rebuild_zpos();
  recompute_t();
  return factor_small() || fail();
}

bool FactorFreeBlock::assign(const std::vector<Index>& assets, double ra, double sigma) {
  check_parameters(assets, ra, sigma);  // stamps the new set
  // Changes of P: the assets that came (not in F) and went (not stamped).
  std::vector<Index> came, went;
  for (Index i : assets) {
    if (!in_[static_cast<std::size_t>(i)] && !dense_[static_cast<std::size_t>(i)]) came.push_back(i);
  }
  for (Index i : assets_) {
    if (stamp_[static_cast<std::size_t>(i)] != generation_) {
      in_[static_cast<std::size_t>(i)] = 0;
      if (!dense_[static_cast<std::size_t>(i)]) went.push_back(i);
    }
  }
  for (Index i : assets) in_[static_cast<std::size_t>(i)] = 1;
  assets_ = assets;
  ra_ = ra;
  sigma_ = sigma;
  gather_rows();
  rebuild_zpos();
  // Beyond about a quarter of P the blocked recomputation (a rank-k update) is the cheaper way.
  const std::size_t changes = came.size() + went.size();
  if (4 * changes > static_cast<std::size_t>(p_size_)) {
    recompute_t();
  } else {
    for (Index i : went) accumulate(i, -1.0);
    for (Index i : came) accumulate(i, 1.0);
    maybe_recompute_t();
  }
  return factor_small() || fail();
}

FreeBlock::Append FactorFreeBlock::append(Index j, Vec& dir) {
  if (j < 0 || j >= n_) throw std::out_of_range("append: index " + std::to_string(j) + " out of range");
  if (in_[static_cast<std::size_t>(j)]) throw std::invalid_argument("append: asset " + std::to_string(j) + " already free");
  // Pivot of j: ra d_j + u_j'(I - U_F' Ht_FF^{-1} U_F) u_j = ra d_j + ||N u_j||^2 >= 0.
  Vec u(m_);
  u_row(j, u);
  const double rho2 = ra_ * d_[j] + (n_mat_ * u).squaredNorm();
  const double hjj = ra_ * model_->diagonal()[j] + sigma_;
  if (!(rho2 > kPivotTol * hjj)) {
    // dir = Ht_FF^{-1} Ht_{F,j}, Ht_{F,j} = U_F u_j
    const Index f = size();
    dir.resize(f);
    for (Index t = 0; t < f; ++t) {
      const Index i = assets_[static_cast<std::size_t>(t)];
      dir[t] = ra_ * RowMap(free_row(t), r_).dot(v_.row(j)) + sigma_;
    }
    solve(dir);
    return Append::Singular;  // S is PSD by construction: never NegativeCurvature
  }
  assets_.push_back(j);
  vf_.insert(vf_.end(), row(j), row(j) + r_);
  df_.push_back(d_[j]);
  in_[static_cast<std::size_t>(j)] = 1;
  if (dense_[static_cast<std::size_t>(j)]) {
    zpos_.push_back(size() - 1);
  } else {
    ++p_size_;
    accumulate(j, 1.0);
    maybe_recompute_t();
  }
  factor_small();  // the pivots passed: the new block is positive definite
  return Append::Ok;
}

bool FactorFreeBlock::remove(Index pos) {
  if (pos < 0 || pos >= size()) throw std::out_of_range("remove: position " + std::to_string(pos) + " out of range");
  const Index i = assets_[static_cast<std::size_t>(pos)];
  assets_.erase(assets_.begin() + pos);
  vf_.erase(vf_.begin() + pos * r_, vf_.begin() + (pos + 1) * r_);
  df_.erase(df_.begin() + pos);
  in_[static_cast<std::size_t>(i)] = 0;
  if (dense_[static_cast<std::size_t>(i)]) {
    zpos_.erase(std::find(zpos_.begin(), zpos_.end(), pos));
  } else {
    --p_size_;
    accumulate(i, -1.0);
    maybe_recompute_t();
  }
  for (auto& p : zpos_) p -= (p > pos);
  factor_small();  // a principal sub-block of a positive definite block
  return true;
}

// The solves walk the gathered rows V_F in four passes (the passes of the refinement fused with
// those of the solve).

void FactorFreeBlock::gather_rows() {
  const Index f = size();
  vf_.resize(static_cast<std::size_t>(f * r_));
  df_.resize(static_cast<std::size_t>(f));
  for (Index t = 0; t < f; ++t) {
#if defined(__GNUC__)
    if (t + kPrefetchRows < f) {
      const char* p = reinterpret_cast<const char*>(row(assets_[static_cast<std::size_t>(t + kPrefetchRows)]));
      for (Index byte = 0; byte < r_ * static_cast<Index>(sizeof(double)); byte += 64) __builtin_prefetch(p + byte);
    }
#endif
    const Index i = assets_[static_cast<std::size_t>(t)];
    std::copy(row(i), row(i) + r_, vf_.begin() + t * r_);
    df_[static_cast<std::size_t>(t)] = d_[i];
  }
}

Vec FactorFreeBlock::capacitance_rhs(const double* b) const {
  // U_P' (ra D_P)^{-1} b_P
  Vec sv = Vec::Zero(r_);
  double ss = 0.0;
  const Index f = size();
  for (Index t = 0; t < f; ++t) {
    if (dense_[static_cast<std::size_t>(assets_[static_cast<std::size_t>(t)])]) continue;
    const double a = b[t] / (ra_ * df_[static_cast<std::size_t>(t)]);
    sv.noalias() += a * RowMap(free_row(t), r_);
    ss += a;
  }
  Vec c(m_);
  c.head(r_) = std::sqrt(ra_) * sv;
  if (m_ > r_) c[r_] = std::sqrt(sigma_) * ss;
  return c;
}

void FactorFreeBlock::small_solve(const double* b, Vec& c, double* x) const {
  llt_.solveInPlace(c);  // c1 = C^{-1} U_P' (ra D_P)^{-1} b_P
  const Index z = z_size();
  if (z == 0) return;
  // x_Z = S_Z^{-1} (b_Z - U_Z c1); then c = c1 + C^{-1} U_Z' x_Z
  Vec xz(z), u(m_), tz = Vec::Zero(m_);
  for (Index t = 0; t < z; ++t) {
    const Index p = zpos_[static_cast<std::size_t>(t)];
    u_row(assets_[static_cast<std::size_t>(p)], u);
    xz[t] = b[p] - u.dot(c);
  }
  rz_.triangularView<Eigen::Upper>().transpose().solveInPlace(xz);
  rz_.triangularView<Eigen::Upper>().solveInPlace(xz);
  for (Index t = 0; t < z; ++t) {
    const Index p = zpos_[static_cast<std::size_t>(t)];
    u_row(assets_[static_cast<std::size_t>(p)], u);
    tz.noalias() += xz[t] * u;
    x[p] = xz[t];
  }
  llt_.solveInPlace(tz);
  c += tz;
}

void FactorFreeBlock::finish(const double* b, const Vec& c, double* x, Vec* sum_xv, double* sum_x) const {
  // x_P = (ra D_P)^{-1} (b_P - U_P c); optionally also V_F' x and 1'x (x_Z is already in x)
  const Vec cv = std::sqrt(ra_) * c.head(r_);
  const double cs = m_ > r_ ? std::sqrt(sigma_) * c[r_] : 0.0;
  if (sum_xv) sum_xv->setZero(r_);
  double sx = 0.0;
  const Index f = size();
  for (Index t = 0; t < f; ++t) {
    const Index i = assets_[static_cast<std::size_t>(t)];
    const RowMap vi(free_row(t), r_);
    if (!dense_[static_cast<std::size_t>(i)]) x[t] = (b[t] - vi.dot(cv) - cs) / (ra_ * df_[static_cast<std::size_t>(t)]);
    if (sum_xv) {
      sum_xv->noalias() += x[t] * vi;
      sx += x[t];
    }
  }
  if (sum_x) *sum_x = sx;
}

Vec FactorFreeBlock::residual(const double* b, const double* x, const Vec& sum_xv, double sum_x, double* res) const {
  // res = b - Ht x = b - ra d .* x - ra V_F (V_F' x) - sigma 1'x, and U_P' (ra D_P)^{-1} res
  Vec sv = Vec::Zero(r_);
  double ss = 0.0;
  const Index f = size();
  for (Index t = 0; t < f; ++t) {
    const Index i = assets_[static_cast<std::size_t>(t)];
    const RowMap vi(free_row(t), r_);
    const double di = df_[static_cast<std::size_t>(t)];
    res[t] = b[t] - ra_ * di * x[t] - ra_ * vi.dot(sum_xv) - sigma_ * sum_x;
    if (dense_[static_cast<std::size_t>(i)]) continue;
    const double a = res[t] / (ra_ * di);
    sv.noalias() += a * vi;
    ss += a;
  }
  Vec c(m_);
  c.head(r_) = std::sqrt(ra_) * sv;
  if (m_ > r_) c[r_] = std::sqrt(sigma_) * ss;
  return c;
}

void FactorFreeBlock::solve(Eigen::Ref<Vec> x) const {
  const Index f = size();
  MICROALLOC_CHECK_SIZE(x.size(), f, "solve: x");
  if (f == 0) return;
  const Vec b = x;
  Vec c = capacitance_rhs(b.data());
  small_solve(b.data(), c, x.data());
  if (!refine_) {
    finish(b.data(), c, x.data(), nullptr, nullptr);
    return;
  }
  // One step of iterative refinement, its passes fused with the solve's.
  Vec sum_xv(r_);
  double sum_x = 0.0;
  finish(b.data(), c, x.data(), &sum_xv, &sum_x);
  Vec res(f), dx(f);
  c = residual(b.data(), x.data(), sum_xv, sum_x, res.data());
  small_solve(res.data(), c, dx.data());
  finish(res.data(), c, dx.data(), nullptr, nullptr);
  x += dx;
}

/// C = D^{-1} S_PP D^{-1} = W W' + diag(e) with W = D^{-1} V_P, e = D^{-2} d_P, never formed: the
/// tracker keeps z = W'y (r entries), so (C y)_t = w_t'z + e_t y_t costs O(r) and a move
/// z += delta w_t costs O(r). Newton's (C + diag(h))^{-1} by Woodbury with the r x r capacitance
/// I + W' A^{-1} W (A = diag(e + h) > 0), O(k r^2), and one step of iterative refinement.
class FactorBlockTracker final : public CoordinateTracker {
 public:
  FactorBlockTracker(const FactorCovariance& model, const std::vector<Index>& assets, const Vec& divisors)
      : v_(model.scaled_loadings()), d_(model.specific_var()), diag_(model.diagonal()), p_(assets),
        r_(model.rank()) {
    const Index k = static_cast<Index>(assets.size());
    MICROALLOC_CHECK_SIZE(divisors.size(), k, "divisors");
    for (Index j : assets) {
      if (j < 0 || j >= model.size()) throw std::out_of_range("coordinate_tracker: index out of range");
    }
    inv_ = divisors.cwiseInverse();
    div_ = divisors;
    z_ = Vec::Zero(r_);
    u_ = Vec::Zero(k);
  }

  Index size() const noexcept override { return static_cast<Index>(p_.size()); }

  double diagonal(Index t) const override {
    // S_ii / (s s) as the dense block has it: the same diagonal to the bit
    return diag_[p_[static_cast<std::size_t>(t)]] / (div_[t] * div_[t]);
  }

  void reset(const Vec& y) override {
    exposures(y, z_);
    products(y, z_, u_);
  }

  void rescale(double s) override {
    z_ *= s;
    u_ *= s;
  }

  double value(Index t, double y_t) const override {
    const Index i = p_[static_cast<std::size_t>(t)];
    const double* v = row(i);
    double dot = 0.0;
    for (Index a = 0; a < r_; ++a) dot += v[a] * z_[a];
    return (dot + d_[i] * y_t * inv_[t]) * inv_[t];
  }

  void move(Index t, double delta) override {
    const double* v = row(p_[static_cast<std::size_t>(t)]);
    const double c = delta * inv_[t];
    for (Index a = 0; a < r_; ++a) z_[a] += c * v[a];
  }

  const Vec& product() const noexcept override { return u_; }
  void spinu_pass(const Vec& cdiag, const Vec& b, Vec& y) override { detail::spinu_pass(*this, cdiag, b, y); }

  void apply(const Vec& y, Vec& out) const override {
    Vec z(r_);
    exposures(y, z);
    products(y, z, out);
  }

  void abs_apply(const Vec& y, Vec& out) const override {
    // |C||y| <= |W|(|W|'|y|) + e|y| entrywise (|w_t'w_s| <= |w_t|'|w_s|): O(k r) where |C||y| is
    // O(k^2). The bound, not the size of the terms of the computed product (which sums |w_t||z|
    // with z accurate), because the floor must also cover the rounding of y itself: a relative
    // change of u in each y_s moves (C y)_t by up to u (|C||y|)_t.
    const Index k = size();
    Vec a = Vec::Zero(r_);  // |W|'|y|
    for (Index t = 0; t < k; ++t) {
      const double* v = row(p_[static_cast<std::size_t>(t)]);
      const double c = std::abs(y[t]) * inv_[t];
      for (Index q = 0; q < r_; ++q) a[q] += c * std::abs(v[q]);
    }
    out.resize(k);
    for (Index t = 0; t < k; ++t) {
      const Index i = p_[static_cast<std::size_t>(t)];
      const double* v = row(i);
      double dot = 0.0;
      for (Index q = 0; q < r_; ++q) dot += std::abs(v[q]) * a[q];
      out[t] = (dot + d_[i] * std::abs(y[t]) * inv_[t]) * inv_[t];
    }
  }

  bool solve_shifted(const Vec& h, const Vec& g, Vec& x) const override {
    const Index k = size();
    Vec a = h;  // A = diag(e + h)
    for (Index t = 0; t < k; ++t) a[t] += d_[p_[static_cast<std::size_t>(t)]] * inv_[t] * inv_[t];
    if (!(a.minCoeff() > 0.0) || !a.allFinite()) return false;
    // M = I + W' A^{-1} W, by blocks of rows (one rank update each)
    Eigen::MatrixXd m = Eigen::MatrixXd::Identity(r_, r_);
    RowMat blk(std::min(kBlock, k), r_);
    for (Index t0 = 0; t0 < k; t0 += kBlock) {
      const Index bk = std::min(kBlock, k - t0);
      for (Index q = 0; q < bk; ++q) {
        const Index t = t0 + q;
        blk.row(q) = v_.row(p_[static_cast<std::size_t>(t)]) * (inv_[t] / std::sqrt(a[t]));
      }
      if (r_ > 0) m.selfadjointView<Eigen::Lower>().rankUpdate(blk.topRows(bk).transpose());
    }
    const Eigen::LLT<Eigen::MatrixXd, Eigen::Lower> llt(m);
    if (llt.info() != Eigen::Success) return false;
    // x = A^{-1} (g - W c), M c = W' A^{-1} g; then once more on the residual g - (C + diag h) x
    auto woodbury = [&](const Vec& rhs, Vec& out) {
      Vec ag = rhs.cwiseQuotient(a);
      Vec c(r_);
      exposures(ag, c);
      c = llt.solve(c);
      out.resize(k);
      for (Index t = 0; t < k; ++t) {
        const double* v = row(p_[static_cast<std::size_t>(t)]);
        double dot = 0.0;
        for (Index q = 0; q < r_; ++q) dot += v[q] * c[q];
        out[t] = (rhs[t] - dot * inv_[t]) / a[t];
      }
    };
    woodbury(g, x);
    Vec cx;
    apply(x, cx);
    const Vec res = g - cx - h.cwiseProduct(x);
    Vec dx;
    woodbury(res, dx);
    x += dx;
    return x.allFinite();
  }

  // A sweep costs about 4 k r flops (value and move); a solve about k r^2 for the capacitance
  // (a rank update, several times faster per flop) plus a few O(k r) passes, and Newton adds a
  // line search of one product per trial.
  double solve_cost() const noexcept override { return 4.0 + 0.25 * static_cast<double>(r_); }
  bool dense_solve() const noexcept override { return false; }

 private:
  const double* row(Index i) const noexcept { return v_.data() + i * r_; }

  /// z = W'y, summed in double-double (as quadratic() sums V'x): exposures that cancel (an
  /// equal-risk portfolio hedges most factors out) come out to about eps of their own size,
  /// not eps times the sum of |terms| over k assets.
  void exposures(const Vec& y, Vec& z) const {
    Vec lo = Vec::Zero(r_), p(r_);
    z.setZero(r_);
    for (Index t = 0; t < size(); ++t) {
      const double* v = row(p_[static_cast<std::size_t>(t)]);
      const double c = y[t] * inv_[t];
      for (Index a = 0; a < r_; ++a) p[a] = c * v[a];
      for (Index a = 0; a < r_; ++a) two_sum_add(z[a], lo[a], p[a]);
    }
    z += lo;
  }

  /// out = W z + e y.
  void products(const Vec& y, const Vec& z, Vec& out) const {
    const Index k = size();
    out.resize(k);
    for (Index t = 0; t < k; ++t) {
      const Index i = p_[static_cast<std::size_t>(t)];
      const double* v = row(i);
      double dot = 0.0;
      for (Index a = 0; a < r_; ++a) dot += v[a] * z[a];
      out[t] = (dot + d_[i] * y[t] * inv_[t]) * inv_[t];
    }
  }

  const RowMat& v_;
  VecRef d_;
  const Vec& diag_;
  std::vector<Index> p_;
  Index r_;
  Vec inv_, div_;
  Vec z_, u_;
};

}  // namespace

FactorCovariance::FactorCovariance(const MatRef& loadings, const MatRef& factor_cov, const VecRef& specific_var)
    : x_(loadings), f_(factor_cov), d_(specific_var) {
  MICROALLOC_CHECK_SIZE(d_.size(), x_.rows(), "specific_var (one per row of loadings)");
  MICROALLOC_CHECK_SIZE(f_.rows(), x_.cols(), "factor_cov: rows (one per column of loadings)");
  MICROALLOC_CHECK_SIZE(f_.cols(), x_.cols(), "factor_cov: columns (one per column of loadings)");
  check_finite(x_, "loadings");
  check_finite(f_, "factor_cov");
  if (!d_.allFinite()) throw std::invalid_argument("specific_var: non-finite entry");
  if (d_.size() > 0 && d_.minCoeff() < 0.0) throw std::invalid_argument("specific_var: negative entry");
  compute_scaled_loadings(x_, factor_root(f_), v_);
  diag_ = v_.rowwise().squaredNorm() + d_;
}

void FactorCovariance::apply(const VecRef& x, Eigen::Ref<Vec> y) const {
  MICROALLOC_CHECK_SIZE(x.size(), size(), "apply: x");
  MICROALLOC_CHECK_SIZE(y.size(), size(), "apply: y");
  const Vec t = v_.transpose() * x;
  y.noalias() = v_ * t;
  y.array() += d_.array() * x.array();
}

void FactorCovariance::apply_rows(const MatRef& x, RowMat& y) const {
  MICROALLOC_CHECK_SIZE(x.cols(), size(), "apply_rows: columns of x");
  const RowMat t = x * v_;  // m x r
  y.resize(x.rows(), size());
  y.noalias() = t * v_.transpose();
  y.noalias() += x * d_.asDiagonal();
}

void FactorCovariance::add_column(Index j, double alpha, Eigen::Ref<Vec> y) const {
  MICROALLOC_CHECK_SIZE(y.size(), size(), "add_column: y");
  if (j < 0 || j >= size()) throw std::out_of_range("add_column: index " + std::to_string(j) + " out of range");
  const Vec vj = alpha * v_.row(j).transpose();
  y.noalias() += v_ * vj;
  y[j] += alpha * d_[j];
}

void FactorCovariance::add_columns(const Index* cols, Index m, const MatRef& c,
                                   Eigen::Ref<Eigen::MatrixXd> y) const {
  MICROALLOC_CHECK_SIZE(y.rows(), size(), "add_columns: rows of y");
  MICROALLOC_CHECK_SIZE(c.cols(), y.cols(), "add_columns: columns of c");
  if (m == 0) return;  // nothing added: no pass over V
  Eigen::MatrixXd t = Eigen::MatrixXd::Zero(rank(), c.cols());  // V_J' C: O(m r p), then one pass over V
  for (Index k = 0; k < m; ++k) {
    const Index j = cols[k];
    if (j < 0 || j >= size()) throw std::out_of_range("add_columns: index out of range");
    t.noalias() += v_.row(j).transpose() * c.row(k);
    y.row(j) += d_[j] * c.row(k);
  }
  if (t.cols() <= kGemvColumns) {
    // A product per column: Eigen's matrix product packs all of V first (about 3 passes' worth at
    // n = 10,000), where a matrix-vector product reads it once.
    for (Index q = 0; q < t.cols(); ++q) y.col(q).noalias() += v_ * t.col(q);
  } else {
    y.noalias() += v_ * t;
  }
}

void FactorCovariance::gather(const Index* rows, Index nr, const Index* cols, Index nc, double* out,
                              Index ld) const {
  const Index n = size(), r = rank();
  for (Index t = 0; t < nr; ++t) {
    if (rows[t] < 0 || rows[t] >= n) throw std::out_of_range("gather: row index out of range");
  }
  for (Index t = 0; t < nc; ++t) {
    if (cols[t] < 0 || cols[t] >= n) throw std::out_of_range("gather: column index out of range");
  }
  if (nc > ld && nr > 1) throw std::invalid_argument("gather: ld below the number of columns");
  using OutMap = Eigen::Map<RowMat, 0, Eigen::OuterStride<>>;
  RowMat vr(std::min(kBlock, nr), r), vc(std::min(kBlock, nc), r);
  for (Index r0 = 0; r0 < nr; r0 += kBlock) {
    const Index br = std::min(kBlock, nr - r0);
    for (Index t = 0; t < br; ++t) vr.row(t) = v_.row(rows[r0 + t]);
    for (Index c0 = 0; c0 < nc; c0 += kBlock) {
      const Index bc = std::min(kBlock, nc - c0);
      for (Index t = 0; t < bc; ++t) vc.row(t) = v_.row(cols[c0 + t]);
      OutMap block(out + r0 * ld + c0, br, bc, Eigen::OuterStride<>(ld));
      block.noalias() = vr.topRows(br) * vc.topRows(bc).transpose();
      // S_ii exactly as diagonal() has it
      for (Index a = 0; a < br; ++a) {
        const Index i = rows[r0 + a];
        for (Index b = 0; b < bc; ++b) {
          if (cols[c0 + b] == i) block(a, b) = diag_[i];
        }
      }
    }
  }
}

void FactorCovariance::rows_of_product(const Vec& x, const Index* support, Index m, const Index* rows,
                                       Index nr, double* out) const {
  Vec t = Vec::Zero(rank());  // V_J' x_J
  for (Index k = 0; k < m; ++k) t.noalias() += x[support[k]] * v_.row(support[k]).transpose();
  for (Index a = 0; a < nr; ++a) {
    const Index i = rows[a];
    out[a] = v_.row(i).dot(t) + d_[i] * x[i];
  }
}

void FactorCovariance::add_columns_accurate(const Index* idx, const double* v, Index count, double alpha,
                                            Eigen::Ref<Vec> y) const {
  MICROALLOC_CHECK_SIZE(y.size(), size(), "add_columns_accurate: y");
  const Index r = rank();
  Vec hi = Vec::Zero(r), lo = Vec::Zero(r), p(r);  // V_J' v in double-double
  for (Index k = 0; k < count; ++k) {
    const Index j = idx[k];
    if (j < 0 || j >= size()) throw std::out_of_range("add_columns_accurate: index out of range");
    const double c = alpha * v[k];
    if (c == 0.0) continue;
    p.noalias() = c * v_.row(j).transpose();
    for (Index a = 0; a < r; ++a) two_sum_add(hi[a], lo[a], p[a]);
    y[j] += c * d_[j];
  }
  const Vec t = hi + lo;
  y.noalias() += v_ * t;
}

double FactorCovariance::quadratic(const VecRef& x) const {
  MICROALLOC_CHECK_SIZE(x.size(), size(), "quadratic: x");
  // ||V'x||^2 + sum d x^2: both terms >= 0. V'x is summed in double-double, so a portfolio whose
  // factor exposures cancel gets them to about eps x sum |x_i v_ia| rather than n eps.
  const Index n = size(), r = rank();
  Vec hi = Vec::Zero(r), lo = Vec::Zero(r), p(r);
  for (Index i = 0; i < n; ++i) {
    if (x[i] == 0.0) continue;
    p.noalias() = x[i] * v_.row(i).transpose();
    for (Index a = 0; a < r; ++a) two_sum_add(hi[a], lo[a], p[a]);
  }
  double specific = 0.0;
  for (Index i = 0; i < n; ++i) specific += d_[i] * x[i] * x[i];
  return (hi + lo).squaredNorm() + specific;
}

std::unique_ptr<CoordinateTracker> FactorCovariance::coordinate_tracker(const std::vector<Index>& assets,
                                                                        const Vec& divisors) const {
  return std::make_unique<FactorBlockTracker>(*this, assets, divisors);
}

std::unique_ptr<FreeBlock> FactorCovariance::free_block() const {
  return std::make_unique<FactorFreeBlock>(*this);
}

}  // namespace microalloc
