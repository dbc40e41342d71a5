#pragma once
// Decoding of the service options the dynamic model keeps raw (dynamic_config.h): loadBalancer
// `sticky`, `healthCheck`, `passiveHealthCheck`, `responseForwarding` and `retry`, weighted
// `sticky`, failover `errors`, into the service module's runtime options. Called by the snapshot
// builder; an invalid option disables only its service (with the message as its error). Control
// thread only.

#include <optional>
#include <string>

#include "common/result.h"
#include "config/dynamic_config.h"
#include "service/failover.h"
#include "service/health.h"
#include "service/health_check.h"
#include "service/load_balancer.h"
#include "service/sticky.h"

namespace turnpike::config {

// `path` is the key path of the node ("http.services.api@file.loadBalancer.sticky").
Result<service::StickyCookieOptions> decode_sticky(const Node& node, const std::string& path);
Result<service::ActiveHealthOptions> decode_health_check(const Node& node, const std::string& path);
Result<service::PassiveHealthOptions> decode_passive_health_check(const Node& node,
                                                                  const std::string& path);
// `responseForwarding`: checks it (flushInterval is a duration; see docs/services.md for why
// Turnpike needs no buffering interval) and returns the flush interval.
Result<Duration> decode_response_forwarding(const Node& node, const std::string& path);
Result<service::RetryOptions> decode_retry(const Node& node, const std::string& path);
// Failover `errors` (Traefik 3.7): status ranges and maxRequestBodyBytes into `out`.
Result<void> decode_failover_errors(const Node& node, const std::string& path,
                                    service::FailoverOptions& out);

}  // namespace turnpike::config
