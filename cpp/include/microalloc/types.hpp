#pragma once
/// Common numeric types of the microalloc core. Matrices crossing from numpy are row-major
/// (numpy's default C order), so they map without a copy.
#include <Eigen/Core>
#include <cstdint>

namespace microalloc {

using Index = Eigen::Index;
using Vec = Eigen::VectorXd;
using IndexVec = Eigen::Matrix<std::int64_t, Eigen::Dynamic, 1>;
using RowMat = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using VecRef = Eigen::Ref<const Vec>;
using MatRef = Eigen::Ref<const RowMat>;
using VecMut = Eigen::Ref<Vec>;

}  // namespace microalloc
