#include "middleware/content_type.h"

#include <array>
#include <optional>

#include "common/strings.h"
#include "http/head_editor.h"
#include "middleware/decode_support.h"

namespace turnpike::middleware {
namespace {

constexpr size_t kSniffLen = 512;

bool is_ws(unsigned char c) { return c == '\t' || c == '\n' || c == '\x0c' || c == '\r' || c == ' '; }

std::string_view skip_ws(std::string_view d) {
  size_t i = 0;
  while (i < d.size() && is_ws(static_cast<unsigned char>(d[i]))) ++i;
  return d.substr(i);
}

// An HTML signature: case-insensitive prefix after whitespace, then a tag-terminating byte.
bool html_sig(std::string_view d, std::string_view sig) {
  d = skip_ws(d);
  if (d.size() < sig.size() + 1) return false;
  if (!iequals(d.substr(0, sig.size()), sig)) return false;
  const char end = d[sig.size()];
  return end == ' ' || end == '>';
}

// "RIFF....<fourcc>" style signatures: `sig` with '.' meaning any byte.
bool masked(std::string_view d, std::string_view sig) {
  if (d.size() < sig.size()) return false;
  for (size_t i = 0; i < sig.size(); ++i)
    if (sig[i] != '.' && d[i] != sig[i]) return false;
  return true;
}

bool mp4_sig(std::string_view d) {
  if (d.size() < 12) return false;
  const auto u = [&](size_t i) { return static_cast<uint32_t>(static_cast<unsigned char>(d[i])); };
  const uint32_t box = (u(0) << 24) | (u(1) << 16) | (u(2) << 8) | u(3);
  if (box % 4 != 0 || d.size() < box || d.substr(4, 4) != "ftyp") return false;
  for (size_t st = 8; st < box; st += 4) {
    if (st == 12) continue;  // the minor version, not a brand
    if (d.substr(st, 3) == "mp4") return true;
  }
  return false;
}

bool is_binary(unsigned char c) {
  return c <= 0x08 || c == 0x0b || (c >= 0x0e && c <= 0x1a) || (c >= 0x1c && c <= 0x1f);
}

using namespace std::string_view_literals;

struct Exact {
  std::string_view sig;
  std::string_view type;
};

// Go's sniffSignatures after the HTML/XML ones, in its order ('.' matches any byte).
constexpr std::array kExact = {
    Exact{"%PDF-"sv, "application/pdf"sv},
    Exact{"%!PS-Adobe-"sv, "application/postscript"sv},
    Exact{"\xFE\xFF"sv, "text/plain; charset=utf-16be"sv},
    Exact{"\xFF\xFE"sv, "text/plain; charset=utf-16le"sv},
    Exact{"\xEF\xBB\xBF"sv, "text/plain; charset=utf-8"sv},
    Exact{"\x00\x00\x01\x00"sv, "image/x-icon"sv},
    Exact{"\x00\x00\x02\x00"sv, "image/x-icon"sv},
    Exact{"BM"sv, "image/bmp"sv},
    Exact{"GIF87a"sv, "image/gif"sv},
    Exact{"GIF89a"sv, "image/gif"sv},
    Exact{"RIFF....WEBPVP"sv, "image/webp"sv},
    Exact{"\x89PNG\x0D\x0A\x1A\x0A"sv, "image/png"sv},
    Exact{"\xFF\xD8\xFF"sv, "image/jpeg"sv},
    Exact{"FORM....AIFF"sv, "audio/aiff"sv},
    Exact{"ID3"sv, "audio/mpeg"sv},
    Exact{"OggS\x00"sv, "application/ogg"sv},
    Exact{"MThd\x00\x00\x00\x06"sv, "audio/midi"sv},
    Exact{"RIFF....AVI "sv, "video/avi"sv},
    Exact{"RIFF....WAVE"sv, "audio/wave"sv},
    Exact{""sv, "video/mp4"sv},  // the empty signature stands for mp4_sig
    Exact{"\x1A\x45\xDF\xA3"sv, "video/webm"sv},
    Exact{"OTTO"sv, "font/otf"sv},
    Exact{"ttcf"sv, "font/collection"sv},
    Exact{"wOFF"sv, "font/woff"sv},
    Exact{"wOF2"sv, "font/woff2"sv},
    Exact{"\x1F\x8B\x08"sv, "application/x-gzip"sv},
    Exact{"PK\x03\x04"sv, "application/zip"sv},
    Exact{"Rar!\x1A\x07\x00"sv, "application/x-rar-compressed"sv},
    Exact{"Rar!\x1A\x07\x01\x00"sv, "application/x-rar-compressed"sv},
    Exact{"\x00\x61\x73\x6D"sv, "application/wasm"sv},
};

constexpr std::array kHtmlTags = {
    "<!DOCTYPE HTML"sv, "<HTML"sv, "<HEAD"sv, "<SCRIPT"sv, "<IFRAME"sv, "<H1"sv, "<DIV"sv,
    "<FONT"sv, "<TABLE"sv, "<A"sv, "<STYLE"sv, "<TITLE"sv, "<B"sv, "<BODY"sv, "<BR"sv, "<P"sv,
    "<!--"sv,
};

bool sniffable(const http::Response& head) {
  if (head.no_body || head.status < 200 || head.status == 204 || head.status == 304) return false;
  if (head.headers.has("Content-Type")) return false;
  auto ce = head.headers.get("Content-Encoding");
  return !ce || ce->empty();
}

// Holds a sniffable head until the first body piece decides its Content-Type.
class SniffingWriter final : public http::ResponseWriter {
 public:
  explicit SniffingWriter(http::ResponseWriter& inner) : inner_(inner) {}

  http::Task<http::ProxyError> write_head(http::Response& head) override {
    if (head.status >= 200 && sniffable(head)) {
      held_ = head;  // a later head (error path) replaces it
      co_return http::ProxyError::none();
    }
    held_.reset();
    co_return co_await inner_.write_head(head);
  }
  http::Task<http::ProxyError> write_body(std::string_view data) override {
    if (held_ && !data.empty()) {
      held_->headers.set("Content-Type", detect_content_type(data));
      auto err = co_await release();
      if (err) co_return err;
    }
    co_return co_await inner_.write_body(data);
  }
  http::Task<http::ProxyError> finish() override {
    auto err = co_await release();
    if (err) co_return err;
    co_return co_await inner_.finish();
  }
  http::Task<http::ProxyError> finish_with_trailers(const http::HeaderMap& trailers) override {
    auto err = co_await release();
    if (err) co_return err;
    co_return co_await inner_.finish_with_trailers(trailers);
  }
  bool head_written() const override { return held_.has_value() || inner_.head_written(); }

 private:
  http::Task<http::ProxyError> release() {
    if (!held_) co_return http::ProxyError::none();
    http::Response head = std::move(*held_);
    held_.reset();
    co_return co_await inner_.write_head(head);
  }

  http::ResponseWriter& inner_;
  std::optional<http::Response> held_;
};

}  // namespace

std::string_view detect_content_type(std::string_view data) {
  data = data.substr(0, std::min(data.size(), kSniffLen));
  for (auto tag : kHtmlTags)
    if (html_sig(data, tag)) return "text/html; charset=utf-8";
  if (const auto d = skip_ws(data); d.substr(0, 5) == "<?xml") return "text/xml; charset=utf-8";
  for (const auto& e : kExact)
    if (e.sig.empty() ? mp4_sig(data) : masked(data, e.sig)) return e.type;
  for (unsigned char c : data)
    if (is_binary(c)) return "application/octet-stream";
  return "text/plain; charset=utf-8";
}

ContentType::ContentType(HandlerPtr next) : next_(std::move(next)) {}

http::Task<void> ContentType::handle(http::Exchange& ex) const {
  SniffingWriter writer(*ex.writer);
  http::WriterScope scope(ex, writer);
  co_await next_->handle(ex);
}

Wrap build_content_type(config::Decoder& dec, BuildContext&) {
  ErrorMark mark(dec);
  bool auto_detect = true;  // an empty section enables detection (Traefik v3)
  dec.get("autoDetect", auto_detect);
  dec.finish();
  if (!mark.clean()) return {};
  if (!auto_detect) return [](HandlerPtr next) { return next; };
  return [](HandlerPtr next) -> HandlerPtr {
    return std::make_shared<const ContentType>(std::move(next));
  };
}

}  // namespace turnpike::middleware
