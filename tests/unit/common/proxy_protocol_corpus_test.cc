// Replays the committed fuzz corpus (tests/fuzz/proxy_protocol/) through the fuzz target.

#include <gtest/gtest.h>

#include "../../fuzz/proxy_protocol_fuzz.cc"
#include "../corpus_replay.h"

namespace {

TEST(ProxyProtocolFuzzCorpus, ReplaysEveryFile) {
  EXPECT_GE(turnpike::testing::replay_corpus("proxy_protocol", LLVMFuzzerTestOneInput), 20u);
}

} // namespace
