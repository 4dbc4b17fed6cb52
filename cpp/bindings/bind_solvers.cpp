#include <pybind11/eigen.h>

#include "bindings.hpp"
#include "microalloc/batch.hpp"
#include "microalloc/check.hpp"
#include "microalloc/covariance.hpp"
#include "microalloc/linear_rows.hpp"
#include "microalloc/mean_variance.hpp"
#include "microalloc/projection.hpp"
#include "microalloc/trading_costs.hpp"

namespace py = pybind11;

namespace microalloc::bindings {

// Every array parameter is .noconvert(): a float64 C-ordered array maps without a copy, anything
// else is a TypeError here instead of a silent copy (the Python layer normalises inputs first).
// The GIL is released only inside block scopes that touch no Python object.

void bind_solvers(py::module_& m) {
  m.def(
      "inspect_covariance",
      [](MatRef cov, double symmetry_tol) {
        MICROALLOC_CHECK_SIZE(cov.cols(), cov.rows(), "cov columns");
        py::gil_scoped_release release;
        return inspect_covariance(cov, symmetry_tol);
      },
      py::arg("cov").noconvert(), py::arg("symmetry_tol"));

  m.def(
      "covariance_fingerprint",
      [](MatRef cov) {
        MICROALLOC_CHECK_SIZE(cov.cols(), cov.rows(), "cov columns");
        Fingerprint fp;
        {
          py::gil_scoped_release release;
          fp = fingerprint(cov);
        }
        return py::make_tuple(fp.h[0], fp.h[1], fp.h[2]);
      },
      py::arg("cov").noconvert());

  m.def(
      "check_positive_semidefinite",
      [](MatRef cov, double rel_tol) {
        MICROALLOC_CHECK_SIZE(cov.cols(), cov.rows(), "cov columns");
        py::gil_scoped_release release;
        return check_positive_semidefinite(cov, rel_tol);
      },
      py::arg("cov").noconvert(), py::arg("rel_tol"));

  // Input checks: None when the input is fine, else a plain tuple (cheaper than a bound object
  // on the hot path of every solve); the Python layer turns it into a named error.
  m.def(
      "check_bounds",
      [](VecRef lower, VecRef upper, double budget) -> py::object {
        const BoundsIssue is = check_bounds(lower, upper, budget);
        if (is.kind == BoundsIssue::Kind::None) return py::none();
        return py::make_tuple(is.kind, is.argument, is.index, is.count, is.value, is.other);
      },
      py::arg("lower").noconvert(), py::arg("upper").noconvert(), py::arg("budget"));

  m.def(
      "find_non_finite",
      [](VecRef v, bool allow_infinite) -> py::object {
        const NonFinite nf = find_non_finite(v, allow_infinite);
        if (nf.count == 0) return py::none();
        return py::make_tuple(nf.index, nf.count, nf.value);
      },
      py::arg("v").noconvert(), py::arg("allow_infinite") = false);

  m.def(
      "project_box_budget",
      [](VecRef y, VecRef lower, VecRef upper, double budget) {
        MICROALLOC_CHECK_SIZE(lower.size(), y.size(), "lower");
        MICROALLOC_CHECK_SIZE(upper.size(), y.size(), "upper");
        Vec x(y.size());
        double nu;
        {
          py::gil_scoped_release release;
          BoxBudgetProjector proj;
          nu = proj.project(y.data(), nullptr, lower.data(), upper.data(), y.size(), budget, x.data(),
                            (y.sum() - budget) / static_cast<double>(std::max<Index>(y.size(), 1)));
        }
        return py::make_tuple(std::move(x), nu);
      },
      py::arg("y").noconvert(), py::arg("lower").noconvert(), py::arg("upper").noconvert(),
      py::arg("budget"));

  m.def(
      "solve_projected_gradient",
      [](const py::object& cov, VecRef mu, VecRef lower, VecRef upper, VecRef benchmark, double risk_aversion,
         double budget, VecRef warm_start, double tol, int max_iter, bool check_curvature) {
        const CovArg cov_arg(cov);
        const CovarianceModel& model = cov_arg.model();
        MeanVarianceProblem problem{model, mu, lower, upper, benchmark, risk_aversion, budget};
        SolverSettings settings;
        settings.tol = tol;
        settings.max_iter = max_iter;
        settings.check_curvature = check_curvature;
        return run_interruptible(settings, [&] { return solve_projected_gradient(problem, settings, warm_start); });
      },
      py::arg("cov").noconvert(), py::arg("mu").noconvert(), py::arg("lower").noconvert(),
      py::arg("upper").noconvert(), py::arg("benchmark").noconvert(), py::arg("risk_aversion"),
      py::arg("budget"), py::arg("warm_start").noconvert(), py::arg("tol"), py::arg("max_iter"),
      py::arg("check_curvature"));

  m.def(
      "solve_with_rows",
      [](const py::object& cov, VecRef mu, VecRef lower, VecRef upper, VecRef benchmark, double risk_aversion,
         double budget, MatRef a, VecRef row_lower, VecRef row_upper, VecRef warm_start, double tol, int max_iter,
         VecRef current, VecRef buy, VecRef sell, double turnover, VecRef multipliers_start) {
        const CovArg cov_arg(cov);
        const CovarianceModel& model = cov_arg.model();
        MeanVarianceProblem problem{model, mu, lower, upper, benchmark, risk_aversion, budget};
        const LinearRows rows{a, row_lower, row_upper};
        const TradingCosts costs{current, buy, sell, turnover};
        SolverSettings settings;
        settings.tol = tol;
        settings.max_iter = max_iter;
        RowsSolveResult out = run_interruptible(settings, [&] {  // Ctrl-C: polled by the active-set solves inside
          return solve_with_rows(problem, rows, settings, warm_start, 100, current.size() > 0 ? &costs : nullptr,
                                 Vec(multipliers_start));
        });
        py::dict trading;
        trading["turnover"] = out.turnover;
        trading["costs_paid"] = out.costs_paid;
        trading["turnover_multiplier"] = out.turnover_multiplier;
        trading["trade_gain"] = out.trade_gain;
        return py::make_tuple(std::move(out.result), std::move(out.multipliers), std::move(out.values),
                              out.row_violation, out.outer_iterations, trading);
      },
      py::arg("cov").noconvert(), py::arg("mu").noconvert(), py::arg("lower").noconvert(),
      py::arg("upper").noconvert(), py::arg("benchmark").noconvert(), py::arg("risk_aversion"),
      py::arg("budget"), py::arg("a").noconvert(), py::arg("row_lower").noconvert(),
      py::arg("row_upper").noconvert(), py::arg("warm_start").noconvert(), py::arg("tol"), py::arg("max_iter"),
      py::arg("current").noconvert(), py::arg("buy").noconvert(), py::arg("sell").noconvert(),
      py::arg("turnover"), py::arg("multipliers_start").noconvert());

  m.def(
      "solve_active_set",
      [](const py::object& cov, VecRef mu, VecRef lower, VecRef upper, VecRef benchmark, double risk_aversion,
         double budget, VecRef warm_start, double tol, int max_iter) {
        const CovArg cov_arg(cov);
        const CovarianceModel& model = cov_arg.model();
        MeanVarianceProblem problem{model, mu, lower, upper, benchmark, risk_aversion, budget};
        SolverSettings settings;
        settings.tol = tol;
        settings.max_iter = max_iter;
        return run_interruptible(settings, [&] { return solve_active_set(problem, settings, warm_start); });
      },
      py::arg("cov").noconvert(), py::arg("mu").noconvert(), py::arg("lower").noconvert(),
      py::arg("upper").noconvert(), py::arg("benchmark").noconvert(), py::arg("risk_aversion"),
      py::arg("budget"), py::arg("warm_start").noconvert(), py::arg("tol"), py::arg("max_iter"));

  m.def(
      "certify_weights",
      [](const py::object& cov, VecRef mu, VecRef lower, VecRef upper, VecRef benchmark, double risk_aversion,
         double budget, VecRef weights, double tol) {
        const CovArg cov_arg(cov);
        const CovarianceModel& model = cov_arg.model();
        MeanVarianceProblem problem{model, mu, lower, upper, benchmark, risk_aversion, budget};
        py::gil_scoped_release release;
        return certify_weights(problem, weights, tol);
      },
      py::arg("cov").noconvert(), py::arg("mu").noconvert(), py::arg("lower").noconvert(),
      py::arg("upper").noconvert(), py::arg("benchmark").noconvert(), py::arg("risk_aversion"),
      py::arg("budget"), py::arg("weights").noconvert(), py::arg("tol"));

  m.def(
      "solve_batch",
      [](const py::object& cov, MatRef mu, MatRef lower, MatRef upper, MatRef benchmark, MatRef warm_start,
         VecRef risk_aversion, VecRef budget, Index m, double tol, int max_iter, int method, int threads, MatRef a,
         VecRef row_lower, VecRef row_upper, MatRef current, MatRef buy, MatRef sell, VecRef turnover,
         py::object progress) {
        const CovArg cov_arg(cov);
        const CovarianceModel& model = cov_arg.model();
        const LinearRows rows{a, row_lower, row_upper};
        BatchInput in{model, mu, lower, upper, benchmark, warm_start, risk_aversion, budget, m,
                      a.rows() > 0 ? &rows : nullptr, current, buy, sell, turnover};
        SolverSettings settings;
        settings.tol = tol;
        settings.max_iter = max_iter;
        PyProgress watch(std::move(progress));
        BatchResult out;
        {
          py::gil_scoped_release release;
          out = solve_batch(in, settings, static_cast<Method>(method), threads, watch.get());
        }
        watch.raise_if_stopped();
        return out;
      },
      py::arg("cov").noconvert(), py::arg("mu").noconvert(), py::arg("lower").noconvert(),
      py::arg("upper").noconvert(), py::arg("benchmark").noconvert(), py::arg("warm_start").noconvert(),
      py::arg("risk_aversion").noconvert(), py::arg("budget").noconvert(), py::arg("m"), py::arg("tol"),
      py::arg("max_iter"), py::arg("method"), py::arg("threads"), py::arg("a").noconvert(),
      py::arg("row_lower").noconvert(), py::arg("row_upper").noconvert(), py::arg("current").noconvert(),
      py::arg("buy").noconvert(), py::arg("sell").noconvert(), py::arg("turnover").noconvert(),
      py::arg("progress") = py::none());

  m.def(
      "minimum_turnover",
      [](VecRef current, VecRef lower, VecRef upper, double budget) {
        if (lower.size() != current.size() || upper.size() != current.size()) {
          throw std::invalid_argument("minimum_turnover: current, lower and upper must have one length");
        }
        return minimum_turnover(current, lower, upper, budget);
      },
      py::arg("current").noconvert(), py::arg("lower").noconvert(), py::arg("upper").noconvert(), py::arg("budget"));
}

}  // namespace microalloc::bindings
