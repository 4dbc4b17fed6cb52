#pragma once
/// The covariance S as an operator. Every algorithm of the core reaches S through this interface
/// and never reads a matrix directly, so a model of S is one class:
///
///   DenseCovariance   S given entry by entry (n x n, row-major, borrowed from the caller);
///   FactorCovariance  S = X F X' + diag(d) with loadings X (n x k), factor covariance F (k x k)
///                     and specific variances d (n), never formed: O(n k) memory and O(n k) work
///                     per product.
///
/// The operations are the ones the algorithms need, at the granularity that keeps a virtual call
/// out of inner loops: products with a vector or a block of portfolios, a column, the entries of a
/// few rows, the diagonal, and a factorisation of a principal sub-block (FreeBlock) that follows a
/// changing set of free assets.
///
/// A model borrows its arrays: they must outlive it and must not change while it is used.
#include <memory>
#include <vector>

#include "microalloc/types.hpp"

namespace microalloc {

/// A factorisation of Ht = ra S_FF + sigma 11' for a set F of assets (the "free" assets of an
/// active-set method) that follows insertions and deletions. sigma 11' makes Ht positive definite
/// on faces where S_FF is singular only along directions that change the budget (see
/// docs/methods.md §2). The caller keeps its own list of F (in the block's order): the block
/// holds only what it needs to factor. Updates drift from a factorisation from scratch by
/// rounding, so a block refactors itself now and then (in remove(), see there).
class FreeBlock {
 public:
  virtual ~FreeBlock() = default;

  /// Sets ra > 0 and sigma >= 0 and factors Ht for F = `assets` (in this order) from scratch.
  /// False when Ht is not numerically positive definite (a relative pivot below the tolerance);
  /// the set is then empty.
  [[nodiscard]] virtual bool reset(const std::vector<Index>& assets, double ra, double sigma) = 0;

  /// Moves F to `assets` (in this order) and sets ra and sigma: afterwards the factorisation is
  /// that of the same matrix as after reset(assets, ra, sigma) (and the same return value), but
  /// a factorisation that can follow a change of set cheaply does so at a cost that grows with the
  /// assets that came and went rather than with |F| (FactorFreeBlock: O(changes r^2 + r^3) plus
  /// O(|F|) integer work). Meant for methods that change many assets per iteration (a primal-dual
  /// active-set method). The default is reset().
  [[nodiscard]] virtual bool assign(const std::vector<Index>& assets, double ra, double sigma) {
    return reset(assets, ra, sigma);
  }

  enum class Append { Ok, Singular, NegativeCurvature };
  /// Appends asset j at the end of F. On Singular or NegativeCurvature, F is unchanged and `dir`
  /// holds Ht_FF^{-1} Ht_{F,j}: the direction d_F = -dir, d_j = 1 has zero curvature
  /// (Singular, up to rounding) or negative curvature.
  virtual Append append(Index j, Vec& dir) = 0;

  /// Removes the asset at position pos of F; later assets move up one position. A removal may
  /// trigger the block's periodic refactorisation from scratch (after many updates); false when
  /// that finds Ht not numerically positive definite: the set is then empty, as after a failed
  /// reset(), and the caller decides (reset with a shift, or give up).
  [[nodiscard]] virtual bool remove(Index pos) = 0;

  /// x <- Ht_FF^{-1} x, for x in the order of F.
  virtual void solve(Eigen::Ref<Vec> x) const = 0;

  virtual Index size() const noexcept = 0;

  /// Factorisations from scratch so far (reset, and the periodic refresh after many updates).
  virtual int factorizations() const noexcept = 0;
};

/// The scaled principal block C = D^{-1} S_PP D^{-1} of a model (P a list of k assets, D =
/// diag(divisors) > 0; with the volatilities as divisors, C is the correlation block) with a
/// product u = C y followed through changes of one coordinate of y at a time: what a cyclical
/// coordinate method needs (risk budgeting, docs/methods.md §6.1). The caller owns y and reports
/// every change of it (move).
///
/// A dense model keeps C (k x k, gathered once) and u itself: a move is u += delta C e_t, O(k).
/// A factor model keeps z = V_P' D^{-1} y (r entries): (C y)_t = (v_t'z + d_t y_t / s_t) / s_t is
/// O(r) to read and a move is z += (delta / s_t) v_t, O(r); C is never formed.
class CoordinateTracker {
 public:
  virtual ~CoordinateTracker() = default;

  virtual Index size() const noexcept = 0;

  /// C_tt.
  virtual double diagonal(Index t) const = 0;

  /// Starts following y: u = C y from scratch (the exact product, no drift from earlier moves).
  virtual void reset(const Vec& y) = 0;

  /// The caller scaled y by s (> 0): u (and any state) scaled alike.
  virtual void rescale(double s) = 0;

  /// (C y)_t for the current y (the one of the last reset, changed by the moves since), whose
  /// t-th entry is y_t.
  virtual double value(Index t, double y_t) const = 0;

  /// y_t changed by delta.
  virtual void move(Index t, double delta) = 0;

  /// One cyclic pass of risk budgeting's coordinate descent over t = 0..k-1 (the rule, the same
  /// for every model, is detail::spinu_pass in cpp/src/coordinate_pass.hpp: each tracker
  /// instantiates it so that value and move are direct calls). y is changed in place and followed.
  virtual void spinu_pass(const Vec& cdiag, const Vec& b, Vec& y) = 0;

  /// u = C y as of the last reset or rescale (moves since may have left it stale).
  virtual const Vec& product() const noexcept = 0;

  /// out = C y for any y (from scratch; the tracked state is unchanged).
  virtual void apply(const Vec& y, Vec& out) const = 0;

  /// out_t >= (|C||y|)_t, for rounding floors (rounding.hpp): a dense model gives |C||y| itself; a
  /// factor model the bound |W|(|W|'|y|) + e|y| (W = D^{-1} V_P, e = D^{-2} d_P), O(k r).
  virtual void abs_apply(const Vec& y, Vec& out) const = 0;

  /// x = (C + diag(h))^{-1} g for h > 0 (a Newton step). False when the factorisation fails.
  [[nodiscard]] virtual bool solve_shifted(const Vec& h, const Vec& g, Vec& x) const = 0;

  /// The cost of solve_shifted measured in sweeps (k moves and values), to choose between sweeps
  /// and Newton steps: k / 3 for a dense Cholesky factorisation, about r for Woodbury.
  virtual double solve_cost() const noexcept = 0;

  /// Whether solve_shifted factors a dense k x k matrix (O(k^3) work, O(k^2) memory): callers cap
  /// k for it (RiskBudgetingSettings::newton_max_n).
  virtual bool dense_solve() const noexcept = 0;
};

class CovarianceModel {
 public:
  virtual ~CovarianceModel() = default;

  virtual Index size() const noexcept = 0;

  /// The variances S_ii.
  virtual const Vec& diagonal() const noexcept = 0;

  /// y = S x.
  virtual void apply(const VecRef& x, Eigen::Ref<Vec> y) const = 0;

  /// Y = X S: one portfolio per row of X (m x n). Y is resized.
  virtual void apply_rows(const MatRef& x, RowMat& y) const = 0;

  /// y += alpha S e_j.
  virtual void add_column(Index j, double alpha, Eigen::Ref<Vec> y) const = 0;

  /// Y += S[:, cols] C: column cols[r] of S times row r of C (m x p) added to the p columns of
  /// Y (n x p), for r < m in order; rows of C that are all zero are skipped. S times vectors
  /// supported on a few assets (a gradient update, S alpha and S beta of a frontier segment) in
  /// one call, each column of S read once for all p. The default calls add_column.
  virtual void add_columns(const Index* cols, Index m, const MatRef& c, Eigen::Ref<Eigen::MatrixXd> y) const;

  /// out[t] = (S x)_{rows[t]} for t < nr, where x (n entries) is zero outside `support` (m
  /// assets): the few entries of a product that a method needs (the free assets' pull from the
  /// bound ones) without a pass over the model. Dense: O(nr m) entries read; factor: O((nr + m) r).
  virtual void rows_of_product(const Vec& x, const Index* support, Index m, const Index* rows, Index nr,
                               double* out) const = 0;

  /// add_columns for a certificate: each entry of the product as accurate as the model allows.
  /// The default is add_columns (a dense entry is a plain sum of `count` products); a factor
  /// model sums V_J' v in double-double, so that exposures that cancel do not carry the rounding
  /// of the sum of |terms| into every entry.
  virtual void add_columns_accurate(const Index* idx, const double* v, Index count, double alpha,
                                    Eigen::Ref<Vec> y) const {
    const Eigen::Map<const RowMat> c(v, count, 1);
    const RowMat scaled = alpha * c;
    add_columns(idx, count, scaled, y);
  }

  /// out[r * ld + c] = S(rows[r], cols[c]) for r < nr, c < nc.
  virtual void gather(const Index* rows, Index nr, const Index* cols, Index nc, double* out,
                      Index ld) const = 0;

  /// x'Sx for the model, >= 0 (each model's own accurate form).
  virtual double quadratic(const VecRef& x) const = 0;

  /// A coordinate tracker of C = D^{-1} S_PP D^{-1} for P = `assets` (distinct indices) and D =
  /// diag(`divisors`) (positive, one per asset of P). The default gathers C (k x k: O(k^2) memory,
  /// O(k) per move); a factor model overrides it with O(r) per move and O(k r) memory.
  virtual std::unique_ptr<CoordinateTracker> coordinate_tracker(const std::vector<Index>& assets,
                                                                const Vec& divisors) const;

  /// A new, empty factorisation of sub-blocks of this model.
  virtual std::unique_ptr<FreeBlock> free_block() const = 0;

  /// The mean variance, the scale that tolerances of the solvers refer to (0 when n = 0). Summed
  /// in index order, so that every model with the same diagonal gives the same scale.
  double mean_variance() const noexcept;
};

/// All of S as a dense row-major matrix, for the methods that are dense by nature (an O(n^3)
/// factorisation of S, a Newton method on all of it): the matrix itself for a DenseCovariance (no
/// copy), else the entries gathered into `storage` (n x n). Never use it in an algorithm that the
/// operations above can serve. Throws std::invalid_argument ("cov: ...") rather than copy a model
/// of more than `max_copy` assets.
MatRef dense_entries(const CovarianceModel& cov, RowMat& storage, Index max_copy);

/// S given by its entries: a symmetric n x n matrix (row-major, borrowed). The constructor reads
/// the diagonal (O(n)); throws std::invalid_argument when the matrix is not square. Its free block
/// is an updated Cholesky factor of Ht_FF (k x k, O(k^2) per update).
class DenseCovariance final : public CovarianceModel {
 public:
  explicit DenseCovariance(const MatRef& cov);

  Index size() const noexcept override { return cov_.rows(); }
  const Vec& diagonal() const noexcept override { return diag_; }
  void apply(const VecRef& x, Eigen::Ref<Vec> y) const override;
  void apply_rows(const MatRef& x, RowMat& y) const override;
  void add_column(Index j, double alpha, Eigen::Ref<Vec> y) const override;
  void add_columns(const Index* cols, Index m, const MatRef& c, Eigen::Ref<Eigen::MatrixXd> y) const override;
  void gather(const Index* rows, Index nr, const Index* cols, Index nc, double* out,
              Index ld) const override;
  double quadratic(const VecRef& x) const override;
  std::unique_ptr<FreeBlock> free_block() const override;
  void rows_of_product(const Vec& x, const Index* support, Index m, const Index* rows, Index nr,
                       double* out) const override;

  /// The matrix, for the algorithms that need all of it at once (dense-only methods such as the
  /// O(n^3) positive-semidefiniteness test).
  const MatRef& matrix() const noexcept { return cov_; }

 private:
  MatRef cov_;
  Vec diag_;
};

/// S = X F X' + diag(d): loadings X (n x k, row-major), factor covariance F (k x k, symmetric
/// positive semidefinite), specific variances d >= 0 (n). All three are borrowed. The constructor
/// costs O(n k^2 + k^3): F = R R' (R: k x r, r = rank F, from an eigendecomposition), the scaled
/// loadings V = X R (n x r, owned: the one O(n k) array the model adds) and the diagonal.
/// Then S = V V' + diag(d), and every operation works on V.
///
/// Eigenvalues of F at or below 1e-12 times the largest are dropped (they are rounding); the
/// constructor throws std::invalid_argument on inconsistent sizes, a non-finite entry, a negative
/// specific variance, an F that is not symmetric (to 1e-10 of max |F|) or not positive semidefinite
/// (an eigenvalue below -1e-10 times the largest). Its free_block() factors Ht through the Woodbury
/// identity with an (r+1) x (r+1) capacitance matrix, keeping the assets with d_i = 0 (or
/// negligible) in a small dense block (docs/methods.md, "Covariance models"): O(|F| r + r^2) per
/// solve, O(r^2 + r^3) per append or remove, and it never reports NegativeCurvature (S is PSD by
/// construction). The free block must not outlive the model.
class FactorCovariance final : public CovarianceModel {
 public:
  FactorCovariance(const MatRef& loadings, const MatRef& factor_cov, const VecRef& specific_var);

  Index size() const noexcept override { return d_.size(); }
  const Vec& diagonal() const noexcept override { return diag_; }
  void apply(const VecRef& x, Eigen::Ref<Vec> y) const override;
  void apply_rows(const MatRef& x, RowMat& y) const override;
  void add_column(Index j, double alpha, Eigen::Ref<Vec> y) const override;
  void gather(const Index* rows, Index nr, const Index* cols, Index nc, double* out,
              Index ld) const override;
  double quadratic(const VecRef& x) const override;
  std::unique_ptr<FreeBlock> free_block() const override;
  void rows_of_product(const Vec& x, const Index* support, Index m, const Index* rows, Index nr,
                       double* out) const override;
  void add_columns(const Index* cols, Index m, const MatRef& c,
                   Eigen::Ref<Eigen::MatrixXd> y) const override;
  void add_columns_accurate(const Index* idx, const double* v, Index count, double alpha,
                            Eigen::Ref<Vec> y) const override;
  std::unique_ptr<CoordinateTracker> coordinate_tracker(const std::vector<Index>& assets,
                                                        const Vec& divisors) const override;

  Index factors() const noexcept { return x_.cols(); }
  Index rank() const noexcept { return v_.cols(); }
  const MatRef& loadings() const noexcept { return x_; }
  const MatRef& factor_cov() const noexcept { return f_; }
  const VecRef& specific_var() const noexcept { return d_; }
  /// V = X R with F = R R' (n x r).
  const RowMat& scaled_loadings() const noexcept { return v_; }

 private:
  MatRef x_;
  MatRef f_;
  VecRef d_;
  RowMat v_;
  Vec diag_;
};

}  // namespace microalloc
