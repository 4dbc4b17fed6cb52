#include <pybind11/eigen.h>

#include "bindings.hpp"
#include "microalloc/risk.hpp"

namespace py = pybind11;

namespace microalloc::bindings {

void bind_risk(py::module_& m) {
  py::class_<RiskDecomposition>(m, "RiskDecomposition")
      .def_readonly("volatility", &RiskDecomposition::volatility)
      .def_readonly("marginal", &RiskDecomposition::marginal)
      .def_readonly("component", &RiskDecomposition::component)
      .def_readonly("percent", &RiskDecomposition::percent)
      .def_readonly("tracking_error", &RiskDecomposition::tracking_error)
      .def_readonly("active_marginal", &RiskDecomposition::active_marginal)
      .def_readonly("active_component", &RiskDecomposition::active_component)
      .def_readonly("active_percent", &RiskDecomposition::active_percent)
      .def_readonly("active_return", &RiskDecomposition::active_return)
      .def_readonly("active_return_contribution", &RiskDecomposition::active_return_contribution)
      .def_readonly("efficiency", &RiskDecomposition::efficiency);

  py::class_<RiskBudgetingResult>(m, "RiskBudgetingResult")
      .def_readonly("weights", &RiskBudgetingResult::weights)
      .def_readonly("status", &RiskBudgetingResult::status)
      .def_readonly("iterations", &RiskBudgetingResult::iterations)
      .def_readonly("newton_steps", &RiskBudgetingResult::newton_steps)
      .def_readonly("risk_contributions", &RiskBudgetingResult::risk_contributions)
      .def_readonly("max_budget_error", &RiskBudgetingResult::max_budget_error)
      .def_readonly("volatility", &RiskBudgetingResult::volatility)
      .def_readonly("solve_time_s", &RiskBudgetingResult::solve_time_s)
      .def_readonly("kkt_residual", &RiskBudgetingResult::kkt_residual)
      .def_readonly("budget_shift", &RiskBudgetingResult::budget_shift)
      .def_readonly("bound_state", &RiskBudgetingResult::bound_state)
      .def_readonly("bound_rounds", &RiskBudgetingResult::bound_rounds);

  m.def(
      "risk_budgeting",
      [](const py::object& cov, VecRef budgets, double tol, int max_sweeps, int newton_max_n) {
        RiskBudgetingSettings settings;
        settings.tol = tol;
        settings.max_sweeps = max_sweeps;
        settings.newton_max_n = newton_max_n;
        const CovArg cov_arg(cov);
        const CovarianceModel& model = cov_arg.model();
        py::gil_scoped_release release;
        return risk_budgeting(model, budgets, settings);
      },
      py::arg("cov").noconvert(), py::arg("budgets").noconvert(), py::arg("tol"), py::arg("max_sweeps"),
      py::arg("newton_max_n"));

  m.def(
      "risk_budgeting_bounded",
      [](const py::object& cov, VecRef budgets, VecRef lower, VecRef upper, double tol, int max_iter, int guess_rounds) {
        RiskBudgetingSettings settings;
        settings.guess_rounds = guess_rounds;
        settings.tol = tol;
        settings.max_sweeps = max_iter;
        const CovArg cov_arg(cov);
        const CovarianceModel& model = cov_arg.model();
        py::gil_scoped_release release;
        return risk_budgeting(model, budgets, lower, upper, settings);
      },
      py::arg("cov").noconvert(), py::arg("budgets").noconvert(), py::arg("lower").noconvert(),
      py::arg("upper").noconvert(), py::arg("tol"), py::arg("max_iter"), py::arg("guess_rounds"));

  m.def(
      "decompose_risk",
      [](const py::object& cov, MatRef weights, MatRef benchmark, MatRef expected_returns, int threads) {
        const CovArg cov_arg(cov);
        const CovarianceModel& model = cov_arg.model();
        RiskInput in{model, weights, benchmark, expected_returns};
        py::gil_scoped_release release;
        return decompose_risk(in, threads);
      },
      py::arg("cov").noconvert(), py::arg("weights").noconvert(), py::arg("benchmark").noconvert(),
      py::arg("expected_returns").noconvert(), py::arg("threads"));
}

}  // namespace microalloc::bindings
