#pragma once
// From Traefik's CRDs (traefik.io/v1alpha1) to a dynamic configuration, with the rules of
// Traefik's kubernetesCRD provider:
//   - IngressRoute: one router per route, <namespace>-<name>-<hash of match>; its services are
//     Kubernetes Services (<namespace>-<service>-<port>, servers from EndpointSlices) or
//     TraefikServices (kind: TraefikService); several services become a weighted service named
//     after the router; middlewares are <namespace>-<name> (another namespace only with
//     allowCrossNamespace; a name with '@' is another provider's); tls.secretName serves the
//     secret's certificate, tls.options names a TLSOption, tls.certResolver and tls.domains;
//   - IngressRouteTCP: TCP routers (HostSNI), services over addresses, tls.passthrough;
//   - IngressRouteUDP: UDP routers and services;
//   - Middleware / MiddlewareTCP: the spec is the middleware (same schema as the file
//     provider), named <namespace>-<name>;
//   - TraefikService: weighted and mirroring services over Services and other TraefikServices;
//   - TLSOption: tls.options (clientAuth.secretNames become the CA files' content); TLSStore:
//     `default` with its defaultCertificate secret;
//   - ServersTransport: http.serversTransports (rootCAsSecrets / certificatesSecrets from
//     secrets).
// A resource that references something missing (a Service, a secret, a middleware in another
// namespace) or does not decode is dropped and reported by kind/namespace/name; the rest serves.
// Pure; any thread.

#include <string>
#include <vector>

#include "config/static_config.h"
#include "provider/kubernetes/ingress.h"

namespace turnpike::provider::kubernetes {

struct CrdInputs {
  ObjectMap ingress_routes, ingress_route_tcps, ingress_route_udps;
  ObjectMap middlewares, middleware_tcps, traefik_services;
  ObjectMap tls_options, tls_stores, servers_transports;
  ObjectMap services, endpoint_slices, secrets;
};

BuiltConfig build_crd_configuration(const CrdInputs& in,
                                    const config::KubernetesProviderConfig& options);

// JSON (a Kubernetes object's spec) as a configuration tree.
config::Node node_from_json(const nlohmann::json& j);

} // namespace turnpike::provider::kubernetes
