#include "http/chunked.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace turnpike::http {
namespace {

struct Decoded {
  std::string body;
  bool done = false;
  bool error = false;
  std::string error_reason;
  size_t consumed = 0; // bytes used up to done/error
  HeaderMap trailers;
};

// Feeds `wire` in the given piece sizes (the last piece takes what is left).
Decoded decode(std::string_view wire, const std::vector<size_t>& pieces = {},
               const ChunkedLimits& limits = {}) {
  Decoded d;
  ChunkedDecoder dec(limits);
  size_t pos = 0, k = 0;
  while (pos < wire.size() && !d.done && !d.error) {
    size_t n = k < pieces.size() ? std::min(pieces[k++], wire.size() - pos) : wire.size() - pos;
    std::string piece(wire.substr(pos, n)); // a separate buffer, as a socket read gives
    std::string_view in = piece;
    while (!in.empty()) {
      ChunkedStep s = dec.decode(in);
      EXPECT_LE(s.consumed, in.size());
      if (!s.data.empty()) {
        // Zero-copy: the data points into the input.
        EXPECT_GE(s.data.data(), in.data());
        EXPECT_LE(s.data.data() + s.data.size(), in.data() + in.size());
      }
      d.body.append(s.data);
      d.consumed += s.consumed;
      in.remove_prefix(s.consumed);
      if (s.error) {
        d.error = true;
        d.error_reason = s.error_reason;
        break;
      }
      if (s.done) {
        d.done = true;
        break;
      }
      if (s.data.empty()) {
        EXPECT_TRUE(in.empty()) << "need-more must consume everything";
      }
    }
    pos += n;
  }
  d.trailers = dec.trailers();
  return d;
}

TEST(ChunkedDecoder, DecodesABody) {
  const std::string wire = "5\r\nhello\r\n1A;name=value;flag\r\nabcdefghijklmnopqrstuvwxyz\r\n"
                           "3 ; q=\"a \\\" b\"\r\n!!!\r\n0\r\nX-Sum: 1\r\n\r\nNEXT";
  Decoded d = decode(wire);
  ASSERT_TRUE(d.done) << d.error_reason;
  EXPECT_EQ(d.body, "helloabcdefghijklmnopqrstuvwxyz!!!");
  EXPECT_EQ(d.consumed, wire.size() - 4); // the next message is left alone
  EXPECT_EQ(d.trailers.get("X-Sum"), "1");
}

TEST(ChunkedDecoder, RandomSplitsGiveTheSameResult) {
  std::string wire, body;
  std::mt19937 rng(7);
  for (int i = 0; i < 40; ++i) {
    size_t n = 1 + rng() % 300;
    std::string data(n, static_cast<char>('a' + i % 26));
    body += data;
    char size[20];
    std::snprintf(size, sizeof size, i % 2 ? "%zx" : "%zX", n);
    wire += size;
    if (i % 5 == 0)
      wire += ";ext=" + std::to_string(i);
    wire += "\r\n" + data + "\r\n";
  }
  wire += "0\r\nTrailer-A: x\r\nContent-Length: 3\r\n\r\n";
  for (int round = 0; round < 300; ++round) {
    std::vector<size_t> pieces;
    for (int k = 0; k < 64; ++k)
      pieces.push_back(1 + rng() % (round % 3 == 0 ? 3 : 97));
    Decoded d = decode(wire, pieces);
    ASSERT_TRUE(d.done) << d.error_reason;
    ASSERT_EQ(d.body, body);
    ASSERT_EQ(d.consumed, wire.size());
    ASSERT_EQ(d.trailers.size(), 1u);
  }
  // One byte at a time.
  Decoded d = decode(wire, std::vector<size_t>(wire.size(), 1));
  ASSERT_TRUE(d.done);
  EXPECT_EQ(d.body, body);
}

TEST(ChunkedDecoder, RejectsMalformedFraming) {
  const std::string data46(46, 'a');
  struct Case {
    const char* name;
    std::string wire;
  } cases[] = {
      {"0x prefix", "0x2e\r\n" + data46 + "\r\n0\r\n\r\n"},
      {"underscore", "0_2e\r\n" + data46 + "\r\n0\r\n\r\n"},
      {"plus sign", "+1\r\na\r\n0\r\n\r\n"},
      {"minus sign", "-1\r\na\r\n0\r\n\r\n"},
      {"not hex", "Z\r\na\r\n0\r\n\r\n"},
      {"empty size", "\r\na\r\n0\r\n\r\n"},
      {"17 hex digits", "00000000000000001\r\na\r\n0\r\n\r\n"},
      {"space inside the size", "1 0\r\n"},
      {"trailing space without extension", "1 \r\na\r\n0\r\n\r\n"},
      {"bare CR in extension BWS (row 17)", "2\r\r;a\r\nxx\r\n0\r\n\r\n"},
      {"bare CR after extension", "2;a\rb\r\nxx\r\n0\r\n\r\n"},
      {"bare LF after size", "1\na\r\n0\r\n\r\n"},
      {"data not followed by CRLF (row 19)", "1\r\nZX0\r\n\r\n"},
      {"data followed by LF only", "1\r\nZ\n0\r\n\r\n"},
      {"last chunk with bare LF (row 19)", "0\n\r\n"},
      {"extension without name", "1;\r\na\r\n0\r\n\r\n"},
      {"extension name not a token", "1;a@b\r\na\r\n0\r\n\r\n"},
      {"extension value missing", "1;a=\r\na\r\n0\r\n\r\n"},
      {"unterminated quoted value", "1;a=\"b\r\na\r\n0\r\n\r\n"},
      {"control in quoted value", "1;a=\"\x01\"\r\na\r\n0\r\n\r\n"},
      {"trailer obs-fold", "0\r\nX-A: a\r\n b\r\n\r\n"},
      {"trailer space before colon", "0\r\nX-A : a\r\n\r\n"},
      {"trailer empty name", "0\r\n: a\r\n\r\n"},
      {"trailer NUL in value", std::string("0\r\nX-A: a\0\r\n\r\n", 14)},
      {"trailer bare CR", "0\r\nX-A: a\rb\r\n\r\n"},
      {"trailer bare LF", "0\r\nX-A: a\n\r\n"},
      {"end without LF", "0\r\n\rX"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    Decoded d = decode(c.wire);
    EXPECT_TRUE(d.error);
    EXPECT_FALSE(d.done);
    EXPECT_FALSE(d.error_reason.empty());
    // Split in every place: same decision.
    for (size_t cut = 1; cut < c.wire.size(); ++cut)
      ASSERT_TRUE(decode(c.wire, {cut}).error) << "cut at " << cut;
  }
}

TEST(ChunkedDecoder, ExtensionLimits) {
  // Per chunk: 4 KiB.
  std::string ok = "1;a=" + std::string(4096 - 3, 'b') + "\r\nx\r\n0\r\n\r\n";
  EXPECT_TRUE(decode(ok).done);
  std::string big = "1;a=" + std::string(4096 - 2, 'b') + "\r\nx\r\n0\r\n\r\n";
  EXPECT_TRUE(decode(big).error);
  // Per message: 16 KiB, even when every chunk is under 4 KiB.
  std::string many;
  for (int i = 0; i < 4; ++i)
    many += "1;a=" + std::string(4000, 'b') + "\r\nx\r\n";
  EXPECT_TRUE(decode(many + "0\r\n\r\n").done);
  many += "1;a=" + std::string(500, 'b') + "\r\nx\r\n";
  EXPECT_TRUE(decode(many + "0\r\n\r\n").error);
  ChunkedLimits small;
  small.max_ext_per_chunk = 8;
  EXPECT_TRUE(decode("1;abcdefgh\r\nx\r\n0\r\n\r\n", {}, small).error);
}

TEST(ChunkedDecoder, TrailerSection) {
  Decoded d = decode(
      "0\r\nX-A:  one \t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\nHost: evil\r\n"
      "Connection: close\r\nX-B:\r\n\r\n");
  ASSERT_TRUE(d.done) << d.error_reason;
  ASSERT_EQ(d.trailers.size(), 2u);
  EXPECT_EQ(d.trailers.get("X-A"), "one");
  EXPECT_EQ(d.trailers.get("X-B"), "");

  std::string big = "0\r\n";
  for (int i = 0; i < 101; ++i)
    big += "X-" + std::to_string(i) + ": v\r\n";
  EXPECT_TRUE(decode(big + "\r\n").error);
  ChunkedLimits small;
  small.max_trailer_bytes = 16;
  EXPECT_TRUE(decode("0\r\nX-A: 0123456789\r\n\r\n", {}, small).error);
}

TEST(ChunkedDecoder, StatesAfterTheEnd) {
  ChunkedDecoder dec;
  ChunkedStep s = dec.decode("0\r\n\r\n");
  EXPECT_TRUE(s.done);
  EXPECT_EQ(s.consumed, 5u);
  EXPECT_TRUE(dec.done());
  s = dec.decode("more");
  EXPECT_TRUE(s.done);
  EXPECT_EQ(s.consumed, 0u);

  ChunkedDecoder bad;
  EXPECT_TRUE(bad.decode("Z").error);
  s = bad.decode("0\r\n\r\n");
  EXPECT_TRUE(s.error);
  EXPECT_EQ(s.consumed, 0u);
  bad.reset();
  EXPECT_TRUE(bad.decode("0\r\n\r\n").done);
}

TEST(ChunkedDecoder, LargeChunkSizeStreams) {
  ChunkedDecoder dec;
  ChunkedStep s = dec.decode("FFFFFFFFFFFFFFFF\r\nabc");
  EXPECT_EQ(s.data, "abc");
  EXPECT_EQ(dec.body_bytes(), 3u);
  EXPECT_FALSE(s.done);
}

TEST(ChunkedEncoder, RoundTrip) {
  std::string out;
  append_chunk(out, "hello");
  append_chunk(out, ""); // nothing: an empty chunk would end the body
  append_chunk_header(out, 26);
  out += "abcdefghijklmnopqrstuvwxyz";
  append_chunk_end(out);
  HeaderMap trailers;
  trailers.add("X-Sum", "42");
  append_last_chunk(out, &trailers);
  EXPECT_EQ(out, "5\r\nhello\r\n1a\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-Sum: 42\r\n\r\n");
  Decoded d = decode(out);
  ASSERT_TRUE(d.done);
  EXPECT_EQ(d.body, "helloabcdefghijklmnopqrstuvwxyz");
  EXPECT_EQ(d.trailers.get("X-Sum"), "42");

  std::string empty;
  append_last_chunk(empty);
  EXPECT_EQ(empty, "0\r\n\r\n");
}

} // namespace
} // namespace turnpike::http
