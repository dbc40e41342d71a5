#pragma once
// Responses a middleware answers itself (401, 403, redirects, CORS preflight...), plus the small
// HTTP vocabulary checks the decoders share (status codes, header names and values).
//
// Threading: pure functions; the coroutines run on the exchange's worker. They never throw: a
// failure to write the reply marks the client connection to be closed (ex.close_connection), which
// is all that can be done once the client is unreachable.

#include <string>
#include <string_view>

#include "http/exchange.h"

namespace turnpike::middleware {

// Go's http.StatusText(code), which Traefik uses as the body of its local replies; empty for a code
// Go does not know (the test Traefik applies to `rejectStatusCode`).
std::string_view status_text(int status);

// Writes a complete reply through ex.writer (see http::send_response). On failure sets
// ex.close_connection.
http::Task<void> reply(http::Exchange& ex, int status, std::string_view body,
                       const http::HeaderMap* headers = nullptr);

// 401 "401 Unauthorized\n" (text/plain) with `WWW-Authenticate: <challenge>`, as Traefik's
// basicAuth and digestAuth answer.
http::Task<void> reply_unauthorized(http::Exchange& ex, std::string_view challenge);

// Traefik's redirect status: 302 (301 when permanent) for GET and HEAD, 307 (308 when permanent)
// for any other method so that the client repeats the method and body.
int redirect_status(std::string_view method, bool permanent);

// Answers with a redirect to `location` and the status text as body, like Traefik's redirect
// middlewares. Bytes that may not appear in a URI reference are percent-encoded first (see
// encode_location), so nothing from the request can break the Location field.
http::Task<void> send_redirect(http::Exchange& ex, std::string_view location, bool permanent);

// Percent-encodes what may not appear raw in a URI reference (controls, space, non-ASCII, '"', '<',
// '>', '\', '^', '`', '{', '|', '}'), as Go's URL.String() does for a parsed Location; '%' and the
// URI delimiters are kept.
std::string encode_location(std::string_view location);

// Go's url.QueryEscape (also application/x-www-form-urlencoded): unreserved bytes kept, space as
// '+', everything else %XX.
std::string query_escape(std::string_view s);

// RFC 9110 field-name (token) check.
bool is_header_name(std::string_view name);
// A field value we may put on the wire: no CR, LF or NUL (other controls except HTAB rejected too).
bool is_header_value(std::string_view value);

}  // namespace turnpike::middleware
