#pragma once
// Returning freed memory to the system after a large, one-off release (a configuration snapshot
// and its decoded tree, tens of MB with 10,000 routers). The allocators keep freed pages for
// reuse (jemalloc: ~10 s of dirty-page decay; glibc: until the top of the heap is free), so
// without this the gateway's RSS after a change counts both the old and the new configuration.

namespace turnpike {

// Purges the freed pages of every jemalloc arena (the gateway binary links jemalloc), or runs
// glibc's malloc_trim(0) where jemalloc is absent (tests). Costs a few ms with a large heap; call
// it off the request path (the control thread), after the memory was released.
void release_freed_memory();

}  // namespace turnpike
