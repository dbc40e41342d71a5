#include "tcp/in_flight_conn.h"

#include <string_view>

#include "common/ipnet.h"
#include "common/log.h"

namespace turnpike::tcp {

size_t ConnectionCounter::KeyHash::operator()(const Key& k) const {
  return std::hash<std::string_view>()(
      std::string_view(reinterpret_cast<const char*>(k.data()), k.size()));
}

ConnectionCounter::Key ConnectionCounter::key_of(const boost::asio::ip::address& raw) {
  auto ip = canonical_ip(raw);
  if (ip.is_v4())
    return boost::asio::ip::make_address_v6(boost::asio::ip::v4_mapped, ip.to_v4()).to_bytes();
  return ip.to_v6().to_bytes();
}

ConnectionCounter::Shard& ConnectionCounter::shard_of(const Key& key) {
  return shards_[KeyHash()(key) % shards_.size()];
}

bool ConnectionCounter::try_acquire(const boost::asio::ip::address& ip) {
  Key key = key_of(ip);
  Shard& shard = shard_of(key);
  std::lock_guard lock(shard.mutex);
  auto [it, inserted] = shard.counts.try_emplace(key, 0);
  if (it->second >= limit_)
    return false; // limit_ > 0: an entry at the limit already existed
  ++it->second;
  return true;
}

void ConnectionCounter::release(const boost::asio::ip::address& ip) {
  Key key = key_of(ip);
  Shard& shard = shard_of(key);
  std::lock_guard lock(shard.mutex);
  auto it = shard.counts.find(key);
  if (it != shard.counts.end() && --it->second <= 0)
    shard.counts.erase(it);
}

int64_t ConnectionCounter::count(const boost::asio::ip::address& ip) {
  Key key = key_of(ip);
  Shard& shard = shard_of(key);
  std::lock_guard lock(shard.mutex);
  auto it = shard.counts.find(key);
  return it == shard.counts.end() ? 0 : it->second;
}

Task<void> InFlightConn::serve(Connection& conn) const {
  auto ip = conn.client_ip();
  if (!counter_->try_acquire(ip)) {
    log::get("tcp")->debug("{}: connection from {} refused by inFlightConn: too many open",
                           conn.info().entrypoint, ip.to_string());
    conn.close();
    co_return;
  }
  struct Release {
    ConnectionCounter& counter;
    boost::asio::ip::address ip;
    ~Release() { counter.release(ip); }
  } release{*counter_, ip};
  co_await next_->serve(conn);
}

Wrap build_in_flight_conn(config::Decoder& dec) {
  size_t before = dec.errors().list().size();
  int64_t amount = 0;
  bool present = dec.get("amount", amount);
  dec.finish();
  if (present && amount <= 0) {
    dec.fail("amount", "must be > 0");
  } else if (!present && decoded_cleanly(dec, before)) {
    dec.fail("amount", "is required");
  }
  if (!decoded_cleanly(dec, before))
    return {};
  auto counter = std::make_shared<ConnectionCounter>(amount);
  return [counter](HandlerPtr next) -> HandlerPtr {
    return std::make_shared<const InFlightConn>(counter, std::move(next));
  };
}

} // namespace turnpike::tcp
