#pragma once
// Control-plane error handling: Result<T> carries either a value or an Error whose message is
// already path-qualified ("http.middlewares.api@file.rateLimit.average: must be > 0").
// Thread-agnostic value types.

#include <string>
#include <utility>

#include <boost/system/result.hpp>

namespace turnpike {

struct Error {
  std::string message;

  // Returns a copy whose message is prefixed with a key path ("a.b: <message>").
  Error prefixed(std::string_view path) const {
    if (path.empty()) return *this;
    return Error{std::string(path) + ": " + message};
  }
};

// Lets boost::system::result<T, Error>::value() throw a readable exception.
[[noreturn]] void throw_exception_from_error(const Error& e, const boost::source_location& loc);

template <class T>
using Result = boost::system::result<T, Error>;

inline Error make_error(std::string message) { return Error{std::move(message)}; }

}  // namespace turnpike
