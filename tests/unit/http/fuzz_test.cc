// Replays the committed fuzz corpora (tests/fuzz/h1_request, h1_response, path_norm, h2_request)
// through the same entry points libFuzzer drives (conventions.md item 12). The harness files are compiled
// into this test with their entry points renamed, and a property violation becomes a test
// failure instead of abort().

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "../corpus_replay.h"

#define TURNPIKE_FUZZ_FAIL(what) ADD_FAILURE() << "fuzz property violated: " << (what)

#define TURNPIKE_FUZZ_ENTRY turnpike_h1_request_fuzz
#include "../../fuzz/h1_request_fuzz.cc"
#undef TURNPIKE_FUZZ_ENTRY

#define TURNPIKE_FUZZ_ENTRY turnpike_path_norm_fuzz
#include "../../fuzz/path_norm_fuzz.cc"
#undef TURNPIKE_FUZZ_ENTRY

#define TURNPIKE_FUZZ_ENTRY turnpike_h2_request_fuzz
#include "../../fuzz/h2_request_fuzz.cc"
#undef TURNPIKE_FUZZ_ENTRY

#define TURNPIKE_FUZZ_ENTRY turnpike_h1_response_fuzz
#include "../../fuzz/h1_response_fuzz.cc"
#undef TURNPIKE_FUZZ_ENTRY

namespace {


TEST(FuzzCorpus, H1RequestReplays) {
  size_t n = turnpike::testing::replay_corpus("h1_request", turnpike_h1_request_fuzz);
  EXPECT_GE(n, 40u);
}

TEST(FuzzCorpus, H1ResponseReplays) {
  size_t n = turnpike::testing::replay_corpus("h1_response", turnpike_h1_response_fuzz);
  EXPECT_GE(n, 20u);
}

TEST(FuzzCorpus, H2RequestReplays) {
  size_t n = turnpike::testing::replay_corpus("h2_request", turnpike_h2_request_fuzz);
  EXPECT_GE(n, 30u);
}

// Every mode byte over a few field lists, so each combination of end_stream, underscore
// strategy and limits meets served, answered and reset requests.
TEST(FuzzCorpus, H2RequestAllModes) {
  const std::string fields[] = {
      ":method:GET\n:scheme:http\n:authority:Ex.COM.:80\n:path:/a//b/%7e?q\ncookie:a\ncookie:b",
      ":method:POST\n:scheme:https\n:path:/up\nhost:h\ncontent-length:3\nx_y:1",
      ":method:GET\n:scheme:http\n:path:/\nX-Bad:1",
      ":method:PUT\n:scheme:http\n:authority:a\n:path:/p\nexpect:100-continue\nte:trailers",
  };
  for (const auto& f : fields) {
    for (int mode = 0; mode < 16; ++mode) {
      std::string input(1, static_cast<char>(mode));
      input += f;
      turnpike_h2_request_fuzz(reinterpret_cast<const uint8_t*>(input.data()), input.size());
    }
  }
}

TEST(FuzzCorpus, PathNormReplays) {
  size_t n = turnpike::testing::replay_corpus("path_norm", turnpike_path_norm_fuzz);
  EXPECT_GE(n, 13u);
}

// The harnesses on inputs built here, so that the properties are exercised even when a corpus
// is thin: every split byte value over a few requests, and generated paths.
TEST(FuzzCorpus, H1RequestAllSplitSeeds) {
  const std::string requests[] = {
      "GET /a/../b?x=1 HTTP/1.1\r\nHost: Example.COM.:8080\r\nConnection: keep-alive\r\n\r\n",
      "POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;ext=\"q\\\"v\"\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\nGET / HTTP/1.1\r\n",
      "\r\nPUT http://h.example/x HTTP/1.0\r\nContent-Length: 3, 3\r\n\r\nabc",
      "GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n Y\r\n\r\n",
  };
  for (const auto& r : requests) {
    for (int seed = 0; seed < 256; ++seed) {
      std::string input(1, static_cast<char>(seed));
      input += r;
      turnpike_h1_request_fuzz(reinterpret_cast<const uint8_t*>(input.data()), input.size());
    }
  }
}

TEST(FuzzCorpus, PathNormGenerated) {
  // A small deterministic generator over the alphabet that matters for paths.
  const std::string alphabet[] = {"/", ".",   "..", "a",   "%2e", "%2E", "%2f", "%5C", "%25", "%3b",
                                  ";", "%7e", "~",  "%41", "%zz", "%",   "|",   "//",  "%00", "?"};
  uint32_t x = 12345;
  for (int i = 0; i < 20000; ++i) {
    std::string input;
    x = x * 1664525u + 1013904223u;
    input.push_back(static_cast<char>(x >> 24));
    input.push_back(static_cast<char>(x >> 16));
    input.push_back(static_cast<char>(x >> 8));
    input.push_back('/');
    int parts = 1 + (x >> 4) % 8;
    for (int k = 0; k < parts; ++k) {
      x = x * 1664525u + 1013904223u;
      input += alphabet[(x >> 12) % std::size(alphabet)];
    }
    turnpike_path_norm_fuzz(reinterpret_cast<const uint8_t*>(input.data()), input.size());
  }
}

} // namespace
