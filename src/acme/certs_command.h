#pragma once
// `turnpike certs`: what the certificate resolvers have stored (names, expiry, next renewal,
// orders in progress, backoff), read from their storage without changing it.

#include <string>

#include "config/static_config.h"

namespace turnpike::acme {

// Writes the report to `out`; returns the process exit code (1 when a storage is unreadable).
int print_certificates(const config::StaticConfig& cfg, std::string& out);

}  // namespace turnpike::acme
