#include "runtime/worker.h"

#include <boost/asio/post.hpp>

#include "common/log.h"
#include "entrypoint/http1_connection.h"
#include "entrypoint/tcp_stage.h"

namespace turnpike::runtime {

Worker::Worker(unsigned id) : guard_(io_.get_executor()), state_(id, io_) {}

Worker::~Worker() { stop(); }

Result<void> Worker::listen(const entrypoint::EntryPointOptions& ep) {
  auto l = entrypoint::Listener::open(io_, ep);
  if (!l) return l.error();
  listeners_.push_back(std::move(*l));
  return {};
}

Result<void> Worker::listen_udp(const entrypoint::EntryPointOptions& ep) {
  auto l = entrypoint::UdpListener::open(io_, ep);
  if (!l) return l.error();
  udp_listeners_.push_back(std::move(*l));
  return {};
}

void Worker::start() {
  thread_ = std::thread([this] {
    state_.ctx.deadlines.start();
    for (auto& l : listeners_) l->start(state_);
    for (auto& l : udp_listeners_) l->start(state_);
    for (;;) {
      try {
        io_.run();
        break;
      } catch (const std::exception& e) {
        // A handler escaped its coroutine's error handling: log and keep the worker alive.
        log::get("worker")->error("worker {}: {}", state_.ctx.id, e.what());
      }
    }
  });
}

void Worker::post_snapshot(std::shared_ptr<const config::Snapshot> snapshot,
                           boost::asio::any_io_executor retire) {
  // The debug log says how long the worker took to take it (a stage of a change's latency).
  boost::asio::post(io_, [this, s = std::move(snapshot), retire = std::move(retire),
                          posted = Clock::now()]() mutable {
    auto generation = s->generation;
    auto old = std::exchange(state_.snapshot, std::move(s));
    if (retire && old) boost::asio::post(retire, [old = std::move(old)] {});
    log::get("worker")->debug(
        "worker {}: configuration {} in use {} us after it was posted", state_.ctx.id, generation,
        std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - posted).count());
  });
}

void Worker::post_close_listeners() {
  boost::asio::post(io_, [this] {
    for (auto& l : listeners_) l->close();
    for (auto& l : udp_listeners_) l->stop_accepting();
  });
}

void Worker::post_drain() {
  boost::asio::post(io_, [this] {
    entrypoint::drain_connections(state_);
    entrypoint::drain_tcp_stage();
    state_.ctx.pools.close_all();
    state_.ctx.h2_pools.close_all();  // busy HTTP/2 connections close after their last stream
  });
}

void Worker::stop() {
  if (!thread_.joinable()) return;
  boost::asio::post(io_, [this] {
    state_.ctx.deadlines.stop();
    for (auto& l : listeners_) l->close();
    for (auto& l : udp_listeners_) l->close();
  });
  guard_.reset();
  io_.stop();
  thread_.join();
}

uint16_t Worker::bound_port(size_t i) const {
  return i < listeners_.size() ? listeners_[i]->local_port() : 0;
}

}  // namespace turnpike::runtime
