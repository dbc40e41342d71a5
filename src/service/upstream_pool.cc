#include "service/upstream_pool.h"

#include "common/asio_types.h"

namespace turnpike::service {

UpstreamConnection::UpstreamConnection(turnpike::TcpSocket s, DeadlineScanner& scanner,
                                       std::string k)
    : socket(std::move(s)),
      deadline(scanner,
               [this] {
                 timed_out = true;
                 if (closed_in_pool) ++*closed_in_pool;
                 boost::system::error_code ec;
                 socket.close(ec);
               }),
      key(std::move(k)) {}

std::unique_ptr<UpstreamConnection> UpstreamPool::take(const std::string& key) {
  auto it = idle_.find(key);
  if (it == idle_.end()) return nullptr;
  auto& list = it->second;
  while (!list.conns.empty()) {
    auto conn = std::move(list.conns.back());
    list.conns.pop_back();
    conn->closed_in_pool = nullptr;
    if (conn->socket.is_open()) {
      conn->deadline.clear();
      return conn;
    }
    if (list.closed > 0) --list.closed;
  }
  return nullptr;
}

void UpstreamPool::put(std::unique_ptr<UpstreamConnection> conn, Clock::duration idle_timeout,
                       size_t max_idle) {
  if (!conn->socket.is_open() || max_idle == 0) return;
  auto& idle = idle_[conn->key];
  auto& list = idle.conns;
  if (idle.closed > 0 && list.size() >= max_idle) {
    std::erase_if(list, [](const auto& c) { return !c->socket.is_open(); });
    idle.closed = 0;
  }
  // Past the limit (a burst of more concurrent requests than maxIdleConnsPerHost), the
  // connection is kept only briefly: closing it at once made every burst above the limit dial
  // again (a third of all requests dialled with 500 HTTP/2 streams over a limit of 200). Taken
  // again within kOverflowLinger, it is back in use; otherwise it closes, and the idle count
  // settles at the limit.
  bool overflow = list.size() >= max_idle;
  if (overflow && list.size() >= max_idle * kOverflowFactor)
    return;  // drop (closes) the connection
  conn->timed_out = false;
  conn->deadline.expire_after(overflow && (idle_timeout.count() == 0 || idle_timeout > kOverflowLinger)
                                  ? kOverflowLinger
                                  : idle_timeout);
  conn->closed_in_pool = &idle.closed;
  list.push_back(std::move(conn));
}

bool UpstreamPool::has_idle(const std::string& key) const {
  auto it = idle_.find(key);
  if (it == idle_.end()) return false;
  for (const auto& c : it->second.conns)
    if (c->socket.is_open()) return true;
  return false;
}

void UpstreamPool::close_all() { idle_.clear(); }

size_t UpstreamPool::idle_count() const {
  size_t n = 0;
  for (const auto& [k, v] : idle_) n += v.conns.size();
  return n;
}

}  // namespace turnpike::service
