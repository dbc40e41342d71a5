#pragma once
// compress (Traefik's Compress): gzip, Brotli and Zstandard response compression chosen by the
// request's Accept-Encoding.
//
//   http.middlewares.<name>.compress:
//     encodings: [gzip, br, zstd]   # supported, in priority order (default gzip, br, zstd)
//     defaultEncoding: ""           # used when Accept-Encoding is absent or picks "*"
//     excludedContentTypes: []      # never compressed (application/grpc always is excluded)
//     includedContentTypes: []      # if set, only these are compressed (exclusive with excluded)
//     minResponseBodyBytes: 1024
//
// Negotiation (Traefik v3): HEAD requests, and requests whose own Content-Type is excluded, pass
// untouched. No Accept-Encoding: defaultEncoding, else no compression; an empty Accept-Encoding:
// none. Otherwise the acceptable codings (q > 0) among the supported ones and "*" are ordered by
// q value, ties by the order of `encodings`; "*" picks defaultEncoding, else the first supported
// coding the client did not refuse with q=0.
//
// A response is compressed only when it has a body (not 1xx, 204, 304), has no Content-Encoding
// (never compressed twice) and no Content-Range, its media type passes the include/exclude
// lists, and its body reaches minResponseBodyBytes: a Content-Length decides at the head;
// otherwise the head and body are held until that many bytes arrived (or the body ended short,
// then it goes out uncompressed with its length). A text/event-stream without a length is
// compressed from the first byte so that events are not held back. Once compressing, every body
// piece the upstream delivers is compressed and flushed (sync flush) at once, so streamed
// responses stream. Compressed responses lose Content-Length and Accept-Ranges and get
// Content-Encoding; responses that could have been compressed get `Vary: Accept-Encoding`.
//
// Levels: gzip 6 (zlib's default), Brotli quality 5 with a 256 KiB window, zstd 3 with a 512 KiB
// window: a compressing request holds well under 1 MiB of encoder state.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/per_worker.h"
#include "middleware/middleware.h"

struct z_stream_s;  // zlib

namespace turnpike::middleware {

enum class Coding { kIdentity, kGzip, kBrotli, kZstd };
std::string_view coding_name(Coding c); // "gzip", "br", "zstd", "identity"

struct CompressOptions {
  std::vector<Coding> encodings{Coding::kGzip, Coding::kBrotli, Coding::kZstd};
  Coding default_encoding = Coding::kIdentity;           // identity = none configured
  std::vector<std::string> excluded{"application/grpc"}; // media types, lower case
  std::vector<std::string> included;
  int64_t min_response_body_bytes = 1024;

  // The coding for these Accept-Encoding field values (`present`: the field was sent at all).
  Coding negotiate(const std::vector<std::string_view>& accept_encoding, bool present) const;
  // Whether a response of this Content-Type may be compressed.
  bool type_allowed(std::string_view content_type) const;
  // Whether this Content-Type is in the exclusions (checked on requests too).
  bool type_excluded(std::string_view content_type) const;
};

// Deflate states one worker keeps for its next gzip responses: deflateReset instead of
// deflateInit2 + deflateEnd saves allocating and freeing the window, hash chains and pending
// buffer. Both clear the hash heads, which is most of either's cost (callgrind, 4 KiB body:
// 19.2 k instructions per response for init, 18.3 k for the reset; valgrind counts a memset's
// bytes, so the real difference is the allocations). States are kept per window size and memory
// level (a state cannot change them), at most kMax per worker. Worker-confined.
class DeflatePool {
public:
  static constexpr size_t kMax = 4;
  DeflatePool() = default;
  DeflatePool(const DeflatePool&) = delete;
  DeflatePool& operator=(const DeflatePool&) = delete;
  DeflatePool(DeflatePool&&) = default;
  ~DeflatePool();
  // A reset state made with these parameters, or null.
  std::unique_ptr<z_stream_s> take(int wbits, int mem_level);
  // Takes back a state after its stream ended (or failed): reset and kept, or freed.
  void give(std::unique_ptr<z_stream_s> z, int wbits, int mem_level);

private:
  struct Kept {
    std::unique_ptr<z_stream_s> z;
    int wbits, mem_level;
  };
  std::vector<Kept> kept_;
};

// A streaming encoder. Worker-confined; one per compressed response.
class Encoder {
public:
  virtual ~Encoder() = default;
  // Compresses `in` and appends what is ready to `out`, flushed so that the client can decode
  // everything so far; with `last` the stream is ended. False on an encoder failure.
  virtual bool write(std::string_view in, bool last, std::string& out) = 0;
  // `size_hint`: the body's length when known (-1 otherwise), to size the encoder's state.
  // `pool`: the worker's deflate states (gzip), which must outlive the encoder; null = none.
  static std::unique_ptr<Encoder> make(Coding c, int64_t size_hint = -1,
                                       DeflatePool* pool = nullptr);
};

// Immutable apart from the per-worker deflate pools (each touched by its worker only); shared by
// every worker.
class Compress final : public http::Handler {
public:
  // `workers`: how many per-worker pools to keep (Exchange::worker_id indexes them).
  Compress(std::shared_ptr<const CompressOptions> options, HandlerPtr next, unsigned workers = 1);
  http::Task<void> handle(http::Exchange& ex) const override;

private:
  std::shared_ptr<const CompressOptions> options_;
  HandlerPtr next_;
  mutable PerWorker<DeflatePool> pools_;
};

// Factory registered as "compress".
Wrap build_compress(config::Decoder& dec, BuildContext& ctx);

} // namespace turnpike::middleware
