#include "http/chunked.h"

#include <algorithm>
#include <charconv>

#include "common/strings.h"
#include "http/parser.h"

namespace turnpike::http {
namespace {

bool is_ows(char c) {
  return c == ' ' || c == '\t';
}

// qdtext (RFC 9110 5.6.4): HTAB, SP, '!', '#'-'[', ']'-'~', obs-text.
bool is_qdtext(char c) {
  auto u = static_cast<unsigned char>(c);
  return c == '\t' || c == ' ' || c == '!' || (u >= 0x23 && u <= 0x5b) ||
         (u >= 0x5d && u <= 0x7e) || u >= 0x80;
}

constexpr size_t kMaxSizeDigits = 16;

} // namespace

void ChunkedDecoder::reset() {
  state_ = State::kSize;
  chunk_left_ = 0;
  size_digits_ = 0;
  ext_chunk_ = 0;
  ext_message_ = 0;
  trailer_bytes_ = 0;
  trailer_fields_ = 0;
  body_bytes_ = 0;
  error_reason_ = {};
  trailer_name_.clear();
  trailer_value_.clear();
  trailers_.clear();
}

ChunkedStep ChunkedDecoder::fail(size_t consumed, std::string_view why) {
  state_ = State::kError;
  error_reason_ = why;
  ChunkedStep s;
  s.consumed = consumed;
  s.error = true;
  s.error_reason = why;
  return s;
}

bool ChunkedDecoder::commit_trailer() {
  if (++trailer_fields_ > limits_.max_trailer_fields)
    return false;
  std::string_view name = trailer_name_;
  // RFC 9110 6.5.1: framing, routing and connection fields are not allowed in trailers; drop
  // them rather than let anything merge them into the header section.
  if (iequals(name, "content-length") || iequals(name, "transfer-encoding") ||
      iequals(name, "host") || is_hop_by_hop(name))
    return true;
  trailers_.add(name, trim(trailer_value_));
  return true;
}

ChunkedStep ChunkedDecoder::decode(std::string_view in) {
  ChunkedStep step;
  if (state_ == State::kDone) {
    step.done = true;
    return step;
  }
  if (state_ == State::kError)
    return fail(0, error_reason_);

  size_t i = 0;
  // Counts one chunk-ext byte against both limits.
  auto ext_byte = [&] {
    return ++ext_chunk_ <= limits_.max_ext_per_chunk &&
           ++ext_message_ <= limits_.max_ext_per_message;
  };
  while (i < in.size()) {
    if (state_ == State::kData) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(chunk_left_, in.size() - i));
      step.data = in.substr(i, n);
      chunk_left_ -= n;
      body_bytes_ += n;
      i += n;
      if (chunk_left_ == 0)
        state_ = State::kDataCr;
      step.consumed = i;
      return step;
    }
    const char c = in[i++];
    switch (state_) {
    case State::kSize: {
      int v = hex_digit_value(c);
      if (v >= 0) {
        if (++size_digits_ > kMaxSizeDigits)
          return fail(i, "chunk size too long");
        chunk_left_ = chunk_left_ * 16 + static_cast<uint64_t>(v);
        break;
      }
      if (size_digits_ == 0)
        return fail(i, "invalid chunk size");
      if (c == '\r') {
        state_ = State::kSizeLf;
      } else if (c == ';') {
        if (!ext_byte())
          return fail(i, "chunk extension too long");
        state_ = State::kExtBwsAfterSemi;
      } else if (is_ows(c)) {
        if (!ext_byte())
          return fail(i, "chunk extension too long");
        state_ = State::kExtBwsBeforeSemi;
      } else {
        return fail(i, "invalid chunk size");
      }
      break;
    }
    case State::kExtBwsBeforeSemi:
    case State::kExtBwsAfterSemi:
    case State::kExtName:
    case State::kExtBwsBeforeEq:
    case State::kExtBwsAfterEq:
    case State::kExtToken:
    case State::kExtQuoted:
    case State::kExtQuotedPair:
    case State::kExtAfterValue: {
      if (c == '\r' && (state_ == State::kExtName || state_ == State::kExtToken ||
                        state_ == State::kExtAfterValue)) {
        state_ = State::kSizeLf;
        break;
      }
      if (!ext_byte())
        return fail(i, "chunk extension too long");
      bool ok = true;
      switch (state_) {
      case State::kExtBwsBeforeSemi:
        if (c == ';')
          state_ = State::kExtBwsAfterSemi;
        else
          ok = is_ows(c);
        break;
      case State::kExtBwsAfterSemi:
        if (is_token_char(c))
          state_ = State::kExtName;
        else
          ok = is_ows(c);
        break;
      case State::kExtName:
        if (c == '=')
          state_ = State::kExtBwsAfterEq;
        else if (c == ';')
          state_ = State::kExtBwsAfterSemi;
        else if (is_ows(c))
          state_ = State::kExtBwsBeforeEq;
        else
          ok = is_token_char(c);
        break;
      case State::kExtBwsBeforeEq:
        if (c == '=')
          state_ = State::kExtBwsAfterEq;
        else if (c == ';')
          state_ = State::kExtBwsAfterSemi;
        else
          ok = is_ows(c);
        break;
      case State::kExtBwsAfterEq:
        if (c == '"')
          state_ = State::kExtQuoted;
        else if (is_token_char(c))
          state_ = State::kExtToken;
        else
          ok = is_ows(c);
        break;
      case State::kExtToken:
      case State::kExtAfterValue:
        if (state_ == State::kExtToken && is_token_char(c))
          break;
        if (c == ';')
          state_ = State::kExtBwsAfterSemi;
        else if (is_ows(c))
          state_ = State::kExtBwsBeforeSemi;
        else
          ok = false;
        break;
      case State::kExtQuoted:
        if (c == '"')
          state_ = State::kExtAfterValue;
        else if (c == '\\')
          state_ = State::kExtQuotedPair;
        else
          ok = is_qdtext(c);
        break;
      case State::kExtQuotedPair:
        ok = c == '\t' || (c != '\x7f' && static_cast<unsigned char>(c) >= 0x20);
        state_ = State::kExtQuoted;
        break;
      default:
        break;
      }
      if (!ok)
        return fail(i, "invalid chunk extension");
      break;
    }
    case State::kSizeLf:
      if (c != '\n')
        return fail(i, "bare CR in chunk size line");
      state_ = chunk_left_ == 0 ? State::kTrailerLineStart : State::kData;
      break;
    case State::kDataCr:
      if (c != '\r')
        return fail(i, "chunk data not followed by CRLF");
      state_ = State::kDataLf;
      break;
    case State::kDataLf:
      if (c != '\n')
        return fail(i, "chunk data not followed by CRLF");
      state_ = State::kSize;
      size_digits_ = 0;
      ext_chunk_ = 0;
      break;
    case State::kTrailerLineStart:
    case State::kTrailerName:
    case State::kTrailerValue:
    case State::kTrailerLf:
    case State::kTrailerEndLf:
      if (++trailer_bytes_ > limits_.max_trailer_bytes)
        return fail(i, "trailer section too large");
      switch (state_) {
      case State::kTrailerLineStart:
        if (c == '\r') {
          state_ = State::kTrailerEndLf;
        } else if (is_token_char(c)) {
          trailer_name_.assign(1, c);
          trailer_value_.clear();
          state_ = State::kTrailerName;
        } else {
          return fail(i, is_ows(c) ? "obsolete line folding in trailer" : "invalid trailer name");
        }
        break;
      case State::kTrailerName:
        if (c == ':')
          state_ = State::kTrailerValue;
        else if (is_token_char(c))
          trailer_name_.push_back(c);
        else
          return fail(i, "invalid trailer name");
        break;
      case State::kTrailerValue:
        if (c == '\r')
          state_ = State::kTrailerLf;
        else if (is_field_value_char(c))
          trailer_value_.push_back(c);
        else
          return fail(i, "invalid character in trailer value");
        break;
      case State::kTrailerLf:
        if (c != '\n')
          return fail(i, "bare CR in trailer");
        if (!commit_trailer())
          return fail(i, "too many trailer fields");
        state_ = State::kTrailerLineStart;
        break;
      case State::kTrailerEndLf:
        if (c != '\n')
          return fail(i, "bare CR in trailer");
        state_ = State::kDone;
        step.done = true;
        step.consumed = i;
        return step;
      default:
        break;
      }
      break;
    case State::kData:
    case State::kDone:
    case State::kError:
      break; // handled above
    }
  }
  step.consumed = i;
  return step;
}

void append_chunk_header(std::string& out, uint64_t size) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, size, 16);
  out.append(buf, static_cast<size_t>(end - buf)).append("\r\n");
}

void append_chunk_end(std::string& out) {
  out.append("\r\n");
}

void append_chunk(std::string& out, std::string_view data) {
  if (data.empty())
    return;
  append_chunk_header(out, data.size());
  out.append(data);
  append_chunk_end(out);
}

void append_last_chunk(std::string& out, const HeaderMap* trailers) {
  out.append("0\r\n");
  if (trailers != nullptr)
    for (const auto& h : *trailers)
      out.append(h.name).append(": ").append(h.value).append("\r\n");
  out.append("\r\n");
}

} // namespace turnpike::http
