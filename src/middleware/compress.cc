#include "middleware/compress.h"

#include <brotli/encode.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <charconv>
#include <optional>

#include "common/strings.h"
#include "http/head_editor.h"
#include "middleware/decode_support.h"

namespace turnpike::middleware {
namespace {

constexpr size_t kOutChunk = 16 * 1024;

class GzipEncoder final : public Encoder {
public:
  // A body of known length gets a window and hash table no larger than it needs, as nginx does:
  // deflateInit2 clears the hash table, 128 KiB at the default memLevel, which cost more than
  // compressing a 4 KiB body (callgrind: ~90 k of ~230 k instructions per request). The output
  // is the same format; only the search state is smaller. A state from the worker's pool with
  // the same sizes is reused when there is one.
  GzipEncoder(int64_t size_hint, DeflatePool* pool) : pool_(pool) {
    while (size_hint > 0 && wbits_ > 9 && size_hint < (int64_t{1} << (wbits_ - 1)) - 262) {
      --wbits_;
      --mem_level_;
    }
    mem_level_ = std::max(mem_level_, 1);
    if (pool_)
      z_ = pool_->take(wbits_, mem_level_);
    if (z_)
      return;
    z_ = std::make_unique<z_stream>();
    if (deflateInit2(z_.get(), Z_DEFAULT_COMPRESSION, Z_DEFLATED, wbits_ + 16, mem_level_,
                     Z_DEFAULT_STRATEGY) != Z_OK)
      z_.reset();
  }
  ~GzipEncoder() override {
    if (!z_)
      return;
    if (pool_)
      pool_->give(std::move(z_), wbits_, mem_level_);
    else
      deflateEnd(z_.get());
  }
  bool write(std::string_view in, bool last, std::string& out) override {
    if (!z_)
      return false;
    z_stream& z = *z_;
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z.avail_in = static_cast<uInt>(in.size());
    // Room for what this input can become (deflateBound plus the flush marker and trailer),
    // not a fixed 16 KiB that resize() would zero for a short body; the loop grows it if needed.
    const size_t chunk =
        std::min(kOutChunk, static_cast<size_t>(deflateBound(&z, z.avail_in)) + 64);
    for (;;) {
      const size_t before = out.size();
      out.resize(before + chunk);
      z.next_out = reinterpret_cast<Bytef*>(out.data() + before);
      z.avail_out = static_cast<uInt>(chunk);
      const int rc = deflate(&z, last ? Z_FINISH : Z_SYNC_FLUSH);
      out.resize(before + (chunk - z.avail_out));
      if (rc == Z_STREAM_END)
        return true;
      if (rc != Z_OK && rc != Z_BUF_ERROR)
        return false;
      // Done when deflate had room left: all input consumed and the flush marker written.
      if (!last && z.avail_out != 0)
        return true;
    }
  }

private:
  DeflatePool* pool_;
  int wbits_ = 15, mem_level_ = 8;
  std::unique_ptr<z_stream> z_;  // null when deflateInit2 failed
};

class BrotliEncoder final : public Encoder {
public:
  explicit BrotliEncoder(int64_t size_hint)
      : s_(BrotliEncoderCreateInstance(nullptr, nullptr, nullptr)) {
    if (s_) {
      BrotliEncoderSetParameter(s_, BROTLI_PARAM_QUALITY, 5);
      BrotliEncoderSetParameter(s_, BROTLI_PARAM_LGWIN, 18);
      // Lets the encoder size its tables for a short body (see GzipEncoder).
      if (size_hint > 0)
        BrotliEncoderSetParameter(s_, BROTLI_PARAM_SIZE_HINT,
                                  static_cast<uint32_t>(std::min<int64_t>(size_hint, 1 << 30)));
    }
  }
  ~BrotliEncoder() override {
    if (s_)
      BrotliEncoderDestroyInstance(s_);
  }
  bool write(std::string_view in, bool last, std::string& out) override {
    if (!s_)
      return false;
    size_t avail_in = in.size();
    const uint8_t* next_in = reinterpret_cast<const uint8_t*>(in.data());
    const auto op = last ? BROTLI_OPERATION_FINISH : BROTLI_OPERATION_FLUSH;
    for (;;) {
      const size_t before = out.size();
      out.resize(before + kOutChunk);
      size_t avail_out = kOutChunk;
      uint8_t* next_out = reinterpret_cast<uint8_t*>(out.data() + before);
      if (!BrotliEncoderCompressStream(s_, op, &avail_in, &next_in, &avail_out, &next_out, nullptr))
        return false;
      out.resize(before + (kOutChunk - avail_out));
      if (avail_in == 0 && !BrotliEncoderHasMoreOutput(s_) &&
          (!last || BrotliEncoderIsFinished(s_)))
        return true;
    }
  }

private:
  BrotliEncoderState* s_;
};

class ZstdEncoder final : public Encoder {
public:
  ZstdEncoder() : c_(ZSTD_createCCtx()) {
    if (c_) {
      ZSTD_CCtx_setParameter(c_, ZSTD_c_compressionLevel, 3);
      ZSTD_CCtx_setParameter(c_, ZSTD_c_windowLog, 19);
    }
  }
  ~ZstdEncoder() override { ZSTD_freeCCtx(c_); }
  bool write(std::string_view in, bool last, std::string& out) override {
    if (!c_)
      return false;
    ZSTD_inBuffer input{in.data(), in.size(), 0};
    for (;;) {
      const size_t before = out.size();
      out.resize(before + kOutChunk);
      ZSTD_outBuffer output{out.data() + before, kOutChunk, 0};
      const size_t remaining =
          ZSTD_compressStream2(c_, &output, &input, last ? ZSTD_e_end : ZSTD_e_flush);
      out.resize(before + output.pos);
      if (ZSTD_isError(remaining))
        return false;
      if (remaining == 0 && input.pos == input.size)
        return true;
    }
  }

private:
  ZSTD_CCtx* c_;
};

std::optional<Coding> parse_coding(std::string_view s) {
  if (iequals(s, "gzip"))
    return Coding::kGzip;
  if (iequals(s, "br"))
    return Coding::kBrotli;
  if (iequals(s, "zstd"))
    return Coding::kZstd;
  return std::nullopt;
}

// mime.ParseMediaType's media type: lower case, parameters and spaces dropped.
std::string media_type(std::string_view content_type) {
  const size_t semi = content_type.find(';');
  return to_lower(trim(content_type.substr(0, semi)));
}

// q value of an Accept-Encoding item's parameters ("q=0.5"); 1 when absent, nullopt when invalid.
std::optional<double> q_value(std::string_view params) {
  double q = 1;
  for (auto p : split(params, ';')) {
    p = trim(p);
    if (p.size() < 2 || (p[0] != 'q' && p[0] != 'Q') || p[1] != '=')
      continue;
    auto v = trim(p.substr(2));
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), q);
    if (ec != std::errc() || end != v.data() + v.size() || q < 0 || q > 1)
      return std::nullopt;
  }
  return q;
}

bool contains_token(std::string_view list, std::string_view token) {
  for (auto item : split(list, ','))
    if (iequals(trim(item), token))
      return true;
  return false;
}

} // namespace

std::string_view coding_name(Coding c) {
  switch (c) {
  case Coding::kGzip:
    return "gzip";
  case Coding::kBrotli:
    return "br";
  case Coding::kZstd:
    return "zstd";
  case Coding::kIdentity:
    break;
  }
  return "identity";
}

DeflatePool::~DeflatePool() {
  for (auto& k : kept_)
    deflateEnd(k.z.get());
}

std::unique_ptr<z_stream_s> DeflatePool::take(int wbits, int mem_level) {
  for (auto it = kept_.begin(); it != kept_.end(); ++it) {
    if (it->wbits == wbits && it->mem_level == mem_level) {
      auto z = std::move(it->z);
      kept_.erase(it);
      return z;
    }
  }
  return nullptr;
}

void DeflatePool::give(std::unique_ptr<z_stream_s> z, int wbits, int mem_level) {
  // A stream abandoned mid-way (client gone) resets as well as a finished one.
  if (kept_.size() >= kMax || deflateReset(z.get()) != Z_OK) {
    deflateEnd(z.get());
    return;
  }
  kept_.push_back(Kept{std::move(z), wbits, mem_level});
}

std::unique_ptr<Encoder> Encoder::make(Coding c, int64_t size_hint, DeflatePool* pool) {
  switch (c) {
  case Coding::kGzip:
    return std::make_unique<GzipEncoder>(size_hint, pool);
  case Coding::kBrotli:
    return std::make_unique<BrotliEncoder>(size_hint);
  case Coding::kZstd:
    return std::make_unique<ZstdEncoder>();
  case Coding::kIdentity:
    break;
  }
  return nullptr;
}

Coding CompressOptions::negotiate(const std::vector<std::string_view>& accept_encoding,
                                  bool present) const {
  if (!present)
    return default_encoding;
  struct Candidate {
    std::optional<Coding> coding; // nullopt: "*"
    double q;
    size_t priority; // index in `encodings`; "*" after all of them
  };
  std::vector<Candidate> acceptable;
  std::vector<Coding> refused; // q=0: never chosen, not even through "*"
  for (auto field : accept_encoding) {
    for (auto item : split(field, ',')) {
      item = trim(item);
      if (item.empty())
        continue;
      const size_t semi = item.find(';');
      const auto name = trim(item.substr(0, semi));
      const auto q = q_value(semi == std::string_view::npos ? "" : item.substr(semi + 1));
      if (!q)
        continue;
      std::optional<Coding> coding;
      if (name != "*") {
        coding = parse_coding(name);
        if (!coding)
          continue;
        const auto at = std::find(encodings.begin(), encodings.end(), *coding);
        if (at == encodings.end())
          continue;
        if (*q == 0) {
          refused.push_back(*coding);
          continue;
        }
        acceptable.push_back({coding, *q, static_cast<size_t>(at - encodings.begin())});
      } else if (*q > 0) {
        acceptable.push_back({std::nullopt, *q, encodings.size()});
      }
    }
  }
  if (acceptable.empty())
    return Coding::kIdentity;
  std::stable_sort(acceptable.begin(), acceptable.end(), [](const auto& a, const auto& b) {
    return a.q != b.q ? a.q > b.q : a.priority < b.priority;
  });
  const auto& best = acceptable.front();
  if (best.coding)
    return *best.coding;
  auto allowed = [&](Coding c) {
    return std::find(refused.begin(), refused.end(), c) == refused.end();
  };
  if (default_encoding != Coding::kIdentity && allowed(default_encoding))
    return default_encoding;
  for (Coding c : encodings)
    if (allowed(c))
      return c;
  return Coding::kIdentity;
}

bool CompressOptions::type_excluded(std::string_view content_type) const {
  const std::string type = media_type(content_type);
  return std::find(excluded.begin(), excluded.end(), type) != excluded.end();
}

bool CompressOptions::type_allowed(std::string_view content_type) const {
  const std::string type = media_type(content_type);
  if (!included.empty())
    return std::find(included.begin(), included.end(), type) != included.end();
  return std::find(excluded.begin(), excluded.end(), type) == excluded.end();
}

namespace {

// Decides at the response head (or after min bytes) whether to compress, then compresses and
// flushes every body piece. Lives on the exchange's coroutine frame.
class CompressWriter final : public http::ResponseWriter {
public:
  CompressWriter(http::ResponseWriter& inner, const CompressOptions& o, Coding coding,
                 DeflatePool* pool)
      : inner_(inner), options_(o), coding_(coding), pool_(pool) {}

  http::Task<http::ProxyError> write_head(http::Response& head) override {
    if (state_ != State::kHead || head.status < 200)
      co_return co_await inner_.write_head(head);
    if (!eligible(head)) {
      state_ = State::kPass;
      co_return co_await inner_.write_head(head);
    }
    add_vary(head);
    if (coding_ == Coding::kIdentity ||
        (head.content_length >= 0 && head.content_length < options_.min_response_body_bytes)) {
      state_ = State::kPass;
      co_return co_await inner_.write_head(head);
    }
    const bool stream =
        media_type(head.headers.get("Content-Type").value_or("")) == "text/event-stream";
    if (head.content_length >= 0 || stream)
      co_return co_await start(head);
    held_ = head;
    state_ = State::kHolding;
    co_return http::ProxyError::none();
  }

  http::Task<http::ProxyError> write_body(std::string_view data) override {
    switch (state_) {
    case State::kCompress:
      co_return co_await compress(data, false);
    case State::kHolding:
      pending_.append(data);
      if (static_cast<int64_t>(pending_.size()) < options_.min_response_body_bytes)
        co_return http::ProxyError::none();
      {
        auto err = co_await start(held_);
        if (err)
          co_return err;
      }
      {
        std::string pending = std::move(pending_);
        co_return co_await compress(pending, false);
      }
    default:
      co_return co_await inner_.write_body(data);
    }
  }

  http::Task<http::ProxyError> finish() override {
    auto err = co_await end();
    if (err)
      co_return err;
    co_return co_await inner_.finish();
  }
  http::Task<http::ProxyError> finish_with_trailers(const http::HeaderMap& trailers) override {
    auto err = co_await end();
    if (err)
      co_return err;
    co_return co_await inner_.finish_with_trailers(trailers);
  }
  bool head_written() const override { return state_ == State::kHolding || inner_.head_written(); }

private:
  enum class State { kHead, kHolding, kCompress, kPass };

  bool eligible(const http::Response& head) const {
    if (head.no_body || head.status == 204 || head.status == 304 || head.status == 101)
      return false;
    if (head.headers.has("Content-Encoding") || head.headers.has("Content-Range"))
      return false;
    return options_.type_allowed(head.headers.get("Content-Type").value_or(""));
  }
  static void add_vary(http::Response& head) {
    for (auto v : head.headers.values("Vary"))
      if (contains_token(v, "Accept-Encoding") || trim(v) == "*")
        return;
    head.headers.add("Vary", "Accept-Encoding");
  }

  // `head` is the caller's (the proxy still frames the upstream body by it): the compressed
  // head sent downstream is a copy.
  http::Task<http::ProxyError> start(const http::Response& head) {
    encoder_ = Encoder::make(coding_, head.content_length, pool_);
    http::Response out = head;
    out.headers.remove("Content-Length");
    out.headers.remove("Accept-Ranges");
    out.headers.set("Content-Encoding", coding_name(coding_));
    out.content_length = -1;
    out.chunked = false;
    state_ = State::kCompress;
    co_return co_await inner_.write_head(out);
  }

  http::Task<http::ProxyError> compress(std::string_view data, bool last) {
    out_.clear();
    if (!encoder_->write(data, last, out_)) {
      http::ProxyError err;
      err.kind = http::ProxyError::Kind::kInternal;
      err.detail = "compress: the encoder failed";
      co_return err;
    }
    if (out_.empty())
      co_return http::ProxyError::none();
    co_return co_await inner_.write_body(out_);
  }

  // The body ended: a held response that stayed short goes out as it was, with its length.
  http::Task<http::ProxyError> end() {
    if (state_ == State::kCompress)
      co_return co_await compress({}, true);
    if (state_ == State::kHolding) {
      state_ = State::kPass;
      held_.headers.set("Content-Length", std::to_string(pending_.size()));
      held_.content_length = static_cast<int64_t>(pending_.size());
      auto err = co_await inner_.write_head(held_);
      if (err)
        co_return err;
      if (!pending_.empty())
        co_return co_await inner_.write_body(pending_);
    }
    co_return http::ProxyError::none();
  }

  http::ResponseWriter& inner_;
  const CompressOptions& options_;
  Coding coding_;
  DeflatePool* pool_;
  State state_ = State::kHead;
  http::Response held_;
  std::string pending_;
  std::string out_;
  std::unique_ptr<Encoder> encoder_;
};

} // namespace

Compress::Compress(std::shared_ptr<const CompressOptions> options, HandlerPtr next,
                   unsigned workers)
    : options_(std::move(options)), next_(std::move(next)), pools_(workers) {}

http::Task<void> Compress::handle(http::Exchange& ex) const {
  const auto& req = ex.request;
  if (req.method == "HEAD" || req.upgrade_websocket) {
    co_await next_->handle(ex);
    co_return;
  }
  // Traefik checks the request's own type against the exclusions (gRPC, event streams).
  if (auto type = req.headers.get("Content-Type"); type && options_->type_excluded(*type)) {
    co_await next_->handle(ex);
    co_return;
  }
  const auto fields = req.headers.values("Accept-Encoding");
  const Coding coding = options_->negotiate(fields, !fields.empty());
  CompressWriter writer(*ex.writer, *options_, coding,
                        &pools_[ex.worker_id]);
  http::WriterScope scope(ex, writer);
  co_await next_->handle(ex);
}

Wrap build_compress(config::Decoder& dec, BuildContext& ctx) {
  ErrorMark mark(dec);
  auto opts = std::make_shared<CompressOptions>();
  std::vector<std::string> encodings, excluded, included;
  std::string default_encoding;
  const bool has_encodings = dec.get("encodings", encodings);
  dec.get("defaultEncoding", default_encoding);
  dec.get("excludedContentTypes", excluded);
  dec.get("includedContentTypes", included);
  dec.get_non_negative("minResponseBodyBytes", opts->min_response_body_bytes);
  dec.finish();
  if (has_encodings) {
    opts->encodings.clear();
    for (size_t i = 0; i < encodings.size(); ++i) {
      auto c = parse_coding(trim(encodings[i]));
      if (!c)
        dec.fail(item_key("encodings", i),
                 "\"" + encodings[i] + "\" is not a supported encoding (gzip, br, zstd)");
      else if (std::find(opts->encodings.begin(), opts->encodings.end(), *c) ==
               opts->encodings.end())
        opts->encodings.push_back(*c);
    }
    if (encodings.empty())
      dec.fail("encodings", "at least one encoding is required");
  }
  if (!default_encoding.empty()) {
    auto c = parse_coding(trim(default_encoding));
    if (!c ||
        std::find(opts->encodings.begin(), opts->encodings.end(), *c) == opts->encodings.end())
      dec.fail("defaultEncoding", "\"" + default_encoding + "\" is not one of the encodings");
    else
      opts->default_encoding = *c;
  }
  if (!excluded.empty() && !included.empty())
    dec.fail("includedContentTypes", "excludedContentTypes and includedContentTypes are mutually "
                                     "exclusive");
  for (const auto& t : excluded)
    opts->excluded.push_back(media_type(t));
  for (const auto& t : included)
    opts->included.push_back(media_type(t));
  if (!mark.clean())
    return {};
  return [opts = std::shared_ptr<const CompressOptions>(std::move(opts)),
          workers = ctx.workers()](HandlerPtr next) -> HandlerPtr {
    return std::make_shared<const Compress>(opts, std::move(next), workers);
  };
}

} // namespace turnpike::middleware
