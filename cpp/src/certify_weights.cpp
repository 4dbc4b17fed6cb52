// The certificate of a given point of the mean-variance problem (used for points read off the
// exact frontier, which no solver produced).
#include <chrono>
#include <limits>

#include "mean_variance_common.hpp"
#include "microalloc/check.hpp"

namespace microalloc {

SolveResult certify_weights(const MeanVarianceProblem& prob, const VecRef& weights, double tol) {
  using namespace detail;
  const auto t0 = std::chrono::steady_clock::now();
  prob.check_sizes();
  const Index n = prob.size();
  MICROALLOC_CHECK_SIZE(weights.size(), n, "weights");
  SolveResult res;
  res.weights = weights;
  Vec lb, ub;
  if (!feasible_bounds(prob, lb, ub)) {
    res.status = Status::Infeasible;
    res.solve_time_s = seconds_since(t0);
    return res;
  }
  const Vec cov_b = cov_times_benchmark(prob);
  Evaluator ev(prob, lb, ub, cov_b);
  Vec cov_w(n);
  prob.cov.apply(res.weights, cov_w);
  const auto pt = ev.evaluate(res.weights, cov_w);
  fill_result(prob, pt, ev, res);
  res.status = ev.passes(pt, tol) ? Status::Optimal : Status::NumericalError;
  res.solve_time_s = seconds_since(t0);
  return res;
}

}  // namespace microalloc
