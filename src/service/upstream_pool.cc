#include "service/upstream_pool.h"

namespace turnpike::service {

UpstreamConnection::UpstreamConnection(boost::asio::ip::tcp::socket s, DeadlineScanner& scanner,
                                       std::string k)
    : socket(std::move(s)),
      deadline(scanner,
               [this] {
                 timed_out = true;
                 boost::system::error_code ec;
                 socket.close(ec);
               }),
      key(std::move(k)) {}

std::unique_ptr<UpstreamConnection> UpstreamPool::take(const std::string& key) {
  auto it = idle_.find(key);
  if (it == idle_.end()) return nullptr;
  auto& list = it->second;
  while (!list.empty()) {
    auto conn = std::move(list.back());
    list.pop_back();
    if (conn->socket.is_open()) {
      conn->deadline.clear();
      return conn;
    }
  }
  return nullptr;
}

void UpstreamPool::put(std::unique_ptr<UpstreamConnection> conn, Clock::duration idle_timeout,
                       size_t max_idle) {
  if (!conn->socket.is_open() || max_idle == 0) return;
  auto& list = idle_[conn->key];
  if (list.size() >= max_idle) {
    std::erase_if(list, [](const auto& c) { return !c->socket.is_open(); });
    if (list.size() >= max_idle) return;  // drop (closes) the connection
  }
  conn->timed_out = false;
  conn->deadline.expire_after(idle_timeout);
  list.push_back(std::move(conn));
}

bool UpstreamPool::has_idle(const std::string& key) const {
  auto it = idle_.find(key);
  if (it == idle_.end()) return false;
  for (const auto& c : it->second)
    if (c->socket.is_open()) return true;
  return false;
}

void UpstreamPool::close_all() { idle_.clear(); }

size_t UpstreamPool::idle_count() const {
  size_t n = 0;
  for (const auto& [k, v] : idle_) n += v.size();
  return n;
}

}  // namespace turnpike::service
