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

  m.def(
      "decompose_risk",
      [](MatRef cov, MatRef weights, MatRef benchmark, MatRef expected_returns, int threads) {
        RiskInput in{cov, weights, benchmark, expected_returns};
        py::gil_scoped_release release;
        return decompose_risk(in, threads);
      },
      py::arg("cov").noconvert(), py::arg("weights").noconvert(), py::arg("benchmark").noconvert(),
      py::arg("expected_returns").noconvert(), py::arg("threads"));
}

}  // namespace microalloc::bindings
