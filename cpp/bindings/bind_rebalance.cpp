#include <cstdint>

#include <pybind11/eigen.h>
#include <optional>

#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include "bindings.hpp"
#include "microalloc/rebalance.hpp"

namespace py = pybind11;

namespace microalloc::bindings {

namespace {

template <class T>
T* ptr(py::array_t<T>& a) {
  return a.mutable_data();
}

}  // namespace

void bind_rebalance(py::module_& m) {
  py::enum_<Trigger>(m, "Trigger")
      .value("ANY_BREACH", Trigger::AnyBreach)
      .value("L1_DRIFT", Trigger::L1Drift)
      .value("TRACKING_ERROR", Trigger::TrackingError);
  py::enum_<Action>(m, "Action")
      .value("TARGET", Action::Target)
      .value("BAND_EDGE", Action::BandEdge)
      .value("HALFWAY", Action::Halfway);

  // Returns (breach or None, n_breaches, max_drift, l1_drift, tracking_error or None, triggered).
  m.def(
      "check_bands",
      [](MatRef weights, MatRef targets, VecRef absolute, VecRef relative, bool combine_max, const py::object& cov,
         Trigger trigger, double threshold, bool with_breach, int threads) {
        const auto rows = static_cast<py::ssize_t>(weights.rows()), cols = static_cast<py::ssize_t>(weights.cols());
        const CovArg cov_arg(cov);  // a 0 x 0 matrix: no tracking-error trigger
        const bool with_te = cov_arg.model().size() > 0;
        py::array_t<bool> breach = with_breach ? py::array_t<bool>({rows, cols}) : py::array_t<bool>();
        py::array_t<std::int64_t> count(rows);
        py::array_t<double> max_drift(rows), l1(rows);
        py::array_t<double> te = with_te ? py::array_t<double>(rows) : py::array_t<double>();
        py::array_t<bool> triggered(rows);
        BandCheckOutput out;
        out.breach = with_breach ? ptr(breach) : nullptr;
        out.n_breaches = ptr(count);
        out.max_drift = ptr(max_drift);
        out.l1_drift = ptr(l1);
        out.tracking_error = with_te ? ptr(te) : nullptr;
        out.triggered = ptr(triggered);
        const CovarianceModel* model = with_te ? &cov_arg.model() : nullptr;
        {
          py::gil_scoped_release release;
          check_bands(weights, Bands{targets, absolute, relative, combine_max}, model,
                      trigger, threshold, threads, out);
        }
        return py::make_tuple(with_breach ? py::object(breach) : py::none(), count, max_drift, l1,
                              with_te ? py::object(te) : py::none(), triggered);
      },
      py::arg("weights").noconvert(), py::arg("targets").noconvert(), py::arg("absolute").noconvert(),
      py::arg("relative").noconvert(), py::arg("combine_max"), py::arg("cov").noconvert(), py::arg("trigger"),
      py::arg("threshold"), py::arg("with_breach"), py::arg("threads"));

  // Returns (new weights, trades).
  m.def(
      "rebalance",
      [](MatRef weights, MatRef targets, VecRef absolute, VecRef relative, bool combine_max,
         std::optional<py::array_t<bool, py::array::c_style>> trade_rows, Action action, double min_trade,
         int threads) {
        const auto rows = static_cast<py::ssize_t>(weights.rows()), cols = static_cast<py::ssize_t>(weights.cols());
        if (trade_rows && trade_rows->size() != rows) throw std::invalid_argument("rows: expected one flag per row");
        py::array_t<double> x({rows, cols}), trades({rows, cols});
        const bool* flags = trade_rows ? trade_rows->data() : nullptr;
        double* px = ptr(x);
        double* pt = ptr(trades);
        {
          py::gil_scoped_release release;
          rebalance(weights, Bands{targets, absolute, relative, combine_max}, flags, action, min_trade, threads, px, pt);
        }
        return py::make_tuple(x, trades);
      },
      py::arg("weights").noconvert(), py::arg("targets").noconvert(), py::arg("absolute").noconvert(),
      py::arg("relative").noconvert(), py::arg("combine_max"), py::arg("rows"), py::arg("action"),
      py::arg("min_trade"), py::arg("threads"));

  // Policies as parallel arrays (one entry or row per policy); returns (values P x T, rebalances,
  // turnover, costs, log of the value kept after costs).
  m.def(
      "backtest",
      [](MatRef prices, VecRef targets, const std::vector<int>& kinds,
         py::array_t<std::uint8_t, py::array::c_style> check_days, MatRef absolute, MatRef relative,
         const std::vector<bool>& has_absolute, const std::vector<bool>& has_relative,
         const std::vector<bool>& combine_max, const std::vector<Action>& actions, VecRef min_trade,
         VecRef proportional, VecRef impact, int threads, py::object progress) {
        const auto count = static_cast<py::ssize_t>(kinds.size());
        const auto days = static_cast<py::ssize_t>(prices.rows());
        if (check_days.ndim() != 2 || check_days.shape(0) != count || check_days.shape(1) != days ||
            absolute.rows() != count || relative.rows() != count || has_absolute.size() != kinds.size() ||
            has_relative.size() != kinds.size() || combine_max.size() != kinds.size() ||
            actions.size() != kinds.size() || min_trade.size() != count) {
          throw std::invalid_argument("policies: inconsistent sizes");
        }
        std::vector<Policy> policies(kinds.size());
        for (std::size_t p = 0; p < kinds.size(); ++p) {
          Policy& pol = policies[p];
          pol.kind = static_cast<Policy::Kind>(kinds[p]);
          pol.check_days = check_days.data(static_cast<py::ssize_t>(p), 0);
          if (has_absolute[p]) pol.absolute = absolute.row(static_cast<Index>(p)).transpose();
          if (has_relative[p]) pol.relative = relative.row(static_cast<Index>(p)).transpose();
          pol.combine_max = combine_max[p];
          pol.action = actions[p];
          pol.min_trade = min_trade[static_cast<Index>(p)];
        }
        py::array_t<double> values({count, days}), turnover(count), paid(count), kept(count);
        py::array_t<std::int64_t> rebalances(count);
        BacktestOutput out{ptr(values), ptr(rebalances), ptr(turnover), ptr(paid), ptr(kept)};
        PyProgress watch(std::move(progress));
        {
          py::gil_scoped_release release;
          backtest(prices, targets, policies, Costs{proportional, impact}, threads, out, watch.get());
        }
        watch.raise_if_stopped();
        return py::make_tuple(values, rebalances, turnover, paid, kept);
      },
      py::arg("prices").noconvert(), py::arg("targets").noconvert(), py::arg("kinds"), py::arg("check_days"),
      py::arg("absolute").noconvert(), py::arg("relative").noconvert(), py::arg("has_absolute"),
      py::arg("has_relative"), py::arg("combine_max"), py::arg("actions"), py::arg("min_trade").noconvert(),
      py::arg("proportional").noconvert(), py::arg("impact").noconvert(), py::arg("threads"),
      py::arg("progress") = py::none());

  m.def(
      "drift",
      [](MatRef weights, MatRef returns, int threads) {
        py::array_t<double> x({static_cast<py::ssize_t>(weights.rows()), static_cast<py::ssize_t>(weights.cols())});
        double* px = ptr(x);
        {
          py::gil_scoped_release release;
          drift(weights, returns, threads, px);
        }
        return x;
      },
      py::arg("weights").noconvert(), py::arg("returns").noconvert(), py::arg("threads"));
}

}  // namespace microalloc::bindings
