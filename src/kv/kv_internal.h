#pragma once
// Pieces the etcd and Redis clients share (and unit tests reach): not part of the kv interface.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "kv/kv.h"

namespace turnpike::kv {

// Moves each complete top-level JSON object at the start of `buffer` (a stream of objects,
// separated by whitespace or nothing) to `out`, leaving an incomplete tail in `buffer`.
void extract_json_objects(std::string& buffer, std::vector<std::string>& out);

// Reconnection delays: 100 ms doubling up to 5 s; reset() after a success.
class Backoff {
 public:
  static constexpr std::chrono::milliseconds kFirst{100};
  static constexpr std::chrono::milliseconds kMax{5000};
  std::chrono::milliseconds next();
  void reset() { current_ = kFirst; }

 private:
  std::chrono::milliseconds current_ = kFirst;
};

// A watch running on a thread of its own: the etcd and Redis watches implement run() (connect,
// deliver events, reconnect after pause() while not stopped). Derived destructors call stop()
// first, so run() never outlives the members it uses.
class ThreadedWatch : public Watch {
 public:
  ThreadedWatch(std::string prefix, std::function<void(const WatchEvent&)> callback)
      : prefix_(std::move(prefix)), callback_(std::move(callback)) {}

  void stop() override {
    {
      std::lock_guard lock(mu_);
      if (stopped_) return;
      stopped_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 protected:
  // Called at the end of the derived constructor.
  void launch() {
    thread_ = std::thread([this] { run(); });
  }
  virtual void run() = 0;
  // Waits `d` or until stop().
  void pause(std::chrono::milliseconds d) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, d, [this] { return stopped_.load(); });
  }

  std::string prefix_;
  std::function<void(const WatchEvent&)> callback_;
  std::atomic<bool> stopped_{false};

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::thread thread_;
};

}  // namespace turnpike::kv
