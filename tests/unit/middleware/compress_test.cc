#include <gtest/gtest.h>
#include <zlib.h>
#include <zstd.h>

#include <string>
#include <vector>

#include "harness.h"
#include "middleware/compress.h"

namespace turnpike::middleware {
namespace {

using testing::make_request;

std::string gunzip(std::string_view in) {
  z_stream z{};
  inflateInit2(&z, 15 + 16);
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  std::string out;
  char buf[4096];
  int rc;
  do {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    rc = inflate(&z, Z_NO_FLUSH);
    out.append(buf, sizeof buf - z.avail_out);
  } while (rc == Z_OK);
  inflateEnd(&z);
  EXPECT_EQ(rc, Z_STREAM_END);
  return out;
}

std::string unzstd(std::string_view in) {
  ZSTD_DStream* d = ZSTD_createDStream();
  ZSTD_inBuffer input{in.data(), in.size(), 0};
  std::string out;
  char buf[4096];
  while (input.pos < input.size) {
    ZSTD_outBuffer output{buf, sizeof buf, 0};
    size_t rc = ZSTD_decompressStream(d, &output, &input);
    EXPECT_FALSE(ZSTD_isError(rc));
    if (ZSTD_isError(rc))
      break;
    out.append(buf, output.pos);
  }
  ZSTD_freeDStream(d);
  return out;
}

Coding pick(const CompressOptions& o, std::vector<std::string_view> fields) {
  return o.negotiate(fields, true);
}

TEST(Compress, NegotiatesByQValueThenConfiguredOrder) {
  CompressOptions o;
  EXPECT_EQ(o.negotiate({}, false), Coding::kIdentity); // no field, no default
  EXPECT_EQ(pick(o, {""}), Coding::kIdentity);
  EXPECT_EQ(pick(o, {"gzip"}), Coding::kGzip);
  EXPECT_EQ(pick(o, {"zstd, br, gzip"}), Coding::kGzip); // ties: order of `encodings`
  EXPECT_EQ(pick(o, {"gzip;q=0.5, br;q=0.9"}), Coding::kBrotli);
  EXPECT_EQ(pick(o, {"gzip;q=0.5", "zstd;q=1.0"}), Coding::kZstd); // several fields
  EXPECT_EQ(pick(o, {"gzip;q=0, identity"}), Coding::kIdentity);
  EXPECT_EQ(pick(o, {"deflate, compress"}), Coding::kIdentity);
  EXPECT_EQ(pick(o, {"*"}), Coding::kGzip);
  EXPECT_EQ(pick(o, {"*, gzip;q=0"}), Coding::kBrotli); // "*" never picks a refused coding
  EXPECT_EQ(pick(o, {"GZIP ; Q=0.8 , br;q=0.7"}), Coding::kGzip);
  EXPECT_EQ(pick(o, {"gzip;q=2, br"}), Coding::kBrotli); // invalid q: item ignored
  o.default_encoding = Coding::kZstd;
  EXPECT_EQ(o.negotiate({}, false), Coding::kZstd);
  EXPECT_EQ(pick(o, {"*"}), Coding::kZstd);
  o.encodings = {Coding::kZstd, Coding::kBrotli};
  EXPECT_EQ(pick(o, {"gzip"}), Coding::kIdentity);
  EXPECT_EQ(pick(o, {"gzip, br, zstd"}), Coding::kZstd);
}

TEST(Compress, ContentTypeLists) {
  CompressOptions o;
  EXPECT_TRUE(o.type_allowed("text/html; charset=utf-8"));
  EXPECT_TRUE(o.type_allowed(""));
  EXPECT_FALSE(o.type_allowed("application/grpc"));
  o.included = {"application/json"};
  EXPECT_TRUE(o.type_allowed("Application/JSON ; charset=utf-8"));
  EXPECT_FALSE(o.type_allowed("text/html"));
}

// An upstream answering `body` in `pieces` writes, with or without a Content-Length.
class Upstream final : public http::Handler {
public:
  http::Task<void> handle(http::Exchange& ex) const override {
    http::Response head;
    head.status = status;
    head.headers = headers;
    if (with_length) {
      head.content_length = static_cast<int64_t>(body.size());
      head.headers.set("Content-Length", std::to_string(body.size()));
    }
    co_await ex.writer->write_head(head);
    const size_t step = (body.size() + pieces - 1) / std::max<size_t>(pieces, 1);
    for (size_t off = 0; off < body.size(); off += step)
      co_await ex.writer->write_body(std::string_view(body).substr(off, step));
    co_await ex.writer->finish();
  }
  int status = 200;
  std::string body;
  http::HeaderMap headers;
  bool with_length = true;
  size_t pieces = 1;
};

struct Out {
  testing::RecordingWriter w;
  const http::Response& head() const { return w.heads.back(); }
  std::string h(std::string_view n) const {
    return std::string(head().headers.get(n).value_or(""));
  }
};

Out run(std::string_view yaml, std::shared_ptr<Upstream> up, std::string_view accept,
        std::string_view method = "GET") {
  auto node = config::parse_yaml(yaml, "dynamic.yml");
  config::Errors errors;
  config::Decoder dec(*node, "http.middlewares.t@file.compress", errors);
  testing::FakeBuildContext ctx;
  auto h = find("compress")->factory(dec, ctx)(up);
  auto req = make_request(method, "/");
  if (!accept.empty())
    req.headers.add("Accept-Encoding", accept);
  testing::MemoryBody body;
  Out out;
  auto ex = testing::make_exchange(req, body, out.w);
  testing::run(h->handle(ex));
  EXPECT_TRUE(out.w.finished);
  return out;
}

std::string text(size_t n) {
  std::string s;
  while (s.size() < n)
    s += "the quick brown fox jumps over the lazy dog " + std::to_string(s.size());
  return s.substr(0, n);
}

TEST(Compress, CompressesAndDecodesBackForEachCoding) {
  auto up = std::make_shared<Upstream>();
  up->body = text(20000);
  up->headers.set("Content-Type", "text/plain");
  up->headers.set("Accept-Ranges", "bytes");
  up->pieces = 7;
  auto g = run("{}", up, "gzip");
  EXPECT_EQ(g.h("Content-Encoding"), "gzip");
  EXPECT_EQ(g.h("Content-Length"), "");
  EXPECT_EQ(g.head().content_length, -1);
  EXPECT_EQ(g.h("Accept-Ranges"), "");
  EXPECT_EQ(g.h("Vary"), "Accept-Encoding");
  EXPECT_LT(g.w.body.size(), up->body.size() / 2);
  EXPECT_EQ(gunzip(g.w.body), up->body);
  auto z = run("{}", up, "zstd");
  EXPECT_EQ(z.h("Content-Encoding"), "zstd");
  EXPECT_EQ(unzstd(z.w.body), up->body);
  auto b = run("{}", up, "br");
  EXPECT_EQ(b.h("Content-Encoding"), "br");
  EXPECT_LT(b.w.body.size(), up->body.size() / 2);
}

TEST(Compress, ReusedDeflateStatesGiveTheSameOutput) {
  // One handler, one worker: the second response of each size runs on the state the first gave
  // back (deflateReset), including after a response abandoned half-way.
  auto node = config::parse_yaml("{}", "dynamic.yml");
  config::Errors errors;
  config::Decoder dec(*node, "http.middlewares.t@file.compress", errors);
  testing::FakeBuildContext ctx;
  auto up = std::make_shared<Upstream>();
  up->headers.set("Content-Type", "text/plain");
  auto h = find("compress")->factory(dec, ctx)(up);
  std::string first_small;
  for (int round = 0; round < 3; ++round) {
    for (size_t size : {size_t{3000}, size_t{60000}, size_t{3000}}) {
      up->body = text(size + static_cast<size_t>(round));
      up->pieces = round + 1;
      auto req = make_request("GET", "/");
      req.headers.add("Accept-Encoding", "gzip");
      testing::MemoryBody body;
      testing::RecordingWriter w;
      auto ex = testing::make_exchange(req, body, w);
      testing::run(h->handle(ex));
      ASSERT_TRUE(w.finished);
      EXPECT_EQ(gunzip(w.body), up->body) << "round " << round << " size " << size;
      if (round == 0 && size == 3000) {
        if (first_small.empty()) {
          first_small = w.body;
        } else {
          EXPECT_EQ(w.body, first_small);  // a reset state compresses exactly as a fresh one
        }
      }
    }
  }
}

TEST(Compress, LeavesAloneWhatMustNotBeCompressed) {
  auto up = std::make_shared<Upstream>();
  up->body = text(5000);
  // Already encoded: never twice.
  up->headers.set("Content-Encoding", "gzip");
  auto o = run("{}", up, "gzip");
  EXPECT_EQ(o.w.body, up->body);
  up->headers.remove("Content-Encoding");
  // Excluded type, HEAD, no acceptable coding.
  up->headers.set("Content-Type", "application/grpc");
  EXPECT_EQ(run("{}", up, "gzip").h("Content-Encoding"), "");
  up->headers.set("Content-Type", "text/html");
  EXPECT_EQ(run("excludedContentTypes: [\"Text/HTML\"]\n", up, "gzip").h("Content-Encoding"), "");
  EXPECT_EQ(run("includedContentTypes: [text/css]\n", up, "gzip").h("Content-Encoding"), "");
  EXPECT_EQ(run("includedContentTypes: [text/html]\n", up, "gzip").h("Content-Encoding"), "gzip");
  auto head = run("{}", up, "gzip", "HEAD");
  EXPECT_EQ(head.h("Content-Encoding"), "");
  EXPECT_EQ(head.h("Vary"), "");
  auto none = run("{}", up, "");
  EXPECT_EQ(none.h("Content-Encoding"), "");
  EXPECT_EQ(none.w.body, up->body);
  auto identity = run("{}", up, "identity");
  EXPECT_EQ(identity.h("Vary"), "Accept-Encoding"); // the choice depended on the field
  // 204 / 304 untouched.
  up->status = 304;
  up->body.clear();
  EXPECT_EQ(run("{}", up, "gzip").h("Content-Encoding"), "");
}

TEST(Compress, MinimumSizeByLengthOrByHoldingTheBody) {
  auto up = std::make_shared<Upstream>();
  up->body = text(1023);
  auto small = run("{}", up, "gzip");
  EXPECT_EQ(small.h("Content-Encoding"), "");
  EXPECT_EQ(small.w.body, up->body);
  // Without a length: held until the end, then sent as it was with its length.
  up->with_length = false;
  up->pieces = 3;
  auto held = run("{}", up, "gzip");
  EXPECT_EQ(held.h("Content-Encoding"), "");
  EXPECT_EQ(held.h("Content-Length"), "1023");
  EXPECT_EQ(held.w.body, up->body);
  up->body = text(1024);
  auto big = run("{}", up, "gzip");
  EXPECT_EQ(big.h("Content-Encoding"), "gzip");
  EXPECT_EQ(gunzip(big.w.body), up->body);
  auto tiny_min = run("minResponseBodyBytes: 10\n", up, "gzip");
  EXPECT_EQ(tiny_min.h("Content-Encoding"), "gzip");
}

TEST(Compress, EachPieceIsFlushedSoStreamsStream) {
  // Every piece written is decodable on its own prefix: a sync-flushed gzip stream.
  auto up = std::make_shared<Upstream>();
  up->headers.set("Content-Type", "text/event-stream");
  up->with_length = false;
  up->body = "data: 1\n\ndata: 2\n\ndata: 3\n\n";
  up->pieces = 3;
  auto o = run("{}", up, "gzip");
  EXPECT_EQ(o.h("Content-Encoding"), "gzip"); // event streams do not wait for the minimum
  EXPECT_EQ(gunzip(o.w.body), up->body);
}

TEST(Compress, DecodeErrors) {
  testing::expect_decode_error("compress", "encodings: [gzip, deflate]\n", "compress.encodings[1]");
  testing::expect_decode_error("compress", "encodings: [br]\ndefaultEncoding: gzip\n",
                               "compress.defaultEncoding");
  testing::expect_decode_error("compress",
                               "excludedContentTypes: [a/b]\nincludedContentTypes: [c/d]\n",
                               "mutually exclusive");
  testing::expect_decode_error("compress", "minResponseBodyBytes: -5\n", "must not be negative");
  EXPECT_TRUE(testing::build("compress", "{}"));
}

} // namespace
} // namespace turnpike::middleware
