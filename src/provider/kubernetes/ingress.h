#pragma once
// From Kubernetes objects to a dynamic configuration, with the rules of Traefik's
// kubernetesIngress provider (networking.k8s.io/v1), so existing Ingresses and their
// `traefik.ingress.kubernetes.io/*` annotations work unchanged:
//   - Ingress class: spec.ingressClassName or the kubernetes.io/ingress.class annotation must be
//     `ingressClass` when that option is set; otherwise an Ingress without class is taken, and
//     one whose IngressClass has controller `traefik.io/ingress-controller`;
//   - one router per rule host + path, named <namespace>-<ingress>-<host>-<path> (normalized):
//     Host(`h`) (a `*.` wildcard: HostRegexp), PathPrefix(`p`) for Prefix and
//     ImplementationSpecific (or `router.pathmatcher`), Path(`p`) for Exact;
//     spec.defaultBackend becomes a catch-all router of the lowest priority;
//   - one service per backend service and port, <namespace>-<service>-<port>, whose servers are
//     the ready endpoints of the Service's EndpointSlices (https when the port is 443 or named
//     https*, or `service.serversscheme`); ExternalName Services only with
//     allowExternalNameServices;
//   - TLS: spec.tls secrets (kubernetes.io/tls) become tls.certificates, and the Ingress's routers
//     TLS routers;
//   - router annotations: router.entrypoints, router.middlewares, router.priority, router.tls,
//     router.tls.certresolver, router.tls.options, router.pathmatcher, router.rulesyntax;
//     service annotations: service.passhostheader, service.serversscheme,
//     service.serverstransport, service.sticky.cookie[.name|.secure|.httponly|.samesite|
//     .maxage|.path].
// An Ingress path whose Service, port or secret is missing is left out and reported with the
// Ingress's name; the rest serves. Pure; any thread.

#include <string>
#include <vector>

#include "config/static_config.h"
#include "config/tree/node.h"
#include "provider/kubernetes/kube_client.h"

namespace turnpike::provider::kubernetes {

struct IngressInputs {
  ObjectMap ingresses;
  ObjectMap ingress_classes;
  ObjectMap services;
  ObjectMap endpoint_slices;
  ObjectMap secrets;
};

struct BuiltConfig {
  config::Node tree;
  std::vector<std::string> errors;
  // Status subresource updates (kubernetesGateway): the API path and the object with its new
  // status; only objects whose status changed.
  struct StatusWrite {
    std::string path;
    nlohmann::json object;
  };
  std::vector<StatusWrite> status_writes;
};

BuiltConfig build_ingress_configuration(const IngressInputs& in,
                                        const config::KubernetesProviderConfig& options);

// Shared with the CRD provider: the servers (URLs or host:port addresses) of `port` of Service
// `namespace/name` from its EndpointSlices; errors when the Service or port does not exist.
struct ServicePort {
  std::string port_name;
  int port = 0;                       // the Service's port
  std::string scheme;                 // http | https
  std::string app_protocol;           // the port's appProtocol ("kubernetes.io/h2c", "https")
  std::vector<std::string> addresses; // ip:targetPort of ready endpoints
  bool external_name = false;
};
// `native_lb` (Traefik's nativeLB): the one server is the Service's ClusterIP and port, letting
// Kubernetes balance, instead of the endpoints; an error for a headless Service.
Result<ServicePort> resolve_service_port(const ObjectMap& services, const ObjectMap& slices,
                                         const std::string& ns, const std::string& name,
                                         const nlohmann::json& port, bool allow_external_name,
                                         bool native_lb = false);

} // namespace turnpike::provider::kubernetes
