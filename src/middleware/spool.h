#pragma once
// A body kept whole (buffering's request and response bodies): in memory up to a threshold, then
// in an unlinked temporary file. Worker-confined; lives on the frame of the exchange using it.
//
// The file is written and read with plain pwrite/pread on the worker: these go to the page cache
// and return at memory speed; a worker can only stall on them under memory pressure, which is
// the trade Traefik's buffering (oxy's multibuf) makes too.

#include <cstdint>
#include <span>
#include <string>

#include "http/exchange.h"

namespace turnpike::middleware {

class Spool {
public:
  explicit Spool(uint64_t mem_limit) : mem_limit_(mem_limit) {}
  ~Spool();
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;

  // False when the temporary file could not be created or written.
  bool append(std::span<const char> data);
  uint64_t size() const { return size_; }
  // Up to `max` bytes starting at `offset` (a view into memory or into `scratch`).
  std::span<const char> read_at(uint64_t offset, size_t max, std::string& scratch) const;
  void clear();

private:
  uint64_t mem_limit_;
  std::string mem_;
  int fd_ = -1;
  uint64_t size_ = 0;
};

// Reads a Spool as a request body, from the start again after rewind(). `trailers` are those of
// the original body.
class SpoolBody final : public http::BodyReader {
public:
  SpoolBody(const Spool& spool, const http::HeaderMap* trailers)
      : spool_(spool), trailers_(trailers) {}
  http::Task<std::pair<http::ProxyError, std::span<const char>>> read() override;
  int64_t content_length() const override { return static_cast<int64_t>(spool_.size()); }
  uint64_t consumed() const override { return pos_; }
  const http::HeaderMap* trailers() const override { return trailers_; }
  void rewind() { pos_ = 0; }

private:
  const Spool& spool_;
  const http::HeaderMap* trailers_;
  uint64_t pos_ = 0;
  std::string scratch_;
};

} // namespace turnpike::middleware
