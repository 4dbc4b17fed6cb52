#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <exception>
#include <memory>
#include <optional>

#include "microalloc/covariance_model.hpp"
#include "microalloc/progress.hpp"

namespace microalloc::bindings {
void bind_types(pybind11::module_& m);
void bind_solvers(pybind11::module_& m);
void bind_risk(pybind11::module_& m);
void bind_rebalance(pybind11::module_& m);
void bind_frontier(pybind11::module_& m);
void bind_covariance(pybind11::module_& m);
void bind_shares(pybind11::module_& m);

using CArray = pybind11::array_t<double, pybind11::array::c_style>;

/// _core.FactorModel: the model and the arrays it borrows (members are destroyed in reverse order:
/// the model first).
struct FactorModelHolder {
  CArray loadings, factor_cov, specific_var;
  std::unique_ptr<FactorCovariance> model;

  FactorModelHolder(CArray x, CArray f, CArray d);
  Index n() const { return model->size(); }
};

/// The covariance argument of every binding that takes one: a _core.FactorModel, or a float64
/// C-ordered square matrix (borrowed without a copy: anything else is a TypeError, as with
/// .noconvert()). The argument outlives the call, so the borrowed matrix does too.
class CovArg {
 public:
  explicit CovArg(pybind11::handle cov);
  const CovarianceModel& model() const noexcept { return *model_; }

 private:
  std::optional<DenseCovariance> dense_;
  const CovarianceModel* model_ = nullptr;
};

/// The core's Progress for a call from Python. Made with the GIL held, on the calling thread; its
/// callback (the only code that runs it is that thread's) takes the GIL back, checks for signals
/// (so Ctrl-C stops the run) and calls the user's `progress(done, total)` if one was given. A
/// Python exception there stops the run; after the core returns, `raise_if_stopped()` (GIL held)
/// raises it. The callback runs at most every 50 ms (and once at the end).
class PyProgress {
 public:
  explicit PyProgress(pybind11::object callback);
  Progress& core() noexcept { return progress_; }
  Progress* get() noexcept { return &progress_; }
  void raise_if_stopped();

 private:
  bool call(std::int64_t done, std::int64_t total) noexcept;

  pybind11::object callback_;
  std::exception_ptr error_;
  Progress progress_;
};

/// A single solve run with the GIL released and Ctrl-C checked (every 50 ms, no callback):
/// `solve()` reads `settings.progress`; a KeyboardInterrupt is raised after it returns.
template <class Settings, class Solve>
auto run_interruptible(Settings& settings, Solve&& solve) {
  PyProgress watch{pybind11::none()};
  settings.progress = watch.get();
  decltype(solve()) out;
  {
    pybind11::gil_scoped_release release;
    out = solve();
  }
  watch.raise_if_stopped();
  return out;
}
}  // namespace microalloc::bindings
