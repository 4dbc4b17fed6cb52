// Covariance models as Python objects (private, for tests and for the Python layer to build on).
//
// FactorModel(loadings, factor_cov, specific_var) borrows the three numpy arrays, as the C++
// model does: they must be C-contiguous float64 (no conversion, no copy; anything else is a
// TypeError) and are kept alive by the Python object, which holds references to them. They must
// not be modified while the model lives (the model's scaled loadings and diagonal were computed
// from them). FactorModel.free_block() returns a FreeBlock that keeps its model alive. Both
// release the GIL around their O(n k) work; a FreeBlock serialises its calls with a mutex (the
// module runs without the GIL on free-threaded Python).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "bindings.hpp"
#include "microalloc/covariance_model.hpp"

namespace py = pybind11;

namespace microalloc::bindings {
namespace {

using IndexArray = py::array_t<std::int64_t, py::array::c_style>;

void check_ndim(const py::array& a, py::ssize_t ndim, const char* what) {
  if (a.ndim() != ndim) {
    throw std::invalid_argument(std::string(what) + ": expected " + std::to_string(ndim) + " dimensions, got " +
                                std::to_string(a.ndim()));
  }
}

void check_len(py::ssize_t got, Index expected, const char* what) {
  if (got != expected) {
    throw std::invalid_argument(std::string(what) + ": expected length " + std::to_string(expected) + ", got " +
                                std::to_string(got));
  }
}

Eigen::Map<const RowMat> as_matrix(const CArray& a, const char* what) {
  check_ndim(a, 2, what);
  return {a.data(), static_cast<Index>(a.shape(0)), static_cast<Index>(a.shape(1))};
}

Eigen::Map<const Vec> as_vector(const CArray& a, const char* what) {
  check_ndim(a, 1, what);
  return {a.data(), static_cast<Index>(a.shape(0))};
}

std::vector<Index> as_indices(const IndexArray& a, const char* what) {
  check_ndim(a, 1, what);
  const std::int64_t* p = a.data();
  return std::vector<Index>(p, p + a.shape(0));
}

/// A FreeBlock of a model, keeping the model (a Python object) alive.
struct FreeBlockHolder {
  py::object owner;
  std::unique_ptr<FreeBlock> block;
  Index n = 0;
  mutable std::mutex mutex;
};

const char* append_name(FreeBlock::Append a) {
  switch (a) {
    case FreeBlock::Append::Ok: return "ok";
    case FreeBlock::Append::Singular: return "singular";
    case FreeBlock::Append::NegativeCurvature: return "negative_curvature";
  }
  return "unknown";
}

void bind_free_block(py::module_& m) {
  py::class_<FreeBlockHolder>(m, "FreeBlock",
                              "Factorisation of Ht = ra S_FF + sigma 11' over a changing set F of assets.")
      .def(
          "reset",
          [](FreeBlockHolder& h, const IndexArray& assets, double ra, double sigma) {
            const auto a = as_indices(assets, "assets");
            py::gil_scoped_release release;
            std::lock_guard<std::mutex> lock(h.mutex);
            return h.block->reset(a, ra, sigma);
          },
          py::arg("assets"), py::arg("ra"), py::arg("sigma"))
      .def(
          "assign",
          [](FreeBlockHolder& h, const IndexArray& assets, double ra, double sigma) {
            const auto a = as_indices(assets, "assets");
            py::gil_scoped_release release;
            std::lock_guard<std::mutex> lock(h.mutex);
            return h.block->assign(a, ra, sigma);
          },
          py::arg("assets"), py::arg("ra"), py::arg("sigma"))
      .def(
          "append",
          [](FreeBlockHolder& h, Index j) {
            Vec dir;
            FreeBlock::Append status;
            {
              py::gil_scoped_release release;
              std::lock_guard<std::mutex> lock(h.mutex);
              status = h.block->append(j, dir);
            }
            py::object out = py::none();
            if (status != FreeBlock::Append::Ok) out = py::array_t<double>(dir.size(), dir.data());
            return py::make_tuple(append_name(status), out);
          },
          py::arg("j"))
      .def(
          "remove",
          [](FreeBlockHolder& h, Index pos) {
            py::gil_scoped_release release;
            std::lock_guard<std::mutex> lock(h.mutex);
            h.block->remove(pos);
          },
          py::arg("pos"))
      .def(
          "solve",
          [](FreeBlockHolder& h, const CArray& x) {
            check_ndim(x, 1, "x");
            Vec out = Eigen::Map<const Vec>(x.data(), static_cast<Index>(x.shape(0)));
            {
              py::gil_scoped_release release;
              std::lock_guard<std::mutex> lock(h.mutex);
              check_len(x.shape(0), h.block->size(), "x");
              h.block->solve(out);
            }
            return py::array_t<double>(out.size(), out.data());
          },
          py::arg("x"))
      .def("size",
           [](FreeBlockHolder& h) {
             std::lock_guard<std::mutex> lock(h.mutex);
             return h.block->size();
           })
      .def("factorizations", [](FreeBlockHolder& h) {
        std::lock_guard<std::mutex> lock(h.mutex);
        return h.block->factorizations();
      });
}

}  // namespace

FactorModelHolder::FactorModelHolder(CArray x, CArray f, CArray d)
    : loadings(std::move(x)), factor_cov(std::move(f)), specific_var(std::move(d)) {
  const auto xm = as_matrix(loadings, "loadings");
  const auto fm = as_matrix(factor_cov, "factor_cov");
  const auto dv = as_vector(specific_var, "specific_var");
  py::gil_scoped_release release;
  model = std::make_unique<FactorCovariance>(xm, fm, dv);
}

CovArg::CovArg(py::handle cov) {
  if (py::isinstance<FactorModelHolder>(cov)) {
    model_ = cov.cast<const FactorModelHolder&>().model.get();
    return;
  }
  py::detail::make_caster<MatRef> caster;
  if (!caster.load(cov, /*convert=*/false)) {
    throw py::type_error("cov: expected a _core.FactorModel or a float64 C-ordered matrix");
  }
  dense_.emplace(py::detail::cast_op<MatRef>(caster));  // O(n): the diagonal; the matrix is borrowed
  model_ = &*dense_;
}

/// S x for a vector x.
py::array_t<double> apply_model(const FactorModelHolder& h, const CArray& x) {
  const auto xv = as_vector(x, "x");
  check_len(x.shape(0), h.n(), "x");
  Vec y(h.n());
  {
    py::gil_scoped_release release;
    h.model->apply(xv, y);
  }
  return py::array_t<double>(y.size(), y.data());
}

void bind_covariance(py::module_& m) {
  bind_free_block(m);
  py::class_<FactorModelHolder>(m, "FactorModel",
                                "S = X F X' + diag(d), never formed. Borrows its three arrays (C-contiguous "
                                "float64, kept alive by this object; do not modify them while it lives).")
      .def(py::init<CArray, CArray, CArray>(), py::arg("loadings").noconvert(), py::arg("factor_cov").noconvert(),
           py::arg("specific_var").noconvert())
      .def_property_readonly("n", &FactorModelHolder::n)
      .def_property_readonly("shape", [](const FactorModelHolder& h) { return py::make_tuple(h.n(), h.n()); })
      .def_property_readonly("k", [](const FactorModelHolder& h) { return h.model->factors(); })
      .def_property_readonly("rank", [](const FactorModelHolder& h) { return h.model->rank(); })
      .def("diagonal",
           [](const FactorModelHolder& h) {
             const Vec& d = h.model->diagonal();
             return py::array_t<double>(d.size(), d.data());
           })
      .def("apply", &apply_model, py::arg("x").noconvert())
      .def("__matmul__", &apply_model, py::arg("x").noconvert())  // S @ x, as a matrix would
      .def(
          "apply_rows",
          [](const FactorModelHolder& h, const CArray& w) {
            const auto wm = as_matrix(w, "w");
            check_len(w.shape(1), h.n(), "w: columns");
            RowMat y;
            {
              py::gil_scoped_release release;
              h.model->apply_rows(wm, y);
            }
            return py::array_t<double>({y.rows(), y.cols()}, y.data());
          },
          py::arg("w").noconvert())
      .def(
          "quadratic",
          [](const FactorModelHolder& h, const CArray& x) {
            const auto xv = as_vector(x, "x");
            check_len(x.shape(0), h.n(), "x");
            py::gil_scoped_release release;
            return h.model->quadratic(xv);
          },
          py::arg("x").noconvert())
      .def(
          "gather",
          [](const FactorModelHolder& h, const IndexArray& rows, const IndexArray& cols) {
            const auto r = as_indices(rows, "rows");
            const auto c = as_indices(cols, "cols");
            const auto nr = static_cast<Index>(r.size()), nc = static_cast<Index>(c.size());
            RowMat out(nr, nc);
            {
              py::gil_scoped_release release;
              h.model->gather(r.data(), nr, c.data(), nc, out.data(), nc);
            }
            return py::array_t<double>({nr, nc}, out.data());
          },
          py::arg("rows"), py::arg("cols"))
      .def(
          "add_column",
          [](const FactorModelHolder& h, Index j, double alpha, CArray& y) {
            check_ndim(y, 1, "y");
            check_len(y.shape(0), h.n(), "y");
            Eigen::Map<Vec> yv(y.mutable_data(), h.n());
            py::gil_scoped_release release;
            h.model->add_column(j, alpha, yv);
          },
          py::arg("j"), py::arg("alpha"), py::arg("y").noconvert())
      .def("free_block", [](py::object self) {
        auto& h = self.cast<FactorModelHolder&>();
        auto out = std::make_unique<FreeBlockHolder>();
        out->owner = self;
        out->n = h.n();
        out->block = h.model->free_block();
        return out;
      });
}

}  // namespace microalloc::bindings
