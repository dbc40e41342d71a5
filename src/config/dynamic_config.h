#pragma once
// Dynamic ("routing") configuration model: Traefik v3's `http` and `tls` sections decoded into
// structs (the `tcp` and `udp` sections: tcp_udp_config.h). Produced on the control
// thread from each provider's tree (decode_dynamic), merged across providers (merge), then handed
// to the snapshot builder. Plain values: no threads, no shared state.
//
// Names are qualified `name@provider`; references to other objects (router.service,
// router.middlewares, weighted/mirroring/failover children, loadBalancer.serversTransport) are
// qualified with the referencing provider unless they already name one (`auth@docker`,
// `api@internal`).
//
// Errors are per object, as Traefik's runtime status: a router, service, middleware or servers
// transport that does not decode is kept with its `errors` (the builder disables it and what
// depends on it) while the others decode normally. Messages are "file:line: key.path: problem",
// e.g. `dyn.yml:12: http.routers.api@file.priority: invalid integer "high"`.

#include <chrono>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/duration.h"
#include "config/tcp_udp_config.h"
#include "config/tree/decoder.h"
#include "config/tree/node.h"
#include "tls/options.h"

namespace turnpike::config {

// ---- servers transports (also the static `serversTransport`, see static_config.h) ------------

// Identity of one decoding of an object (decode_dynamic stamps each router, service, middleware
// and serversTransport with a number unique in the process; 0: not decoded, e.g. built by hand in
// a test). An object incremental decoding did not touch keeps its revision, so the snapshot
// builder reuses what it built from it (config/builder.h, BuildCache).
using Revision = uint64_t;

struct ForwardingTimeouts {
  Duration dial_timeout = std::chrono::seconds(30);
  Duration response_header_timeout = Duration::zero(); // 0 = none
  Duration idle_conn_timeout = std::chrono::seconds(90);
  Duration read_idle_timeout = Duration::zero();    // HTTP/2 health ping interval; dynamic only
  Duration ping_timeout = std::chrono::seconds(15); // dynamic only
};

struct ServersTransport {
  std::string name; // qualified ("mytransport@file"); "default@internal" for the static one
  Location location;
  std::string server_name;
  bool insecure_skip_verify = false;
  std::vector<std::string> root_cas;
  std::vector<CertificateFiles> certificates; // client certificates (mTLS to upstreams)
  int max_idle_conns_per_host = 200;
  ForwardingTimeouts forwarding_timeouts;
  bool disable_http2 = false;
  std::string peer_cert_uri;
  std::vector<std::string> cipher_suites;
  std::string min_version;
  std::string max_version;
  std::optional<Node> spiffe; // raw, not supported yet
  std::vector<std::string> errors;
  Revision revision = 0;
};

// ---- routers ---------------------------------------------------------------------------------

// A router's `tls` section. Present (even empty) = the router serves TLS connections.
struct RouterTls {
  std::string options;       // as written; "" = default (qualified by the builder)
  std::string cert_resolver; // recorded for certificate resolvers (ACME)
  std::vector<TlsDomain> domains;
};

struct HttpRouter {
  std::string name;     // qualified
  std::string provider; // "file"
  Location location;
  std::vector<std::string> entry_points; // empty = default entry points
  std::string rule;
  std::string rule_syntax;              // "" (core.defaultRuleSyntax), "v2" or "v3"
  int64_t priority = 0;                 // 0 = unset: the rule's length
  std::vector<std::string> middlewares; // qualified, in order
  std::string service;                  // qualified
  std::optional<RouterTls> tls;         // present (even empty) = TLS router
  std::optional<Node> observability;    // raw
  std::vector<std::string> errors;
  Revision revision = 0;
};

// Highest priority a user router may have; above it is reserved for @internal routers.
constexpr int64_t kMaxUserPriority = std::numeric_limits<int64_t>::max() - 1000;

// ---- services --------------------------------------------------------------------------------

struct Server {
  std::string url;
  int weight = 1;
  bool preserve_path = false;
  Location location;
};

struct LoadBalancerConfig {
  std::vector<Server> servers;
  std::string strategy = "wrr"; // wrr | p2c | hrw | leasttime
  bool pass_host_header = true;
  std::string servers_transport; // qualified; empty = default@internal
  // Raw until the service module decodes them.
  std::optional<Node> health_check;
  std::optional<Node> passive_health_check;
  std::optional<Node> sticky;
  std::optional<Node> response_forwarding;
  std::optional<Node> retry; // Turnpike extension: retries to another server (docs/services.md)
};

struct WeightedChild {
  std::string name; // qualified
  int weight = 1;
};

// `weighted` and `highestRandomWeight`.
struct WeightedConfig {
  std::vector<WeightedChild> services;
  std::optional<Node> sticky;
  std::optional<Node> health_check;
};

struct Mirror {
  std::string name; // qualified
  int percent = 0;
};

struct MirroringConfig {
  std::string service; // qualified
  bool mirror_body = true;
  int64_t max_body_size = -1; // -1 = unlimited
  std::vector<Mirror> mirrors;
  std::optional<Node> health_check;
};

struct FailoverConfig {
  std::string service;  // qualified
  std::string fallback; // qualified
  std::optional<Node> health_check;
  std::optional<Node> errors; // raw (3.7+ status-based failover)
};

enum class ServiceKind {
  kNone,
  kLoadBalancer,
  kWeighted,
  kMirroring,
  kFailover,
  kHighestRandomWeight
};

struct HttpService {
  std::string name; // qualified
  std::string provider;
  Location location;
  ServiceKind kind = ServiceKind::kNone; // kNone only together with errors
  std::optional<LoadBalancerConfig> load_balancer;
  std::optional<WeightedConfig> weighted; // kWeighted and kHighestRandomWeight
  std::optional<MirroringConfig> mirroring;
  std::optional<FailoverConfig> failover;
  std::vector<std::string> errors;
  Revision revision = 0;
};

// ---- middlewares -----------------------------------------------------------------------------

struct HttpMiddleware {
  std::string name; // qualified
  std::string provider;
  Location location;
  std::string type; // the one type key as written ("stripPrefix"); empty only with errors
  Node options;     // the tree under the type key, decoded by the middleware's factory
  std::vector<std::string> errors;
  Revision revision = 0;
};

// ---- tls -------------------------------------------------------------------------------------
//
// Names: `tls.options.default` and `tls.stores.default` keep the name "default" (whichever
// provider defines them, Traefik's rule); other options and stores are `name@provider`.

struct TlsCertificate { // tls.certificates[i]
  std::string provider;
  Location location;
  std::string path; // "tls.certificates[0]" within its provider's file
  CertificateFiles files;
  std::vector<std::string> stores; // empty = ["default"]
  std::vector<std::string> errors;
};

struct TlsOptions { // tls.options.<name>
  std::string name; // "default" or qualified
  std::string provider;
  Location location;
  tls::OptionsSpec spec; // values as written; validated when the options are compiled
  std::vector<std::string> errors;
};

struct TlsStore { // tls.stores.<name>
  std::string name;
  std::string provider;
  Location location;
  std::optional<CertificateFiles> default_certificate;
  struct GeneratedCert {
    std::string resolver;
    TlsDomain domain;
  };
  std::optional<GeneratedCert> default_generated_cert; // recorded for ACME
  std::vector<std::string> errors;
};

struct TlsConfig {
  std::vector<TlsCertificate> certificates; // all providers, in provider then file order
  std::map<std::string, TlsOptions> options;
  std::map<std::string, TlsStore> stores;
};

// ---- the whole configuration -----------------------------------------------------------------

struct HttpConfig {
  std::map<std::string, HttpRouter> routers; // by qualified name
  std::map<std::string, HttpService> services;
  std::map<std::string, HttpMiddleware> middlewares;
  std::map<std::string, ServersTransport> servers_transports;
};

struct DynamicConfig {
  HttpConfig http;
  TcpConfig tcp;
  UdpConfig udp;
  TlsConfig tls;
  // Problems that belong to no single object: a section of the wrong type, an unknown top-level
  // key, a name defined twice across merged parts. What did decode is still present; a provider
  // should treat a tree with such errors like one that does not parse and keep its last good
  // configuration (the file provider does).
  std::vector<std::string> errors;
};

// What changed between two decodings of the same configuration, when known exactly (the
// incremental decoding, incremental_decode.h): lets the snapshot builder patch its last snapshot
// instead of walking every object (config/builder.h).
struct ChangeSet {
  // False when anything but HTTP routers was added, changed or removed (then the builder walks
  // everything).
  bool only_http_routers = true;
  std::vector<std::string> http_routers; // qualified names added, changed or removed

  void add(const ChangeSet& other) {
    only_http_routers = only_http_routers && other.only_http_routers;
    http_routers.insert(http_routers.end(), other.http_routers.begin(), other.http_routers.end());
  }
};

// "name" + "file" -> "name@file"; a name that already has '@' is returned as is; "" stays "".
std::string qualify(std::string_view name, std::string_view provider);

// The key of a TLS option or store defined by `provider`: "default" stays "default", other names
// become "name@provider".
std::string qualify_tls_name(std::string_view name, std::string_view provider);

// Decodes one provider's full tree. Never fails as a whole: see `errors` at each level.
DynamicConfig decode_dynamic(const Node& root, std::string_view provider);

// Problems that make a provider's whole configuration unusable, as Traefik's decoding of a file:
// structural errors (a section of the wrong type, unknown keys, bad values for typed fields) and
// middlewares of an unknown type. Semantic problems (a bad rule, a missing service, an invalid
// middleware option value) only disable the objects concerned, in the builder. Providers that
// build trees from many independent objects (labels, KV keys) check each object with it and drop
// the ones that fail instead of losing the whole configuration (provider/validate.h).
std::vector<std::string> rejecting_errors(const DynamicConfig& d);

// Unions several providers' configurations. Qualified names from different providers cannot
// collide; a name present twice (same provider given twice, or `tls.options.default` /
// `tls.stores.default` from two providers) keeps the first and records an error.
DynamicConfig merge(std::vector<DynamicConfig> parts);

// decode_dynamic for each (provider -> tree) then merge: what the aggregator's rebuild callback
// hands the snapshot builder.
DynamicConfig decode_providers(const std::map<std::string, Node>& trees);

// Decodes a servers transport's options from `dec` into `out`. `static_defaults` restricts the
// keys to the static `serversTransport` ones (Traefik's static schema). Shared by both decoders.
void decode_servers_transport(Decoder& dec, ServersTransport& out, bool static_defaults);

// certFile + keyFile, both required (serversTransport certificates, tls.certificates, stores).
void decode_certificate_files(Decoder& dec, CertificateFiles& out);

// A certificate resolver's `domains` list ([{main, sans}]); shared with the static entrypoint
// `http.tls.domains`.
void decode_tls_domains(Decoder& dec, std::string_view key, std::vector<TlsDomain>& out);

} // namespace turnpike::config
