// Which instruction sets the CPU (and the operating system) support, for the choice of the core
// build. Compiled for the baseline target: it must load on any machine.
#include <pybind11/pybind11.h>

namespace {

bool has_x86_64_v3() {
#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
  __builtin_cpu_init();
  // __builtin_cpu_supports reports AVX/AVX2 only when the OS saves the YMM state (XGETBV).
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return false;
#endif
}

}  // namespace

PYBIND11_MODULE(_cpu, m, pybind11::mod_gil_not_used()) {
  m.doc() = "CPU features that decide which microalloc core build is loaded (private)";
  m.def("has_x86_64_v3", &has_x86_64_v3, "AVX2 and FMA are usable (what the x86-64-v3 core build is compiled for).");
}
