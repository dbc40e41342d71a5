#pragma once
// UDP services (Traefik's `udp.services`): a service chooses the backend of a new session (the
// UDP entrypoint keeps one session per client address, see entrypoint/udp_listener.h).
//
//   loadBalancer: smooth weighted round robin over the servers' addresses, one cursor per worker;
//   weighted: picks a child service by weight, then asks it.
//
// Built on the control plane with the configuration snapshot; immutable and shared by every
// worker afterwards (per-worker cursors in WeightedRoundRobin).

#include <memory>
#include <string>
#include <vector>

#include "common/ipnet.h"
#include "common/wrr.h"

namespace turnpike::udp {

using Server = ServerAddress;

class Service {
public:
  virtual ~Service() = default;
  // The server for a new session on `worker`; nullptr when the service has none.
  virtual const Server* pick(unsigned worker) const = 0;
};

using ServicePtr = std::shared_ptr<const Service>;

class LoadBalancer final : public Service {
public:
  LoadBalancer(std::string name, std::vector<Server> servers, unsigned workers)
      : name_(std::move(name)), servers_(std::move(servers)), wrr_(weights_of(servers_), workers) {}
  const Server* pick(unsigned worker) const override {
    return wrr_.empty() ? nullptr : &servers_[wrr_.pick(worker)];
  }

private:
  std::string name_;
  std::vector<Server> servers_;
  WeightedRoundRobin wrr_;
};

class Weighted final : public Service {
public:
  struct Child {
    std::string name;
    ServicePtr service;
    int weight = 1;
  };
  Weighted(std::string name, std::vector<Child> children, unsigned workers)
      : name_(std::move(name)), children_(std::move(children)),
        wrr_(weights_of(children_), workers) {}
  const Server* pick(unsigned worker) const override {
    return wrr_.empty() ? nullptr : children_[wrr_.pick(worker)].service->pick(worker);
  }

private:
  std::string name_;
  std::vector<Child> children_;
  WeightedRoundRobin wrr_;
};

} // namespace turnpike::udp
