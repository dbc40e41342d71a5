#pragma once
// Request path normalisation: the single view of the path that routers match, middlewares
// change and the upstream receives (security.md section 3.3). Pure functions; any thread.

#include <string>
#include <string_view>

namespace turnpike::http {

// Mirrors the entrypoint options `http.sanitizePath` and
// `http.encodedCharacters.allowEncoded{Slash,BackSlash,NullCharacter,Semicolon,Percent,
// QuestionMark,Hash}`.
//
// Our defaults are STRICTER than Traefik's: every allow_encoded_* is false, so a path holding
// %2F %5C %00 %3B %25 %3F or %23 (either hex case) is rejected with 400 (Traefik up to 3.6
// allows them by default). A raw ';' is ordinary path data and is kept. To get Traefik's
// behaviour set every allow_encoded_* to true; such escapes are then kept encoded (hex upper-
// cased) and never act as separators here, so the back end must not decode them either.
struct PathOptions {
  // Remove "." and ".." segments (RFC 3986 5.2.4, after decoding so %2e%2e counts) and, with
  // merge_slashes, empty segments. A path that climbs above "/" is rejected. When false the
  // segments are forwarded as they are (Traefik's sanitizePath=false; unsafe when routing or
  // access control depends on the path).
  bool sanitize_path = true;
  // Collapse "//" into "/" (only when sanitize_path; Traefik's sanitizePath always does it).
  bool merge_slashes = true;
  bool allow_encoded_slash = false;          // %2F
  bool allow_encoded_back_slash = false;     // %5C
  bool allow_encoded_null_character = false; // %00
  bool allow_encoded_semicolon = false;      // %3B
  bool allow_encoded_percent = false;        // %25
  bool allow_encoded_question_mark = false;  // %3F
  bool allow_encoded_hash = false;           // %23
};

// Normalises the raw path of an origin-form target (no query) into `out`:
//   1. rejects raw bytes that may not appear: CTLs, SP, DEL, non-ASCII, '\', '#', '?';
//   2. rejects malformed escapes ("%2x", a trailing "%") and the encoded characters the options
//      do not allow; decodes escapes of unreserved characters (ALPHA DIGIT - . _ ~) and
//      upper-cases the hex of every other escape;
//   3. percent-encodes the visible characters RFC 3986 does not allow raw in a path
//      (" < > ^ ` { | }), the way Go's URL.EscapedPath (hence Traefik) forwards them;
//   4. with sanitize_path, removes dot segments and merges slashes; climbing above the root
//      ("/../etc") is rejected.
// The result is idempotent: normalize_path(out) yields out again with the same options.
// `raw` must start with '/' (or be exactly "*", returned unchanged, for `OPTIONS *`).
// `out` is overwritten (its capacity reused) and must not alias `raw`; on failure its content
// is unspecified.
// Returns an empty view on success; otherwise a static description of why the path is rejected
// (always answered with 400), valid for the life of the program.
std::string_view normalize_path(std::string_view raw, const PathOptions& options, std::string& out);

} // namespace turnpike::http
