#pragma once
// Coarse per-worker deadlines. Every connection (client or upstream) registers one Deadline; the
// worker's DeadlineScanner wakes every `tick` (250 ms) and fires the ones that passed. Setting a
// deadline is a field write, so the request path pays nothing per request for its timeouts (the
// cost of an exact timer per operation was measurable). Precision is one tick, which the timeouts
// (seconds) tolerate.
//
// Worker-confined: a scanner and its deadlines belong to one io_context thread.

#include <chrono>
#include <functional>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include "common/asio_types.h"

namespace turnpike {

using Clock = std::chrono::steady_clock;

class Deadline;

class DeadlineScanner {
 public:
  explicit DeadlineScanner(turnpike::Executor ex,
                           std::chrono::milliseconds tick = std::chrono::milliseconds(250));
  // Deadlines may outlive their scanner: coroutine frames still suspended when a worker stops are
  // destroyed with its io_context, after the worker's state. They are detached here first.
  ~DeadlineScanner();
  DeadlineScanner(const DeadlineScanner&) = delete;
  DeadlineScanner& operator=(const DeadlineScanner&) = delete;

  void start();
  void stop();
  // Calls f(deadline) for every registered deadline (graceful shutdown walks connections).
  template <class F>
  void for_each(F&& f);
  size_t size() const { return size_; }

 private:
  friend class Deadline;
  void arm();
  void scan();

  turnpike::SteadyTimer timer_;
  std::chrono::milliseconds tick_;
  Deadline* head_ = nullptr;
  Deadline* cursor_ = nullptr;  // next entry during a scan (callbacks may unlink entries)
  size_t size_ = 0;
  bool running_ = false;
};

class Deadline {
 public:
  // `on_expire` runs on the worker when the deadline passes; typically it closes a socket so
  // that pending operations complete with operation_aborted. The deadline is cleared first.
  Deadline(DeadlineScanner& scanner, std::function<void()> on_expire);
  ~Deadline();
  Deadline(const Deadline&) = delete;
  Deadline& operator=(const Deadline&) = delete;

  void expire_at(Clock::time_point t) { at_ = t; }
  void expire_after(Clock::duration d) {
    at_ = d.count() > 0 ? Clock::now() + d : Clock::time_point::max();
  }
  void clear() { at_ = Clock::time_point::max(); }
  Clock::time_point at() const { return at_; }

  // Free-form tag for the owner (e.g. a connection pointer for graceful shutdown).
  void* owner = nullptr;

 private:
  friend class DeadlineScanner;
  DeadlineScanner* scanner_;  // null once the scanner is gone (see ~DeadlineScanner)
  std::function<void()> on_expire_;
  Clock::time_point at_ = Clock::time_point::max();
  Deadline* prev_ = nullptr;
  Deadline* next_ = nullptr;
};

template <class F>
void DeadlineScanner::for_each(F&& f) {
  for (Deadline* d = head_; d;) {
    Deadline* next = d->next_;
    f(*d);
    d = next;
  }
}

}  // namespace turnpike
