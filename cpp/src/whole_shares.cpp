// Whole shares (whole_shares.hpp, docs/methods.md §11): a local search over single lot moves and,
// for small problems, branch and bound with the certified relaxation as the bound.
#include "microalloc/whole_shares.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

#include "microalloc/certificate.hpp"
#include "microalloc/covariance_model.hpp"
#include "microalloc/mean_variance.hpp"
#include "parallel.hpp"

namespace microalloc {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kMaxLots = 9007199254740992.0;  // 2^53: lot counts stay exact in a double and far from int64's end

/// The gap d = q a - t and S d, kept up to date lot by lot.
class Gap {
 public:
  Gap(const SharesProblem& p, const LotVec& q)
      : p_(p), n_(p.target.size()), a_(p.lot_value / p.value), d_(n_), sd_(n_) {
    for (Index i = 0; i < n_; ++i) d_[i] = static_cast<double>(q[i]) * a_[i] - p.target[i];
    refresh();
  }
  double s(Index i, Index j) const { return identity() ? (i == j ? 1.0 : 0.0) : p_.cov(i, j); }
  double a(Index i) const { return a_[i]; }
  /// The change of d'Sd when asset i gains `lots` lots (+1 or -1).
  double delta(Index i, double lots) const { return 2.0 * lots * a_[i] * sd_[i] + a_[i] * a_[i] * s(i, i); }
  /// The change for one lot of i sold and one of j bought.
  double swap_delta(Index i, Index j) const { return delta(i, -1.0) + delta(j, 1.0) - 2.0 * a_[i] * a_[j] * s(i, j); }
  void move(Index i, double lots) {
    const double step = lots * a_[i];
    d_[i] += step;
    if (identity()) {
      sd_[i] += step;
    } else {
      sd_.noalias() += step * p_.cov.col(i);
    }
  }
  void refresh() {
    if (identity()) sd_ = d_;
    else sd_.noalias() = p_.cov * d_;
  }
  double value() const { return std::max(d_.dot(sd_), 0.0); }
  double scale() const { return a_.cwiseAbs2().maxCoeff() * (identity() ? 1.0 : p_.cov.diagonal().cwiseAbs().maxCoeff()); }

 private:
  bool identity() const { return p_.cov.rows() == 0; }
  const SharesProblem& p_;
  const Index n_;
  const Vec a_;
  Vec d_, sd_;
};

/// Cash left after the lots, in value units.
double cash_of(const SharesProblem& p, const LotVec& q) {
  CompensatedSum spent;
  for (Index i = 0; i < q.size(); ++i) spent.add(static_cast<double>(q[i]) * p.lot_value[i]);
  return p.value - spent.value();
}

/// The best single move: a lot bought, a lot sold, or (with `swaps`) one sold for one bought.
struct Move {
  double delta = 0.0;
  Index sell = -1, buy = -1;
};

Move best_move(const SharesProblem& p, const LotVec& q, const Gap& gap, double cash, bool swaps) {
  const Index n = q.size();
  Move best;
  for (Index j = 0; j < n; ++j) {
    if (p.lot_value[j] <= cash) {
      const double d = gap.delta(j, 1.0);
      if (d < best.delta) best = {d, -1, j};
    }
    if (q[j] > 0) {
      const double d = gap.delta(j, -1.0);
      if (d < best.delta) best = {d, j, -1};
    }
  }
  if (!swaps) return best;
  for (Index i = 0; i < n; ++i) {
    if (q[i] == 0) continue;
    for (Index j = 0; j < n; ++j) {
      if (j == i || p.lot_value[j] > cash + p.lot_value[i]) continue;
      const double d = gap.swap_delta(i, j);
      if (d < best.delta) best = {d, i, j};
    }
  }
  return best;
}

SharesResult finish(const SharesProblem& p, LotVec q) {
  SharesResult r;
  Gap gap(p, q);
  r.objective = gap.value();
  r.cash = cash_of(p, q);  // >= 0: every path keeps the lots affordable
  r.lots = std::move(q);
  return r;
}

/// Branch and bound over the lots (see the header): depth first, the nearer child first.
class LotTree {
 public:
  LotTree(const SharesProblem& p, std::int64_t max_nodes);
  SharesResult run(SharesResult incumbent);

 private:
  struct Node {
    LotVec lo, hi;
    double parent_bound;
  };
  bool relax(const Node& node, Vec& w, double& bound);
  const SharesProblem& p_;
  const Index n_;
  const std::int64_t max_nodes_;
  RowMat s_ext_;  // S (or I) with a cash asset of zero variance
  std::unique_ptr<DenseCovariance> model_;
  Vec bench_, lower_, upper_, start_;
  ActiveSetSolver solver_;
  bool unproven_ = false;  // a node's relaxation could not be certified
};

LotTree::LotTree(const SharesProblem& p, std::int64_t max_nodes)
    : p_(p), n_(p.target.size()), max_nodes_(max_nodes), s_ext_(RowMat::Zero(n_ + 1, n_ + 1)) {
  if (p.cov.rows() == 0) s_ext_.topLeftCorner(n_, n_).setIdentity();
  else s_ext_.topLeftCorner(n_, n_) = p.cov;
  model_ = std::make_unique<DenseCovariance>(s_ext_);
  bench_ = Vec::Zero(n_ + 1);
  bench_.head(n_) = p.target;
  lower_.resize(n_ + 1);
  upper_.resize(n_ + 1);
}

/// The node's relaxation: lots continuous in [lo, hi], cash in [0, 1]. `bound` is the certified
/// lower bound (objective minus gap); false when the relaxation is infeasible or not certified.
bool LotTree::relax(const Node& node, Vec& w, double& bound) {
  for (Index i = 0; i < n_; ++i) {
    const double a = p_.lot_value[i] / p_.value;
    lower_[i] = static_cast<double>(node.lo[i]) * a;
    upper_[i] = static_cast<double>(node.hi[i]) * a;
  }
  lower_[n_] = 0.0;
  upper_[n_] = 1.0;
  if (lower_.head(n_).sum() > 1.0) return false;  // the node's lots overspend
  const MeanVarianceProblem q{*model_, Vec(0), lower_, upper_, bench_, 2.0, 1.0};
  SolverSettings settings;
  settings.tol = 1e-10;
  const SolveResult r = solver_.solve(q, settings, start_.size() == n_ + 1 ? VecRef(start_) : VecRef(Vec(0)));
  if (r.status != Status::Optimal) {
    if (r.status != Status::Infeasible) unproven_ = true;  // a box left unexplored: no proof
    return false;
  }
  bound = std::max(r.objective - r.gap, 0.0);
  w = r.weights;
  start_ = w;
  return true;
}

SharesResult LotTree::run(SharesResult best) {
  std::vector<Node> stack;
  Node root{LotVec::Zero(n_), LotVec(n_), 0.0};
  for (Index i = 0; i < n_; ++i) {
    root.hi[i] = static_cast<std::int64_t>(std::floor(p_.value / p_.lot_value[i]));
  }
  stack.push_back(std::move(root));
  double proven = kInf;  // the least bound of the pruned nodes
  const double slack = 1e-9 * std::max(best.objective, 1e-300);
  std::int64_t nodes = 0;
  Vec w;
  while (!stack.empty() && nodes < max_nodes_) {
    Node node = std::move(stack.back());
    stack.pop_back();
    if (node.parent_bound >= best.objective - slack) {
      proven = std::min(proven, node.parent_bound);
      continue;
    }
    ++nodes;
    double bound = 0.0;
    if (!relax(node, w, bound)) continue;  // no portfolio in this box (or no proof: unproven_)
    if (bound >= best.objective - slack) {
      proven = std::min(proven, bound);
      continue;
    }
    // The most fractional lot count branches; an integral relaxation is a candidate.
    Index pick = -1;
    double frac_best = 1e-9;
    for (Index i = 0; i < n_; ++i) {
      const double qi = w[i] * p_.value / p_.lot_value[i];
      const double frac = std::min(qi - std::floor(qi), std::ceil(qi) - qi);
      if (frac > frac_best) {
        frac_best = frac;
        pick = i;
      }
    }
    if (pick < 0) {
      LotVec q(n_);
      for (Index i = 0; i < n_; ++i) q[i] = std::llround(w[i] * p_.value / p_.lot_value[i]);
      if (cash_of(p_, q) >= 0.0) {
        SharesResult cand = finish(p_, q);
        if (cand.objective < best.objective) best = std::move(cand);
      }
      proven = std::min(proven, bound);
      continue;
    }
    const double qi = w[pick] * p_.value / p_.lot_value[pick];
    Node down{node.lo, node.hi, bound}, up{node.lo, node.hi, bound};
    down.hi[pick] = static_cast<std::int64_t>(std::floor(qi));
    up.lo[pick] = static_cast<std::int64_t>(std::ceil(qi));
    const bool up_first = qi - std::floor(qi) > 0.5;  // the nearer side is explored first
    stack.push_back(up_first ? std::move(down) : std::move(up));
    stack.push_back(up_first ? std::move(up) : std::move(down));
  }
  best.nodes = nodes;
  if (stack.empty() && !unproven_) {
    best.status = Status::Optimal;
    best.lower_bound = std::min(proven, best.objective);
  } else {
    for (const Node& node : stack) proven = std::min(proven, node.parent_bound);
    best.lower_bound = std::min(proven, best.objective);
  }
  return best;
}

}  // namespace

void check_shares_problem(const SharesProblem& p) {
  const Index n = p.target.size();
  if (p.lot_value.size() != n) throw std::invalid_argument("lot_value: expected n entries");
  if (!(p.cov.rows() == 0 || (p.cov.rows() == n && p.cov.cols() == n))) {
    throw std::invalid_argument("cov: expected n x n or empty");
  }
  if (!(std::isfinite(p.value) && p.value > 0.0)) throw std::invalid_argument("value: must be finite and > 0");
  if (!p.target.allFinite() || (p.target.array() < 0.0).any()) {
    throw std::invalid_argument("target: must be finite and >= 0");
  }
  if (!p.lot_value.allFinite() || (p.lot_value.array() <= 0.0).any()) {
    throw std::invalid_argument("lot_value: must be finite and > 0");
  }
  if (n == 0) throw std::invalid_argument("target: no assets");
  if (accurate_sum(p.target.data(), n) > 1.0 + 1e-9) throw std::invalid_argument("target: sums to more than 1");
  if (((p.value / p.lot_value.array()) > kMaxLots).any()) {
    throw std::invalid_argument("value: more than 2^53 lots of an asset");
  }
  if (p.cov.rows() > 0 && !p.cov.allFinite()) throw std::invalid_argument("cov: must be finite");
}

SharesResult round_to_lots(const SharesProblem& p) {
  check_shares_problem(p);
  const Index n = p.target.size();
  LotVec q(n);
  for (Index i = 0; i < n; ++i) {
    q[i] = static_cast<std::int64_t>(std::floor(p.target[i] * p.value / p.lot_value[i]));
  }
  double cash = cash_of(p, q);
  // Targets summing to 1 within rounding can overspend by an ulp: the largest holding gives a lot.
  while (cash < 0.0) {
    Index i = 0;
    for (Index j = 1; j < n; ++j) {
      if (static_cast<double>(q[j]) * p.lot_value[j] > static_cast<double>(q[i]) * p.lot_value[i]) i = j;
    }
    --q[i];
    cash = cash_of(p, q);
  }
  Gap gap(p, q);
  const double eps = 1e-13 * std::max(gap.scale(), 1e-300);
  // Buys and sells (O(n) per move) until neither helps, then swaps (O(n^2)); after a swap the
  // single moves again. Every move lowers d'Sd by more than rounding, so the search ends.
  for (std::int64_t moves = 0, limit = 100 * (n + 10); moves < limit; ++moves) {
    Move m = best_move(p, q, gap, cash, false);
    if (!(m.delta < -eps)) m = best_move(p, q, gap, cash, true);
    if (!(m.delta < -eps)) break;
    if (m.sell >= 0) {
      --q[m.sell];
      gap.move(m.sell, -1.0);
    }
    if (m.buy >= 0) {
      ++q[m.buy];
      gap.move(m.buy, 1.0);
    }
    cash = cash_of(p, q);
    if (moves % 64 == 63) gap.refresh();  // no drift of S d over many moves
  }
  SharesResult r = finish(p, std::move(q));
  r.status = Status::MaxIter;
  return r;
}

SharesResult best_lots(const SharesProblem& p, std::int64_t max_nodes) {
  SharesResult start = round_to_lots(p);
  LotTree tree(p, max_nodes);
  return tree.run(std::move(start));
}

SharesBatchResult round_to_lots_batch(const MatRef& targets, const MatRef& lot_values, const VecRef& values,
                                      const MatRef& cov, std::int64_t max_nodes, int threads, Progress* progress) {
  const Index m = targets.rows(), n = targets.cols();
  detail::check_rows(lot_values, m, n, "lot_values", false);
  if (!(values.size() == 1 || values.size() == m)) throw std::invalid_argument("values: expected length 1 or m");
  SharesBatchResult out;
  out.lots.setConstant(m, n, -1);
  out.cash.setConstant(m, std::numeric_limits<double>::quiet_NaN());
  out.objective = out.cash;
  out.lower_bound = out.cash;
  out.status.setConstant(m, static_cast<std::int32_t>(Status::InvalidInput));
  if (progress != nullptr) progress->set_total(m);
  detail::run_workers(m, threads, progress, [&](auto take) {
    for (Index i = take(); i >= 0; i = take()) {
      try {
        const SharesProblem p{targets.row(i).transpose(), detail::row_of(lot_values, i),
                              values[values.size() == 1 ? 0 : i], cov};
        const SharesResult r = max_nodes > 0 ? best_lots(p, max_nodes) : round_to_lots(p);
        out.lots.row(i) = r.lots.transpose();
        out.cash[i] = r.cash;
        out.objective[i] = r.objective;
        out.lower_bound[i] = r.lower_bound;
        out.status[i] = static_cast<std::int32_t>(r.status);
      } catch (const std::invalid_argument&) {
        // InvalidInput, as preset
      } catch (...) {
        out.status[i] = static_cast<std::int32_t>(Status::NumericalError);
      }
      if (progress != nullptr) progress->add(1);
    }
  });
  if (progress != nullptr) progress->finish();
  return out;
}

}  // namespace microalloc
