#include "middleware/spool.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>

namespace turnpike::middleware {
namespace {

int open_temp() {
  const char* dir = std::getenv("TMPDIR");
  std::string d = dir && *dir ? dir : "/tmp";
  int fd = ::open(d.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd >= 0)
    return fd;
  std::string name = d + "/turnpike-spool-XXXXXX"; // filesystems without O_TMPFILE
  fd = ::mkostemp(name.data(), O_CLOEXEC);
  if (fd >= 0)
    ::unlink(name.c_str());
  return fd;
}

bool write_all(int fd, const char* p, size_t n, uint64_t offset) {
  while (n > 0) {
    const ssize_t w = ::pwrite(fd, p, n, static_cast<off_t>(offset));
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return false;
    p += w;
    n -= static_cast<size_t>(w);
    offset += static_cast<uint64_t>(w);
  }
  return true;
}

} // namespace

Spool::~Spool() {
  clear();
}

void Spool::clear() {
  if (fd_ >= 0)
    ::close(fd_);
  fd_ = -1;
  std::string().swap(mem_);
  size_ = 0;
}

bool Spool::append(std::span<const char> data) {
  if (fd_ < 0 && mem_.size() + data.size() <= mem_limit_) {
    mem_.append(data.data(), data.size());
    size_ += data.size();
    return true;
  }
  if (fd_ < 0) {
    fd_ = open_temp();
    if (fd_ < 0)
      return false;
    if (!write_all(fd_, mem_.data(), mem_.size(), 0))
      return false;
    std::string().swap(mem_);
  }
  if (!write_all(fd_, data.data(), data.size(), size_))
    return false;
  size_ += data.size();
  return true;
}

std::span<const char> Spool::read_at(uint64_t offset, size_t max, std::string& scratch) const {
  if (offset >= size_)
    return {};
  const size_t n = static_cast<size_t>(std::min<uint64_t>(max, size_ - offset));
  if (fd_ < 0)
    return {mem_.data() + offset, n};
  scratch.resize(n);
  size_t got = 0;
  while (got < n) {
    const ssize_t r = ::pread(fd_, scratch.data() + got, n - got, static_cast<off_t>(offset + got));
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      break;
    got += static_cast<size_t>(r);
  }
  return {scratch.data(), got};
}

http::Task<std::pair<http::ProxyError, std::span<const char>>> SpoolBody::read() {
  auto piece = spool_.read_at(pos_, 64 * 1024, scratch_);
  pos_ += piece.size();
  co_return std::pair{http::ProxyError::none(), piece};
}

} // namespace turnpike::middleware
