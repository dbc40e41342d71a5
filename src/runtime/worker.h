#pragma once
// A worker thread: one io_context, its listeners (one SO_REUSEPORT socket per entrypoint), its
// WorkerState (pools, deadlines, snapshot). Everything on it runs on its thread; other threads
// reach it only through post().
//
// That confinement is what the io_context's concurrency hint relies on: UNSAFE_IO turns off the
// per-socket locks in Asio's reactor (every start, completion and cancel of a socket operation
// took and released a mutex, ~2 % of a proxied request's instructions) while post() from the
// control thread stays locked. A socket of this io_context must never be used from another
// thread, including close() and cancel().

#include <memory>
#include <thread>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "entrypoint/listener.h"
#include "entrypoint/udp_listener.h"
#include "entrypoint/worker_state.h"

namespace turnpike::runtime {

class Worker {
 public:
  explicit Worker(unsigned id);
  ~Worker();

  // Opens a listener for `ep` (on the calling thread, before start()).
  Result<void> listen(const entrypoint::EntryPointOptions& ep);
  // Opens a UDP listener for a UDP entrypoint (same rules).
  Result<void> listen_udp(const entrypoint::EntryPointOptions& ep);
  void start();
  // Posts the new snapshot; the worker swaps its pointer between requests. Any thread.
  // The replaced snapshot is handed to `retire` when given (the control thread), so that freeing
  // a large configuration delays no request on this worker.
  void post_snapshot(std::shared_ptr<const config::Snapshot> snapshot,
                     boost::asio::any_io_executor retire = {});
  // Posts: stop accepting (TCP listeners close; UDP listeners stop opening sessions). Any thread.
  void post_close_listeners();
  // Posts: close idle connections, make busy ones close after their response. Any thread.
  void post_drain();
  // Stops the io_context and joins the thread. Control thread.
  void stop();

  uint64_t open_connections() const { return state_.open_connections.load(std::memory_order_relaxed); }
  entrypoint::WorkerState& state() { return state_; }
  boost::asio::io_context& io() { return io_; }
  // Port actually bound for entrypoint index i (tests use port 0).
  uint16_t bound_port(size_t i) const;

 private:
  boost::asio::io_context io_{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_;
  entrypoint::WorkerState state_;
  std::vector<std::unique_ptr<entrypoint::Listener>> listeners_;
  std::vector<std::unique_ptr<entrypoint::UdpListener>> udp_listeners_;
  std::thread thread_;
};

}  // namespace turnpike::runtime
