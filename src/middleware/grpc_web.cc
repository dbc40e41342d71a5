#include "middleware/grpc_web.h"

#include <openssl/evp.h>

#include "common/strings.h"
#include "http/head_editor.h"
#include "middleware/decode_support.h"
#include "middleware/local_reply.h"

namespace turnpike::middleware {
namespace {

constexpr std::string_view kExposed = "grpc-status,grpc-message,grpc-status-details-bin";

std::string base64(std::string_view in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(in.data()),
                                static_cast<int>(in.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

// Decodes a stream of base64 text that may be cut anywhere and may hold several padded chunks.
class Base64Stream {
public:
  // Appends what `in` completes to `out`; false on a byte that is not base64.
  bool feed(std::string_view in, std::string& out) {
    for (char c : in) {
      if (c == '\r' || c == '\n' || c == ' ')
        continue;
      quad_.push_back(c);
      if (quad_.size() < 4)
        continue;
      unsigned char buf[3];
      const int n = EVP_DecodeBlock(buf, reinterpret_cast<const unsigned char*>(quad_.data()), 4);
      if (n != 3)
        return false;
      const size_t pad = (quad_[3] == '=') + (quad_[2] == '=');
      out.append(reinterpret_cast<char*>(buf), 3 - pad);
      quad_.clear();
    }
    return true;
  }
  bool complete() const { return quad_.empty(); }

private:
  std::string quad_;
};

// The client's -text body, decoded as it is read.
class TextBody final : public http::BodyReader {
public:
  explicit TextBody(http::BodyReader& source) : source_(source) {}
  http::Task<std::pair<http::ProxyError, std::span<const char>>> read() override {
    for (;;) {
      auto [err, piece] = co_await source_.read();
      if (err)
        co_return std::pair{err, std::span<const char>{}};
      if (piece.empty()) {
        if (!decoder_.complete()) {
          co_return std::pair{http::ProxyError{http::ProxyError::Kind::kDownstreamProtocol,
                                               "grpc-web-text: truncated base64", false},
                              std::span<const char>{}};
        }
        co_return std::pair{http::ProxyError::none(), std::span<const char>{}};
      }
      decoded_.clear();
      if (!decoder_.feed(std::string_view(piece.data(), piece.size()), decoded_)) {
        co_return std::pair{http::ProxyError{http::ProxyError::Kind::kDownstreamProtocol,
                                             "grpc-web-text: bad base64", false},
                            std::span<const char>{}};
      }
      consumed_ += decoded_.size();
      if (!decoded_.empty())
        co_return std::pair{http::ProxyError::none(), std::span<const char>(decoded_)};
    }
  }
  int64_t content_length() const override { return -1; }
  uint64_t consumed() const override { return consumed_; }
  const http::HeaderMap* trailers() const override { return source_.trailers(); }

private:
  http::BodyReader& source_;
  Base64Stream decoder_;
  std::string decoded_;
  uint64_t consumed_ = 0;
};

// gRPC response -> gRPC-Web response.
class GrpcWebWriter final : public http::ResponseWriter {
public:
  GrpcWebWriter(http::ResponseWriter& inner, bool text, std::string origin)
      : inner_(inner), text_(text), origin_(std::move(origin)) {}

  http::Task<http::ProxyError> write_head(http::Response& upstream_head) override {
    if (upstream_head.status < 200) co_return co_await inner_.write_head(upstream_head);
    // A copy: the proxy still frames the upstream body by its own head.
    http::Response head = upstream_head;
    {
      auto type = head.headers.get("Content-Type");
      std::string t(type.value_or("application/grpc"));
      if (istarts_with(t, "application/grpc")) {
        std::string suffix = t.substr(std::string_view("application/grpc").size());
        head.headers.set("Content-Type",
                         std::string(text_ ? "application/grpc-web-text" : "application/grpc-web") +
                             suffix);
      }
      head.headers.remove("Content-Length");
      head.content_length = -1;
      head.chunked = false;
      if (!origin_.empty()) {
        std::string exposed(kExposed);
        for (const auto& h : head.headers) {
          if (iequals(h.name, "Content-Type") || iequals(h.name, "Content-Length"))
            continue;
          exposed += "," + to_lower(h.name);
        }
        head.headers.set("Access-Control-Allow-Origin", origin_);
        head.headers.set("Access-Control-Expose-Headers", exposed);
        head.headers.add("Vary", "Origin");
      }
    }
    co_return co_await inner_.write_head(head);
  }
  http::Task<http::ProxyError> write_body(std::string_view data) override {
    if (!text_)
      co_return co_await inner_.write_body(data);
    co_return co_await inner_.write_body(base64(data));
  }
  http::Task<http::ProxyError> finish() override { co_return co_await inner_.finish(); }
  http::Task<http::ProxyError> finish_with_trailers(const http::HeaderMap& trailers) override {
    const std::string frame = grpc_web_trailer_frame(trailers);
    auto err = co_await write_body(frame);
    if (err)
      co_return err;
    co_return co_await inner_.finish();
  }
  bool head_written() const override { return inner_.head_written(); }

private:
  http::ResponseWriter& inner_;
  bool text_;
  std::string origin_;
};

} // namespace

std::string grpc_web_trailer_frame(const http::HeaderMap& trailers) {
  std::string lines;
  for (const auto& t : trailers)
    lines += to_lower(t.name) + ":" + t.value + "\r\n";
  std::string frame(5, '\0');
  frame[0] = static_cast<char>(0x80);
  const auto n = static_cast<uint32_t>(lines.size());
  frame[1] = static_cast<char>(n >> 24);
  frame[2] = static_cast<char>(n >> 16);
  frame[3] = static_cast<char>(n >> 8);
  frame[4] = static_cast<char>(n);
  return frame + lines;
}

GrpcWeb::GrpcWeb(std::vector<std::string> allow_origins, HandlerPtr next)
    : allow_origins_(std::move(allow_origins)), next_(std::move(next)) {}

bool GrpcWeb::origin_allowed(std::string_view origin) const {
  for (const auto& o : allow_origins_)
    if (o == "*" || iequals(o, origin))
      return true;
  return false;
}

http::Task<void> GrpcWeb::handle(http::Exchange& ex) const {
  http::Request& req = ex.request;
  const std::string origin(req.headers.get("Origin").value_or(""));
  if (req.method == "OPTIONS") {
    auto requested = req.headers.get("Access-Control-Request-Headers");
    bool grpc_web = false;
    if (requested)
      for (auto h : split(*requested, ','))
        if (iequals(trim(h), "x-grpc-web"))
          grpc_web = true;
    if (grpc_web) {
      if (origin.empty() || !origin_allowed(origin)) {
        co_await reply(ex, 403, status_text(403));
        co_return;
      }
      http::HeaderMap h;
      h.set("Access-Control-Allow-Origin", origin);
      h.set("Access-Control-Allow-Methods", "POST");
      h.set("Access-Control-Allow-Headers", *requested);
      h.set("Access-Control-Max-Age", "600");
      h.set("Vary", "Origin");
      co_await reply(ex, 204, "", &h);
      co_return;
    }
  }
  const auto type = std::string(req.headers.get("Content-Type").value_or(""));
  constexpr std::string_view kWeb = "application/grpc-web";
  if (req.method != "POST" || !istarts_with(type, kWeb)) {
    co_await next_->handle(ex);
    co_return;
  }
  std::string rest = type.substr(kWeb.size()); // "", "+proto", "-text", "-text+proto"
  const bool text = istarts_with(rest, "-text");
  if (text)
    rest = rest.substr(5);
  req.headers.set("Content-Type", "application/grpc" + rest);
  req.headers.remove("X-Grpc-Web");
  const std::string allowed_origin = !origin.empty() && origin_allowed(origin) ? origin : "";
  GrpcWebWriter writer(*ex.writer, text, allowed_origin);
  if (!text) {
    http::WriterScope scope(ex, writer);
    co_await next_->handle(ex);
    co_return;
  }
  // A copy for the service: the client connection still frames the client's (base64) body by
  // the original request's fields.
  http::Request decoded = req;
  decoded.headers.remove("Content-Length");
  decoded.content_length = -1;
  decoded.chunked = true;  // the decoded length is unknown until the end
  TextBody body(ex.body);
  http::Exchange inner = http::derive_exchange(ex, decoded, body);
  inner.writer = &writer;
  co_await next_->handle(inner);
  http::adopt_annotations(ex, inner);
}

Wrap build_grpc_web(config::Decoder& dec, BuildContext&) {
  ErrorMark mark(dec);
  std::vector<std::string> origins;
  dec.get("allowOrigins", origins);
  dec.finish();
  if (!mark.clean())
    return {};
  return [origins](HandlerPtr next) -> HandlerPtr {
    return std::make_shared<const GrpcWeb>(origins, std::move(next));
  };
}

} // namespace turnpike::middleware
