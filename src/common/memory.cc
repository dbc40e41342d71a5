#include "common/memory.h"

#include <malloc.h>

#include <cstddef>

// jemalloc's control interface, when the binary links jemalloc (weak: null otherwise).
extern "C" int mallctl(const char* name, void* oldp, size_t* oldlenp, void* newp, size_t newlen)
    __attribute__((weak));

namespace turnpike {

void release_freed_memory() {
  if (mallctl) {
    // "arena.<MALLCTL_ARENAS_ALL>.purge": every arena, dirty and muzzy pages.
    mallctl("arena.4096.purge", nullptr, nullptr, nullptr, 0);
    return;
  }
  malloc_trim(0);
}

}  // namespace turnpike
