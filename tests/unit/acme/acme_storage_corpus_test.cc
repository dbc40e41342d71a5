// Replays the committed fuzz corpus (tests/fuzz/acme_storage/) through the fuzz target, so that
// every g++ test run checks its properties (no crash, stable re-encoding of acme.json data).

#include <gtest/gtest.h>

#include "../corpus_replay.h"
#include "../../fuzz/acme_storage_fuzz.cc"

namespace {

TEST(AcmeStorageFuzzCorpus, ReplaysEveryFile) {
  EXPECT_GE(turnpike::testing::replay_corpus("acme_storage", LLVMFuzzerTestOneInput), 12u);
}

}  // namespace
