// Replays the committed fuzz corpus (tests/fuzz/config_decode/) through the fuzz target, so that
// every g++ test run checks its properties (no crash, every message names its file, stable JSON
// rendering).

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "../../fuzz/config_decode_fuzz.cc"

namespace {

TEST(ConfigDecodeFuzzCorpus, ReplaysEveryFile) {
  namespace fs = std::filesystem;
  fs::path dir = fs::path(TURNPIKE_FUZZ_CORPUS) / "config_decode";
  ASSERT_TRUE(fs::is_directory(dir)) << dir;
  size_t files = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (!entry.is_regular_file())
      continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    SCOPED_TRACE(entry.path().string());
    EXPECT_EQ(LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()),
              0);
    ++files;
  }
  EXPECT_GE(files, 20u);
}

} // namespace
