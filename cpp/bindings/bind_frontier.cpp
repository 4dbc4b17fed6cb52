#include <pybind11/eigen.h>
#include <pybind11/stl.h>

#include <limits>

#include "bindings.hpp"
#include "microalloc/frontier.hpp"

namespace py = pybind11;

namespace microalloc::bindings {

void bind_frontier(py::module_& m) {
  // The whole frontier as a dict of arrays (turning points and segment coefficients).
  m.def(
      "efficient_frontier",
      [](const py::object& cov, VecRef mu, VecRef lower, VecRef upper, VecRef benchmark, double budget, double tol,
         int max_points, double stop_return, double stop_risk, py::object progress) {
        const CovArg cov_arg(cov);
        const CovarianceModel& model = cov_arg.model();
        Frontier f;
        PyProgress watch(std::move(progress));
        {
          py::gil_scoped_release release;
          f = efficient_frontier(FrontierProblem{model, mu, lower, upper, benchmark, budget},
                                 FrontierSettings{tol, max_points, stop_return, stop_risk}, watch.get());
        }
        watch.raise_if_stopped();
        py::dict d;
        d["status"] = f.status;
        d["message"] = std::string(f.message);
        d["tau"] = Vec(Eigen::Map<const Vec>(f.tau.data(), static_cast<Index>(f.tau.size())));
        d["weights"] = std::move(f.weights);
        d["expected_return"] = std::move(f.expected_return);
        d["risk"] = std::move(f.risk);
        d["mean0"] = std::move(f.mean0);
        d["mean1"] = std::move(f.mean1);
        d["var0"] = std::move(f.var0);
        d["var1"] = std::move(f.var1);
        d["var2"] = std::move(f.var2);
        d["unbounded"] = f.unbounded;
        d["truncated"] = f.truncated;
        d["ray"] = std::move(f.ray);
        d["max_rel_gap"] = f.max_rel_gap;
        d["max_primal_residual"] = f.max_primal_residual;
        d["factorizations"] = f.factorizations;
        d["solve_time_s"] = f.solve_time_s;
        return d;
      },
      py::arg("cov").noconvert(), py::arg("mu").noconvert(), py::arg("lower").noconvert(),
      py::arg("upper").noconvert(), py::arg("benchmark").noconvert(), py::arg("budget"), py::arg("tol"),
      py::arg("max_points"), py::arg("stop_return") = std::numeric_limits<double>::infinity(),
      py::arg("stop_risk") = std::numeric_limits<double>::infinity(), py::arg("progress") = py::none());
}

}  // namespace microalloc::bindings
