#pragma once
// Internal to the core (not installed): rows of per-problem matrices and the thread pool shared by
// the batched kernels (batch.cpp, risk.cpp).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "microalloc/progress.hpp"
#include "microalloc/types.hpp"

namespace microalloc::detail {

/// A per-problem matrix is 1 x n (shared by the m problems) or m x n; `optional`: 0 x 0 too.
inline void check_rows(const MatRef& a, Index m, Index n, const char* name, bool optional) {
  if (optional && a.rows() == 0 && a.cols() == 0) return;
  if (a.cols() != n || !(a.rows() == 1 || a.rows() == m)) {
    throw std::invalid_argument(std::string(name) + ": expected 1 x n or m x n rows");
  }
}

/// Row i of a per-problem matrix (its only row when it has one; empty when it has none).
inline Eigen::Map<const Vec> row_of(const MatRef& a, Index i) {
  if (a.rows() == 0) return Eigen::Map<const Vec>(a.data(), 0);
  const Index r = a.rows() == 1 ? 0 : i;
  return Eigen::Map<const Vec>(a.data() + r * a.outerStride(), a.cols());
}

/// Runs worker(take) on up to `threads` threads (<= 0: the hardware's), the calling one included,
/// where take() hands out the task indices 0 .. count-1 in order, then -1. A worker keeps its own
/// state across the tasks it takes. If the system refuses to start a thread, the others take its
/// share. The first exception escaping a worker is rethrown once every thread has joined.
/// With a progress, take() is a checkpoint (-1 once stopped), and the calling thread, once out of
/// tasks, keeps polling until the other threads are done (so the callback runs until the end).
template <class Worker>
void run_workers(Index count, int threads, Progress* progress, Worker&& worker) {
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const Index t = std::max<Index>(1, std::min<Index>(threads, count));
  std::atomic<Index> next{0};
  auto take = [&]() -> Index {
    if (progress != nullptr && !progress->poll()) return -1;
    const Index i = next.fetch_add(1);
    return i < count ? i : -1;
  };
  std::vector<std::exception_ptr> errors(static_cast<std::size_t>(t));
  std::mutex mutex;
  std::condition_variable ended;
  Index running = 0;
  auto run = [&](Index id) {
    try {
      worker(take);
    } catch (...) {
      errors[static_cast<std::size_t>(id)] = std::current_exception();
    }
  };
  auto run_other = [&](Index id) {
    run(id);
    const std::lock_guard<std::mutex> lock(mutex);
    --running;
    ended.notify_one();
  };
  std::vector<std::thread> pool;
  try {
    for (Index c = 1; c < t; ++c) {
      {
        const std::lock_guard<std::mutex> lock(mutex);
        ++running;
      }
      try {
        pool.emplace_back(run_other, c);
      } catch (...) {
        const std::lock_guard<std::mutex> lock(mutex);
        --running;
        throw;
      }
    }
  } catch (const std::system_error&) {
    // no more threads available: fewer threads take the same tasks
  }
  run(0);
  if (progress != nullptr && progress->active()) {
    const auto wait = std::chrono::duration<double>(progress->interval_s());
    std::unique_lock<std::mutex> lock(mutex);
    while (running > 0) {
      if (ended.wait_for(lock, wait, [&] { return running == 0; })) break;
      lock.unlock();
      (void)progress->poll();  // a stop reaches the others through their take()
      lock.lock();
    }
  }
  for (auto& th : pool) th.join();
  for (auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }
}

template <class Worker>
void run_workers(Index count, int threads, Worker&& worker) {
  run_workers(count, threads, nullptr, std::forward<Worker>(worker));
}

}  // namespace microalloc::detail
