#pragma once
/// Progress of a long run and its interruption (docs/architecture.md, "Progress and interruption").
///
/// A long kernel (the frontier's walk, a batch, a backtest) takes a `Progress*` (null: none). Any
/// thread adds the work it has done (`add`) and asks at its checkpoints whether to go on (`poll`);
/// only the thread that made the Progress (the caller's) ever runs the callback, at most once per
/// interval, so worker threads read one atomic flag and nothing else. The callback returns false
/// to stop: every later `poll` returns false, the kernel returns early, and what it returns is
/// incomplete (the caller checks `stopped()` and discards it).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <thread>

namespace microalloc {

class Progress {
 public:
  using Callback = std::function<bool(std::int64_t done, std::int64_t total)>;
  using Clock = std::chrono::steady_clock;

  Progress() = default;
  explicit Progress(Callback callback, double interval_s = 0.05)
      : callback_(std::move(callback)),
        interval_(std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(interval_s))),
        next_(Clock::now() + interval_) {}
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  /// The units of work of the whole run (the owner, before the work starts).
  void set_total(std::int64_t total) noexcept { total_ = total; }
  /// Work done since the last call (any thread).
  void add(std::int64_t units) noexcept { done_.fetch_add(units, std::memory_order_relaxed); }
  /// The work done so far, when it is known as a level rather than counted (the owner).
  void set_done(std::int64_t done) noexcept { done_.store(done, std::memory_order_relaxed); }

  /// A checkpoint (any thread): false once stopped. On the owner thread, calls back when the
  /// interval has passed since the last call.
  bool poll() {
    if (!callback_) return true;
    if (stop_.load(std::memory_order_relaxed)) return false;
    if (std::this_thread::get_id() != owner_) return true;
    const Clock::time_point now = Clock::now();
    if (now < next_) return true;
    next_ = now + interval_;
    return report(done_.load(std::memory_order_relaxed));
  }

  /// The last report, done = total, when the run ended without being stopped (the owner).
  bool finish() {
    if (!callback_) return true;
    if (stop_.load(std::memory_order_relaxed)) return false;
    return report(total_);
  }

  bool stopped() const noexcept { return stop_.load(std::memory_order_relaxed); }
  bool active() const noexcept { return static_cast<bool>(callback_); }
  double interval_s() const noexcept { return std::chrono::duration<double>(interval_).count(); }

 private:
  bool report(std::int64_t done) {
    reported_ = std::max(reported_, std::min(done, total_));  // monotone, never past the total
    if (callback_(reported_, total_)) return true;
    stop_.store(true, std::memory_order_relaxed);
    return false;
  }

  Callback callback_;
  Clock::duration interval_{};
  Clock::time_point next_{};
  const std::thread::id owner_ = std::this_thread::get_id();
  std::atomic<std::int64_t> done_{0};
  std::atomic<bool> stop_{false};
  std::int64_t total_ = 0;
  std::int64_t reported_ = 0;
};

}  // namespace microalloc
