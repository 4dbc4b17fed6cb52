#include "bindings.hpp"

PYBIND11_MODULE(MICROALLOC_MODULE, m, pybind11::mod_gil_not_used()) {
  m.doc() = "microalloc compiled core (private: use the microalloc package)";
  m.attr("__version__") = MICROALLOC_VERSION;
  microalloc::bindings::bind_types(m);
  microalloc::bindings::bind_solvers(m);
  microalloc::bindings::bind_risk(m);
  microalloc::bindings::bind_rebalance(m);
  microalloc::bindings::bind_frontier(m);
  microalloc::bindings::bind_covariance(m);
  microalloc::bindings::bind_shares(m);
}
