#pragma once
// From Gateway API objects (gateway.networking.k8s.io/v1) to a dynamic configuration, with the
// rules of Traefik's kubernetesGateway provider (objects named `@kubernetesgateway`):
//   - GatewayClass: only classes whose spec.controllerName is `traefik.io/gateway-controller`
//     are ours; a Gateway of another class is ignored;
//   - Gateway listeners: `port` picks the entrypoint listening on that port (Traefik matches by
//     port, whatever the entrypoint's name); protocol HTTP or HTTPS (the routes of an HTTPS
//     listener are TLS routers; tls.certificateRefs name Secrets of the Gateway's namespace whose
//     certificates are served); `hostname` restricts the routes it accepts (exact or `*.`
//     wildcard); allowedRoutes.namespaces.from Same (default) / All / Selector (the namespace's
//     labels, matchLabels and matchExpressions);
//   - HTTPRoute: attaches to the listeners its parentRefs name (sectionName, port) that allow it;
//     one router per rule match per listener, named
//     <ns>-<route>-<gateway>-<entrypoint>-<rule index>-<hash of the rule>, whose rule and priority
//     are Traefik's (Exact path +100000, PathPrefix +10000 + 100 per character, method +1000,
//     +100 per header, +10 per query parameter, plus the longest hostname, plus the rule count
//     minus the rule's index); backendRefs become a weighted service
//     (<route key>-wrr) over one load balancer per Service and port (<ns>-<svc>-<port>, servers
//     from EndpointSlices); filters become middlewares: RequestHeaderModifier and
//     ResponseHeaderModifier (headers), RequestRedirect (redirectRegex), URLRewrite (replacePath,
//     replacePathRegex, Host header), ExtensionRef to a traefik.io Middleware
//     (<ns>-<name>@kubernetescrd); RequestMirror wraps the rule's service in a mirroring one;
//   - GRPCRoute: as HTTPRoute, with Traefik's gRPC method/header rules and h2c backends;
//   - BackendTLSPolicy: the backendRefs to the Service (port) it targets use https:// servers
//     through a serversTransport <ns>-<policy> (serverName = validation.hostname, rootCAs = the
//     ca.crt of its caCertificateRefs ConfigMaps, or the system's roots).
// A backendRef or certificateRef to another namespace needs a ReferenceGrant there that allows
// it (from HTTPRoute / Gateway of the referring namespace, to Service / Secret, all or by name).
// A backendRef that does not resolve (no such Service or port, another kind, another namespace
// without a grant, no ready endpoints) keeps the route served: its share of the rule's traffic (its
// weight) is answered 500 by `invalid-backend@internal` (kInvalidBackendService), as the Gateway
// API requires; so is a rule without a backendRef of weight > 0 (a rule whose filter answers
// itself, RequestRedirect, never reaches it). The route's ResolvedRefs condition says why and the
// log names the backendRef. An HTTPRoute whose filter or parent is invalid is dropped as a whole
// and reported as "httproute <ns>/<name>: ..."; a Gateway listener that cannot be served is
// reported as "gateway <ns>/<name>: listener <l>: ..." and only that listener is left out. The
// Gateway API status of our Gateways (conditions, listeners' attachedRoutes) and of the HTTPRoutes
// that name them (status.parents: Accepted, ResolvedRefs) is returned in BuiltConfig::status_writes
// for the objects whose status changed (transition times aside). Pure (reads the clock for
// transition times); any thread.

#include <string>
#include <vector>

#include "config/static_config.h"
#include "provider/kubernetes/ingress.h"

namespace turnpike::provider::kubernetes {

// The internal services that answer for backendRefs that do not resolve: 500 (HTTPRoute), gRPC
// status UNAVAILABLE (GRPCRoute).
inline constexpr std::string_view kInvalidBackendService = "invalid-backend@internal";
inline constexpr std::string_view kInvalidGrpcBackendService = "invalid-grpc-backend@internal";

struct GatewayInputs {
  ObjectMap gateway_classes; // cluster-scoped: by name
  ObjectMap gateways;
  ObjectMap http_routes;
  ObjectMap namespaces; // cluster-scoped: by name (allowedRoutes Selector)
  ObjectMap services;
  ObjectMap endpoint_slices;
  ObjectMap secrets;
  ObjectMap reference_grants; // gateway.networking.k8s.io/v1beta1 ReferenceGrant
  ObjectMap grpc_routes;
  ObjectMap config_maps;          // BackendTLSPolicy CA certificates (key ca.crt)
  ObjectMap backend_tls_policies; // gateway.networking.k8s.io/v1 BackendTLSPolicy
};

// A TCP entrypoint of the static configuration and the port it listens on.
struct EntryPointPort {
  std::string name;
  int port = 0;
};

BuiltConfig build_gateway_configuration(const GatewayInputs& in,
                                        const config::KubernetesProviderConfig& options,
                                        const std::vector<EntryPointPort>& entry_points);

// Go's regexp.QuoteMeta: `s` with every regular-expression metacharacter escaped.
std::string quote_meta(std::string_view s);

} // namespace turnpike::provider::kubernetes
