#include "kv/kv.h"

#include <stdexcept>

namespace turnpike::kv {

void throw_exception_from_error(const KvError& e, const boost::source_location&) {
  throw std::runtime_error(e.message);
}

}  // namespace turnpike::kv
