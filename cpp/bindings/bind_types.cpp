#include <pybind11/eigen.h>
#include <pybind11/native_enum.h>

#include "bindings.hpp"
#include "microalloc/batch.hpp"
#include "microalloc/covariance.hpp"
#include "microalloc/mean_variance.hpp"
#include "microalloc/projection.hpp"

namespace py = pybind11;

namespace microalloc::bindings {

void bind_types(py::module_& m) {
  py::native_enum<Status>(m, "Status", "enum.IntEnum", "How a solve ended.")
      .value("OPTIMAL", Status::Optimal)
      .value("MAX_ITER", Status::MaxIter)
      .value("INFEASIBLE", Status::Infeasible)
      .value("NUMERICAL_ERROR", Status::NumericalError)
      .value("NOT_CONVEX", Status::NotConvex)
      .value("INVALID_INPUT", Status::InvalidInput)
      .finalize();

  py::native_enum<CovarianceIssue>(m, "CovarianceIssue", "enum.IntEnum")
      .value("NONE", CovarianceIssue::None)
      .value("NON_FINITE", CovarianceIssue::NonFinite)
      .value("NON_POSITIVE_VARIANCE", CovarianceIssue::NonPositiveVariance)
      .value("NOT_SYMMETRIC", CovarianceIssue::NotSymmetric)
      .value("CORRELATION_ABOVE_ONE", CovarianceIssue::CorrelationAboveOne)
      .finalize();

  py::native_enum<BoundsIssue::Kind>(m, "BoundsIssue", "enum.IntEnum")
      .value("NONE", BoundsIssue::Kind::None)
      .value("NAN", BoundsIssue::Kind::NaN)
      .value("LOWER_PLUS_INF", BoundsIssue::Kind::LowerPlusInf)
      .value("UPPER_MINUS_INF", BoundsIssue::Kind::UpperMinusInf)
      .value("CROSSED", BoundsIssue::Kind::Crossed)
      .value("LOWER_ABOVE_BUDGET", BoundsIssue::Kind::LowerAboveBudget)
      .value("UPPER_BELOW_BUDGET", BoundsIssue::Kind::UpperBelowBudget)
      .finalize();

  py::class_<CovarianceReport>(m, "CovarianceReport")
      .def_readonly("issue", &CovarianceReport::issue)
      .def_readonly("row", &CovarianceReport::row)
      .def_readonly("col", &CovarianceReport::col)
      .def_readonly("value", &CovarianceReport::value)
      .def_readonly("other", &CovarianceReport::other)
      .def_readonly("mean_variance", &CovarianceReport::mean_variance)
      .def_readonly("max_variance", &CovarianceReport::max_variance);

  py::class_<PsdReport>(m, "PsdReport")
      .def_readonly("psd", &PsdReport::psd)
      .def_readonly("min_eigenvalue", &PsdReport::min_eigenvalue)
      .def_readonly("max_eigenvalue", &PsdReport::max_eigenvalue);

  // Eigen members come out as read-only numpy views that keep the result alive (no copy).
  py::class_<SolveResult>(m, "SolveResult")
      .def_readonly("weights", &SolveResult::weights)
      .def_readonly("status", &SolveResult::status)
      .def_readonly("objective", &SolveResult::objective)
      .def_readonly("expected_return", &SolveResult::expected_return)
      .def_readonly("risk", &SolveResult::risk)
      .def_readonly("iterations", &SolveResult::iterations)
      .def_readonly("primal_residual", &SolveResult::primal_residual)
      .def_readonly("dual_residual", &SolveResult::dual_residual)
      .def_readonly("gap", &SolveResult::gap)
      .def_readonly("rel_gap", &SolveResult::rel_gap)
      .def_readonly("budget_multiplier", &SolveResult::budget_multiplier)
      .def_readonly("active_lower", &SolveResult::active_lower)
      .def_readonly("active_upper", &SolveResult::active_upper)
      .def_readonly("solve_time_s", &SolveResult::solve_time_s)
      .def_readonly("lipschitz", &SolveResult::lipschitz)
      .def_readonly("restarts", &SolveResult::restarts)
      .def_readonly("factorizations", &SolveResult::factorizations)
      .def_readonly("zero_curvature_steps", &SolveResult::zero_curvature_steps)
      .def_readonly("crossover_iterations", &SolveResult::crossover_iterations)
      // Every scalar and array of the result in one call, in the order of `solvers._CORE_FIELDS`
      // (one attribute access each would cost more than a small solve).
      .def_property_readonly("fields", [](py::object self) {
        const auto& r = self.cast<const SolveResult&>();
        // read-only numpy views that keep `self` alive, as def_readonly gives them
        auto view = [&](const auto& v) { return py::cast(&v, py::return_value_policy::reference_internal, self); };
        return py::make_tuple(view(r.weights), r.status, r.objective, r.expected_return, r.risk, r.gap,
                              r.rel_gap, r.primal_residual, r.dual_residual, r.budget_multiplier,
                              view(r.active_lower), view(r.active_upper), r.iterations, r.solve_time_s);
      });

  py::class_<BatchResult>(m, "BatchResult")
      .def_readonly("weights", &BatchResult::weights)
      .def_readonly("status", &BatchResult::status)
      .def_readonly("iterations", &BatchResult::iterations)
      .def_readonly("objective", &BatchResult::objective)
      .def_readonly("expected_return", &BatchResult::expected_return)
      .def_readonly("risk", &BatchResult::risk)
      .def_readonly("gap", &BatchResult::gap)
      .def_readonly("rel_gap", &BatchResult::rel_gap)
      .def_readonly("solve_time_s", &BatchResult::solve_time_s)
      .def_readonly("turnover", &BatchResult::turnover)
      .def_readonly("costs_paid", &BatchResult::costs_paid)
      .def_readonly("trade_gain", &BatchResult::trade_gain);
}

}  // namespace microalloc::bindings
