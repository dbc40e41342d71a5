#include "provider/source_thread.h"

#include <boost/asio/post.hpp>

#include "common/asio_types.h"
#include "common/log.h"

namespace turnpike::provider {

Duration Backoff::next() {
  Duration d = next_;
  next_ = std::min(max_, next_ * 2);
  std::uniform_real_distribution<double> jitter(0.8, 1.2);
  return std::chrono::duration_cast<Duration>(d * jitter(rng_));
}

// Posted handlers may run after stop() (they were queued before): they check `stopped`, which
// only the control thread reads and writes.
struct SourceThread::Shared {
  Publish publish;
  bool stopped = false;
};

SourceThread::SourceThread(std::string provider, turnpike::Executor executor,
                           Publish publish)
    : provider_(std::move(provider)), executor_(std::move(executor)),
      shared_(std::make_shared<Shared>()) {
  shared_->publish = std::move(publish);
}

SourceThread::~SourceThread() {
  stop();
}

void SourceThread::start(std::function<void(SourceThread&)> loop) {
  thread_ = std::thread([this, loop = std::move(loop)] {
    try {
      loop(*this);
    } catch (const std::exception& e) {
      log::get(provider_)->critical("provider {} stopped: {}", provider_, e.what());
    }
  });
}

void SourceThread::stop() {
  shared_->stopped = true;
  {
    std::lock_guard lock(mu_);
    client_.stop();
    side_client_.stop();
  }
  cv_.notify_all();
  if (thread_.joinable())
    thread_.join();
}

bool SourceThread::sleep_for(Duration d) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, d, [this] { return client_.stopped(); });
  return !client_.stopped();
}

void SourceThread::notify() {
  {
    std::lock_guard lock(mu_);
    notified_ = true;
  }
  cv_.notify_all();
}

bool SourceThread::wait_notified(Duration d) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, d, [this] { return notified_ || client_.stopped(); });
  notified_ = false;
  return !client_.stopped();
}

void SourceThread::report(std::vector<std::string> errors) {
  std::set<std::string> now;
  for (auto& e : errors) {
    if (!reported_.count(e))
      log::get(provider_)->error("{}", e);
    now.insert(std::move(e));
  }
  reported_ = std::move(now);
}

void SourceThread::publish(config::Node tree) {
  if (last_ && *last_ == tree)
    return;
  last_ = std::make_shared<const config::Node>(std::move(tree));
  boost::asio::post(executor_, [shared = shared_, name = provider_, tree = last_] {
    if (!shared->stopped)
      shared->publish(name, tree);
  });
}

} // namespace turnpike::provider
