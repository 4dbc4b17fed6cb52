#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <memory>
#include <optional>

#include "microalloc/covariance_model.hpp"

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
}  // namespace microalloc::bindings
