#pragma once
// A service that answers every request itself with one fixed status (and header fields), never
// reaching an upstream. The kubernetesGateway provider sends the share of a rule's traffic that
// belongs to a backendRef it cannot resolve to one, as the Gateway API requires and Traefik does:
// `invalid-backend@internal` (500) for HTTPRoutes, `invalid-grpc-backend@internal` (a gRPC
// trailers-only UNAVAILABLE: 200, grpc-status 14) for GRPCRoutes.
//
// Immutable; shared by every worker.

#include <string>

#include "service/load_balancer.h"

namespace turnpike::service {

class StatusService final : public Service {
public:
  StatusService(int status, std::string body, http::HeaderMap headers = {});
  http::Task<void> handle(http::Exchange& ex) const override;

private:
  int status_;
  std::string body_;
  http::HeaderMap headers_; // empty: text/plain
};

} // namespace turnpike::service
