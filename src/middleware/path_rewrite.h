#pragma once
// Finishing a path that a middleware rewrote (addPrefix, stripPrefix, replacePath, and their regex
// forms). The entrypoint normalised the request path once (security.md section 3: one view
// everywhere); a rewrite must neither put back what normalisation removed (dot segments, which the
// upstream would resolve into another path than the one routed and checked) nor put invalid bytes on
// the request line. Pure functions; thread-safe.

#include <string>
#include <string_view>

namespace turnpike::middleware {

enum class PathProblem {
  kNone,
  kInvalidEscape,  // a '%' not followed by two hex digits
  kDotSegment,     // a "." or ".." segment (also spelled %2E)
};

// Puts `text` (a path or a piece of one, in encoded form like Go's RawPath) into the entrypoint's
// normalised form: percent-encodes every byte that may not appear raw in a path (space, controls,
// non-ASCII, '?', '#', '"', '<', '>', '\', '^', '`', '{', '|', '}'), decodes %XX triplets of
// unreserved characters and upper-cases the others. Returns kInvalidEscape for a '%' that starts
// no valid triplet (then `text` must not be used).
PathProblem normalise_path_chars(std::string& text);

// Makes a rewritten `path` forwardable: adds the leading '/' (an empty path becomes "/"), applies
// normalise_path_chars, then rejects dot segments. On a problem `path` must not be used.
PathProblem finish_rewritten_path(std::string& path);

// True when a segment of `path` is "." or "..", in any spelling (".", "%2e", "%2E.", ...).
bool has_dot_segment(std::string_view path);

// "/x" for "x", "" for "" (Traefik's ensureLeadingSlash).
std::string ensure_leading_slash(std::string_view path);

std::string_view describe(PathProblem problem);

}  // namespace turnpike::middleware
