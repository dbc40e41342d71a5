// The explicit list of middleware types (conventions.md item 2): one line per type, greppable, and
// safe from the linker dropping unreferenced objects. Keep it sorted by type key.

#include "common/strings.h"
#include "middleware/add_prefix.h"
#include "middleware/api_key.h"
#include "middleware/basic_auth.h"
#include "middleware/buffering.h"
#include "middleware/chain.h"
#include "middleware/circuit_breaker.h"
#include "middleware/compress.h"
#include "middleware/content_type.h"
#include "middleware/digest_auth.h"
#include "middleware/distributed_rate_limit.h"
#include "middleware/encoded_characters.h"
#include "middleware/errors.h"
#include "middleware/forward_auth.h"
#include "middleware/grpc_web.h"
#include "middleware/header_modifier.h"
#include "middleware/headers.h"
#include "middleware/in_flight_req.h"
#include "middleware/ip_allow_list.h"
#include "middleware/jwt.h"
#include "middleware/middleware.h"
#include "middleware/oauth_introspection.h"
#include "middleware/pass_tls_client_cert.h"
#include "middleware/rate_limit.h"
#include "middleware/redirect_regex.h"
#include "middleware/redirect_scheme.h"
#include "middleware/replace_path.h"
#include "middleware/replace_path_regex.h"
#include "middleware/retry.h"
#include "middleware/strip_prefix.h"
#include "middleware/strip_prefix_regex.h"

namespace turnpike::middleware {
namespace {

constexpr Registration kRegistry[] = {
    {"addPrefix", &build_add_prefix},
    {"apiKey", &build_api_key},
    {"basicAuth", &build_basic_auth},
    {"buffering", &build_buffering},
    {"chain", &build_chain},
    {"circuitBreaker", &build_circuit_breaker},
    {"compress", &build_compress},
    {"contentType", &build_content_type},
    {"digestAuth", &build_digest_auth},
    {"distributedRateLimit", &build_distributed_rate_limit},
    {"encodedCharacters", &build_encoded_characters},
    {"errors", &build_errors},
    {"forwardAuth", &build_forward_auth},
    {"grpcWeb", &build_grpc_web},
    {"headers", &build_headers},
    {"inFlightReq", &build_in_flight_req},
    {"ipAllowList", &build_ip_allow_list},
    {"ipWhiteList", &build_ip_allow_list},  // deprecated alias of ipAllowList
    {"jwt", &build_jwt},
    {"oAuthIntrospection", &build_oauth_introspection},
    {"passTLSClientCert", &build_pass_tls_client_cert},
    {"rateLimit", &build_rate_limit},
    {"redirectRegex", &build_redirect_regex},
    {"redirectScheme", &build_redirect_scheme},
    {"replacePath", &build_replace_path},
    {"replacePathRegex", &build_replace_path_regex},
    {"requestHeaderModifier", &build_request_header_modifier},
    {"responseHeaderModifier", &build_response_header_modifier},
    {"retry", &build_retry},
    {"stripPrefix", &build_strip_prefix},
    {"stripPrefixRegex", &build_strip_prefix_regex},
};

}  // namespace

std::span<const Registration> registry() { return kRegistry; }

const Registration* find(std::string_view type) {
  for (const auto& r : kRegistry)
    if (iequals(r.type, type)) return &r;
  return nullptr;
}

}  // namespace turnpike::middleware
