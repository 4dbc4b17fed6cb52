#pragma once
#include <pybind11/pybind11.h>

namespace microalloc::bindings {
void bind_types(pybind11::module_& m);
void bind_solvers(pybind11::module_& m);
void bind_risk(pybind11::module_& m);
void bind_rebalance(pybind11::module_& m);
void bind_frontier(pybind11::module_& m);
void bind_covariance(pybind11::module_& m);
}  // namespace microalloc::bindings
