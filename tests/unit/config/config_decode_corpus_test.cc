// Replays the committed fuzz corpus (tests/fuzz/config_decode/) through the fuzz target, so that
// every g++ test run checks its properties (no crash, every message names its file, stable JSON
// rendering).

#include <gtest/gtest.h>


#include "../corpus_replay.h"
#include "../../fuzz/config_decode_fuzz.cc"

namespace {

TEST(ConfigDecodeFuzzCorpus, ReplaysEveryFile) {
  EXPECT_GE(turnpike::testing::replay_corpus("config_decode", LLVMFuzzerTestOneInput), 20u);
}

} // namespace
