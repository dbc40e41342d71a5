// Replays the committed fuzz corpus (tests/fuzz/rule_parser/) through the fuzz target, so that
// every g++ test run checks its properties (no crash, stable printing, sound host analysis).

#include <gtest/gtest.h>


#include "../corpus_replay.h"
#include "../../fuzz/rule_parser_fuzz.cc"

namespace {

TEST(RuleParserFuzzCorpus, ReplaysEveryFile) {
  EXPECT_GE(turnpike::testing::replay_corpus("rule_parser", LLVMFuzzerTestOneInput), 20u);
}

} // namespace
