#include <pybind11/eigen.h>

#include "bindings.hpp"
#include "microalloc/whole_shares.hpp"

namespace microalloc::bindings {

namespace py = pybind11;

void bind_shares(py::module_& m) {
  m.def(
      "round_to_lots",
      [](VecRef target, VecRef lot_value, double value, MatRef cov, std::int64_t max_nodes) {
        const SharesProblem problem{target, lot_value, value, cov};
        SharesResult r;
        {
          py::gil_scoped_release release;
          r = max_nodes > 0 ? best_lots(problem, max_nodes) : round_to_lots(problem);
        }
        return py::make_tuple(std::move(r.lots), r.cash, r.objective, r.lower_bound, static_cast<int>(r.status),
                              r.nodes);
      },
      py::arg("target").noconvert(), py::arg("lot_value").noconvert(), py::arg("value"),
      py::arg("cov").noconvert(), py::arg("max_nodes"));

  m.def(
      "round_to_lots_batch",
      [](MatRef targets, MatRef lot_values, VecRef values, MatRef cov, std::int64_t max_nodes, int threads,
         py::object progress) {
        SharesBatchResult r;
        PyProgress watch(std::move(progress));
        {
          py::gil_scoped_release release;
          r = round_to_lots_batch(targets, lot_values, values, cov, max_nodes, threads, watch.get());
        }
        watch.raise_if_stopped();
        return py::make_tuple(std::move(r.lots), std::move(r.cash), std::move(r.objective), std::move(r.lower_bound),
                              std::move(r.status));
      },
      py::arg("targets").noconvert(), py::arg("lot_values").noconvert(), py::arg("values").noconvert(),
      py::arg("cov").noconvert(), py::arg("max_nodes"), py::arg("threads"), py::arg("progress") = py::none());
}

}  // namespace microalloc::bindings
