#pragma once
// Replays a committed fuzz corpus (tests/fuzz/<name>/) through a fuzz entry point, so that every
// g++ test run checks the harness's properties on it (conventions.md item 12). Shared by the
// modules' corpus tests.

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

namespace turnpike::testing {

using FuzzEntry = int (*)(const uint8_t*, size_t);

// Runs every regular file of TURNPIKE_FUZZ_CORPUS/<name> through `entry`, expecting it to return
// 0, and returns how many files there were (0 and a failure when the directory is missing).
inline size_t replay_corpus(const std::string& name, FuzzEntry entry) {
  namespace fs = std::filesystem;
  fs::path dir = fs::path(TURNPIKE_FUZZ_CORPUS) / name;
  if (!fs::is_directory(dir)) {
    ADD_FAILURE() << "no corpus directory " << dir;
    return 0;
  }
  size_t files = 0;
  for (const auto& file : fs::directory_iterator(dir)) {
    if (!file.is_regular_file()) continue;
    std::ifstream in(file.path(), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    SCOPED_TRACE(file.path().string());
    EXPECT_EQ(entry(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()), 0);
    ++files;
  }
  return files;
}

}  // namespace turnpike::testing
