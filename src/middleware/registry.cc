// The explicit list of middleware types (conventions.md item 2): one line per type, greppable, and
// safe from the linker dropping unreferenced objects. Keep it sorted by type key.

#include "common/strings.h"
#include "middleware/add_prefix.h"
#include "middleware/basic_auth.h"
#include "middleware/chain.h"
#include "middleware/headers.h"
#include "middleware/ip_allow_list.h"
#include "middleware/middleware.h"
#include "middleware/pass_tls_client_cert.h"
#include "middleware/redirect_regex.h"
#include "middleware/redirect_scheme.h"
#include "middleware/replace_path.h"
#include "middleware/replace_path_regex.h"
#include "middleware/strip_prefix.h"
#include "middleware/strip_prefix_regex.h"

namespace turnpike::middleware {
namespace {

constexpr Registration kRegistry[] = {
    {"addPrefix", &build_add_prefix},
    {"basicAuth", &build_basic_auth},
    {"chain", &build_chain},
    {"headers", &build_headers},
    {"ipAllowList", &build_ip_allow_list},
    {"ipWhiteList", &build_ip_allow_list},  // deprecated alias of ipAllowList
    {"passTLSClientCert", &build_pass_tls_client_cert},
    {"redirectRegex", &build_redirect_regex},
    {"redirectScheme", &build_redirect_scheme},
    {"replacePath", &build_replace_path},
    {"replacePathRegex", &build_replace_path_regex},
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
