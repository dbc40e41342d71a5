#pragma once
// An immutable string stored inside the object when it is short (host names, paths, header
// values of rules), on the heap otherwise. Route lookups in large tables are bound by memory
// latency: keeping a matcher's compared value next to its kind saves a dependent cache miss per
// matcher compared with std::string's 15-byte small-string buffer. Move-only; any thread.

#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>

namespace turnpike::router {

class InlineString {
public:
  static constexpr size_t kInline = 44;

  InlineString() = default;
  explicit InlineString(std::string_view s) : size_(static_cast<uint32_t>(s.size())) {
    char* dest = inline_;
    if (s.size() > kInline) {
      heap_ = std::make_unique<char[]>(s.size());
      dest = heap_.get();
    }
    if (!s.empty())
      std::memcpy(dest, s.data(), s.size());
  }

  std::string_view view() const { return {heap_ ? heap_.get() : inline_, size_}; }

private:
  uint32_t size_ = 0;
  char inline_[kInline];
  std::unique_ptr<char[]> heap_;
};
static_assert(sizeof(InlineString) == 56);

} // namespace turnpike::router
