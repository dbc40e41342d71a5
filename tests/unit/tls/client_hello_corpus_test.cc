// Replays the committed fuzz corpus (tests/fuzz/client_hello/) through the fuzz target.

#include <gtest/gtest.h>

#include "../../fuzz/client_hello_fuzz.cc"
#include "../corpus_replay.h"

namespace {

TEST(ClientHelloFuzzCorpus, ReplaysEveryFile) {
  EXPECT_GE(turnpike::testing::replay_corpus("client_hello", LLVMFuzzerTestOneInput), 20u);
}

} // namespace
