#pragma once
// A service that answers every request itself with one fixed status, never reaching an upstream.
// The kubernetesGateway provider sends the share of a rule's traffic that belongs to a backendRef
// it cannot resolve to one (`invalid-backend@internal`, 500), as the Gateway API requires and
// Traefik does.
//
// Immutable; shared by every worker.

#include <string>

#include "service/load_balancer.h"

namespace turnpike::service {

class StatusService final : public Service {
public:
  StatusService(int status, std::string body);
  http::Task<void> handle(http::Exchange& ex) const override;

private:
  int status_;
  std::string body_;
};

} // namespace turnpike::service
