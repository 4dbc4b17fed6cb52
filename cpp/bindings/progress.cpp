#include <pybind11/pybind11.h>

#include <stdexcept>
#include <utility>

#include "bindings.hpp"

namespace py = pybind11;

namespace microalloc::bindings {

PyProgress::PyProgress(py::object callback)
    : callback_(std::move(callback)),
      progress_([this](std::int64_t done, std::int64_t total) { return call(done, total); }, 0.05) {}

bool PyProgress::call(std::int64_t done, std::int64_t total) noexcept {
  py::gil_scoped_acquire gil;
  try {
    if (PyErr_CheckSignals() != 0) throw py::error_already_set();
    if (!callback_.is_none()) callback_(done, total);
    return true;
  } catch (...) {
    error_ = std::current_exception();  // raised by raise_if_stopped, with the GIL held
    return false;
  }
}

void PyProgress::raise_if_stopped() {
  if (!progress_.stopped()) return;
  if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
  throw std::runtime_error("the run was stopped");  // not reached: the callback stops only on an error
}

}  // namespace microalloc::bindings
