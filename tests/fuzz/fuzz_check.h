#pragma once
// What the fuzz harnesses (tests/fuzz/*_fuzz.cc) share: the name of their entry point and what a
// violated property does. Built for libFuzzer, the entry is LLVMFuzzerTestOneInput and a
// violation aborts (the fuzzer keeps the input). The corpus-replay tests
// (tests/unit/*/fuzz_test.cc) define TURNPIKE_FUZZ_ENTRY (one name per harness) and
// TURNPIKE_FUZZ_FAIL (a test failure) before including a harness.

#include <cstdio>
#include <cstdlib>

#ifndef TURNPIKE_FUZZ_ENTRY
#define TURNPIKE_FUZZ_ENTRY LLVMFuzzerTestOneInput
#endif
#ifndef TURNPIKE_FUZZ_FAIL
#define TURNPIKE_FUZZ_FAIL(what)                                                                   \
  do {                                                                                             \
    std::fprintf(stderr, "fuzz property violated: %s\n", (what));                                  \
    std::abort();                                                                                  \
  } while (0)
#endif
#define TURNPIKE_FUZZ_CHECK(cond)                                                                  \
  do {                                                                                             \
    if (!(cond))                                                                                   \
      TURNPIKE_FUZZ_FAIL(#cond);                                                                   \
  } while (0)
