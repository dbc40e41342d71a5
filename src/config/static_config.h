#pragma once
// Static ("install") configuration: entry points, providers, logs, the default servers transport
// and Turnpike's core settings. Read once at start-up (a change needs a restart), on the control
// thread, before workers exist; the resulting StaticConfig is an immutable value afterwards.
//
// Sources (Traefik v3 names, case-insensitive), in this order:
//   1. a file: --configFile=FILE, else the first of turnpike.{yml,yaml,toml} then
//      traefik.{yml,yaml,toml} found in /etc/turnpike/, /etc/traefik/, $XDG_CONFIG_HOME/,
//      $HOME/.config/, ./ ;
//   2. else CLI flags (--entryPoints.web.address=:8080, bare --api for true, comma lists);
//   3. else environment variables TURNPIKE_* or TRAEFIK_* (TURNPIKE_ENTRYPOINTS_WEB_ADDRESS=:8080).
// Like Traefik only one source is used, with one Turnpike exception: CLI flags given with a file
// override the file's values (`--configFile=x.yml --core.workers=1`). Environment variables are
// ignored (with a warning) when a file or flags are used. Map keys that come from the environment
// (entry point names, ...) are lower case, as in Traefik: TURNPIKE_ENTRYPOINTS_WEB_ADDRESS defines
// the entry point "web".
//
// Traefik options Turnpike does not implement yet (api, ping, metrics, tracing, other providers,
// the tailscale resolver, ...) are accepted and reported as warnings; unknown
// keys and bad values are errors naming the file, line and key path.

#include <chrono>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/duration.h"
#include "common/result.h"
#include "config/dynamic_config.h"
#include "config/tree/node.h"

namespace turnpike::config {

enum class Protocol { kTcp, kUdp };

// `[host]:port[/tcp|/udp]`: "" host = every interface; IPv6 literal without its brackets.
struct ListenAddress {
  std::string host;
  uint16_t port = 0; // 0 = chosen by the kernel (tests)
  Protocol protocol = Protocol::kTcp;
};
Result<ListenAddress> parse_listen_address(std::string_view text);

struct RespondingTimeouts {
  Duration read_timeout = std::chrono::seconds(60);  // whole request incl. body; 0 = none
  Duration write_timeout = Duration::zero();         // end of request headers -> end of response
  Duration idle_timeout = std::chrono::seconds(180); // keep-alive idle
};

struct LifeCycle {
  Duration request_accept_grace_timeout = Duration::zero(); // keep accepting after SIGTERM
  Duration grace_timeout = std::chrono::seconds(10);        // `graceTimeOut`: drain before stop
};

struct EntryPointTransport {
  RespondingTimeouts responding_timeouts;
  LifeCycle life_cycle;
  int64_t keep_alive_max_requests = 0; // 0 = unlimited
  Duration keep_alive_max_time = Duration::zero();
};

struct ForwardedHeaders {
  std::vector<std::string> trusted_ips; // validated IPs/CIDRs
  bool insecure = false;                // trust X-Forwarded-* from everyone
  std::vector<std::string> connection;  // Connection-listed headers allowed through
  bool not_append_x_forwarded_for = false;
  bool add_x_forwarded_scheme_headers = false;
};

struct ProxyProtocol {
  std::vector<std::string> trusted_ips;
  bool insecure = false;
};

struct RedirectEntryPoint {
  std::string to; // entry point name or ":port"
  std::string scheme = "https";
  bool permanent = true;
  int64_t priority = std::numeric_limits<int64_t>::max() - 1;
};

struct EntryPointTls {
  std::string options;
  std::string cert_resolver;
  std::vector<TlsDomain> domains;
};

// Which percent-encoded characters a request path may contain. Turnpike's default is all false
// (reject), stricter than Traefik's (all true): encoded separators are how path-based access
// rules get bypassed. Set an option to true to accept that character as Traefik does.
struct EncodedCharacters {
  bool allow_encoded_slash = false;          // %2F
  bool allow_encoded_back_slash = false;     // %5C
  bool allow_encoded_null_character = false; // %00
  bool allow_encoded_semicolon = false;      // %3B
  bool allow_encoded_percent = false;        // %25
  bool allow_encoded_question_mark = false;  // %3F
  bool allow_encoded_hash = false;           // %23
};

enum class UnderscoreHeadersStrategy { kKeep, kDelete, kReject };

struct EntryPointHttp {
  std::optional<RedirectEntryPoint> redirect; // http.redirections.entryPoint
  std::vector<std::string> middlewares;       // prepended to every router (qualified names)
  std::optional<EntryPointTls> tls;           // present (even empty) = TLS on every router
  int64_t max_header_bytes = 1048576;
  bool sanitize_path = true;
  EncodedCharacters encoded_characters;
  bool encode_query_semicolons = false;
  UnderscoreHeadersStrategy underscore_headers_strategy = UnderscoreHeadersStrategy::kKeep;
};

struct EntryPointHttp2 {
  int64_t max_concurrent_streams = 250;
  int64_t max_decoder_header_table_size = 4096;
  int64_t max_encoder_header_table_size = 4096;
};

struct EntryPoint {
  std::string name;
  std::string address; // as written
  ListenAddress listen;
  bool as_default = false;
  bool reuse_port = false;
  EntryPointTransport transport;
  ForwardedHeaders forwarded_headers;
  std::optional<ProxyProtocol> proxy_protocol; // present = expect PROXY protocol headers
  EntryPointHttp http;
  EntryPointHttp2 http2;
  Duration udp_timeout = std::chrono::seconds(3); // udp.timeout
};

struct FileProviderConfig {
  std::string filename;
  std::string directory; // wins over filename when both are set (Traefik), with a warning
  bool watch = true;     // Traefik's default
  bool debug_log_generated_template = false; // accepted; templates are not supported
};

// Client TLS towards a provider's source (Traefik's `tls` block of the http, docker, KV and
// Kubernetes providers) and towards distributedAcme's store: `ca` (PEM file) replaces the system roots, `cert`/`key` are the client
// certificate, `insecureSkipVerify` disables verification.
struct ProviderClientTls {
  std::string ca;
  std::string cert;
  std::string key;
  bool insecure_skip_verify = false;
};

// providers.http: polls `endpoint` for a JSON or YAML dynamic configuration.
struct HttpProviderConfig {
  std::string endpoint;
  Duration poll_interval = std::chrono::seconds(5);
  Duration poll_timeout = std::chrono::seconds(5);
  std::map<std::string, std::string> headers;
  std::optional<ProviderClientTls> tls;
  int64_t max_response_body_size = -1; // bytes; -1 = no limit (Traefik's default)
};

// providers.rest: PUT /api/providers/rest. With `insecure` the handler is served on the `traefik`
// entrypoint (created on :8080 when absent, as Traefik does).
struct RestProviderConfig {
  bool insecure = false;
};

// providers.docker: containers and their labels from the Docker Engine API (dockerd or
// `podman system service`).
struct DockerProviderConfig {
  std::string endpoint = "unix:///var/run/docker.sock"; // unix://path, tcp://host:port, http(s)://
  bool watch = true;
  bool exposed_by_default = true;
  std::string network;
  bool use_bind_port_ip = false;
  std::string default_rule = "Host(`{{ normalize .Name }}`)";
  std::string constraints;
  bool allow_empty_services = false;
  Duration http_client_timeout = Duration::zero(); // 0 = none (the events stream is long-lived)
  std::optional<ProviderClientTls> tls;
  // Turnpike extension: the label namespace ("traefik" reads traefik.http.routers...), so that
  // two gateways can share one Docker host.
  std::string label_prefix = "traefik";
};

// providers.kubernetesIngress, providers.kubernetesCRD and providers.kubernetesGateway (their
// common options; each ignores the ones that are not its own).
struct KubernetesProviderConfig {
  std::string endpoint;             // empty: in-cluster, else $KUBECONFIG
  std::string token;                // bearer token (or the service account's)
  std::string cert_auth_file_path;  // CA of the API server
  std::vector<std::string> namespaces;  // empty = all
  std::string label_selector;
  std::string ingress_class;
  bool allow_cross_namespace = false;          // CRD
  bool allow_external_name_services = false;
  bool allow_empty_services = false;
  bool native_lb_by_default = false;
  Duration throttle_duration = Duration::zero();  // accepted; the aggregator throttles
  // kubernetesGateway.statusAddress: what Gateways report in status.addresses (the first set of
  // ip, hostname, service{name, namespace}: that Service's status.loadBalancer.ingress).
  struct StatusAddress {
    std::string ip;
    std::string hostname;
    std::string service_name;
    std::string service_namespace;
  };
  std::optional<StatusAddress> status_address;
};

// providers.etcd, providers.redis and providers.zooKeeper (Traefik's KV providers): the dynamic
// configuration as keys under `rootKey` (`traefik/http/routers/<r>/rule`). Each store ignores
// the options that are not its own (`db` is Redis's; ZooKeeper has no TLS).
struct KvProviderConfig {
  std::vector<std::string> endpoints;
  std::string root_key = "traefik";
  std::string username;
  std::string password;
  int db = 0; // redis
  std::optional<ProviderClientTls> tls;
};

struct ProvidersConfig {
  // Traefik's default is 2 s. Ours is 100 ms: the first change after a quiet period is applied at
  // once anyway (see provider/aggregator.h), so the throttle only bounds the rebuild rate during
  // a burst of changes; 100 ms keeps a burst's last change live within ~100 ms while a 10,000
  // router configuration is still rebuilt at most 10 times a second.
  Duration providers_throttle_duration = std::chrono::milliseconds(100);
  std::optional<FileProviderConfig> file; // present = file provider on
  std::optional<HttpProviderConfig> http;
  std::optional<RestProviderConfig> rest;
  std::optional<DockerProviderConfig> docker;
  std::optional<KubernetesProviderConfig> kubernetes_ingress;
  std::optional<KubernetesProviderConfig> kubernetes_crd;
  std::optional<KubernetesProviderConfig> kubernetes_gateway;
  std::optional<KvProviderConfig> etcd;
  std::optional<KvProviderConfig> redis;
  std::optional<KvProviderConfig> zookeeper;
};

struct LogConfig {
  std::string level = "ERROR";   // upper case: TRACE|DEBUG|INFO|WARN|ERROR|FATAL|PANIC
  std::string format = "common"; // common|json
  std::string file_path;         // empty = stderr
  bool no_color = false;
};

enum class FieldMode { kKeep, kDrop, kRedact };

struct AccessLogFields {
  FieldMode default_mode = FieldMode::kKeep;
  std::map<std::string, FieldMode> names; // Traefik field name -> mode
  FieldMode headers_default_mode = FieldMode::kDrop;
  std::map<std::string, FieldMode> header_names; // header name -> mode
};

struct AccessLogConfig {
  std::string file_path;         // empty = stdout
  std::string format = "common"; // common|genericCLF|json (canonical spelling)
  int64_t buffering_size = 0;
  std::vector<std::pair<int, int>> status_codes; // filters.statusCodes, inclusive ranges
  bool retry_attempts = false;                   // filters.retryAttempts
  Duration min_duration = Duration::zero();      // filters.minDuration
  bool add_internals = false;
  AccessLogFields fields;
};

// certificatesResolvers.<name>.acme (Traefik's names and defaults; see docs/acme.md).
struct AcmeHttpChallenge {
  std::string entry_point;          // required
  Duration delay = Duration::zero(); // wait after publishing the token, before telling the CA
};

struct AcmeTlsChallenge {
  Duration delay = Duration::zero();
};

struct AcmeDnsChallenge {
  std::string provider;                // rfc2136 | exec | httpreq (lego's names)
  std::vector<std::string> resolvers;  // "host:port" used for propagation checks
  Duration delay_before_checks = Duration::zero();
  bool disable_checks = false;
  bool disable_ans_checks = false;  // skip the authoritative-server check, use `resolvers` only
  bool require_all_rns = false;     // every recursive resolver must see the record
};

struct AcmeEab {
  std::string kid;
  std::string hmac_encoded;  // base64url
};

// certificatesResolvers.<name>.distributedAcme.storage (Turnpike; docs/acme.md#distributed-acme):
// the shared store several gateway instances use instead of acme.json.
struct AcmeSharedStorage {
  enum class Backend { kEtcd, kRedis } backend = Backend::kEtcd;
  std::vector<std::string> endpoints;  // "host:port" (etcd also accepts a URL)
  std::string prefix = "turnpike/acme";  // keys are <prefix>/<resolver>/...
  std::string username, password;
  int db = 0;  // Redis
  std::optional<ProviderClientTls> tls;  // the same `tls` section as the providers'
  // How long a cluster lock outlives an instance that stopped renewing it (killed, cut off).
  Duration lock_ttl = std::chrono::seconds(10);
};

struct AcmeResolverConfig {
  std::string email;
  std::string ca_server = "https://acme-v02.api.letsencrypt.org/directory";
  std::string storage = "acme.json";
  std::string key_type = "RSA4096";  // EC256|EC384|RSA2048|RSA4096|RSA8192 (validated)
  std::optional<AcmeEab> eab;
  int64_t certificates_duration = 2160;  // hours; drives the renewal schedule without ARI
  std::string preferred_chain;
  std::string profile;
  std::vector<std::string> email_addresses;
  bool disable_common_name = false;
  std::vector<std::string> ca_certificates;
  bool ca_system_cert_pool = false;
  std::string ca_server_name;
  Duration client_timeout = std::chrono::minutes(2);
  Duration client_response_header_timeout = std::chrono::seconds(30);
  Duration certificate_timeout = std::chrono::seconds(30);
  std::optional<AcmeHttpChallenge> http_challenge;
  std::optional<AcmeTlsChallenge> tls_challenge;
  std::optional<AcmeDnsChallenge> dns_challenge;
  // Turnpike: accept a storage file readable by group or others (Traefik refuses it).
  bool insecure_storage_permissions = false;
  // distributedAcme: the shared store replacing `storage` (absent for `acme`).
  std::optional<AcmeSharedStorage> shared_storage;
};

struct CertificateResolverConfig {
  std::string name;
  // `acme` or `distributedAcme` (then acme->shared_storage is set); absent: a resolver type
  // Turnpike does not support.
  std::optional<AcmeResolverConfig> acme;
};

struct CoreConfig {
  int workers = 0;                        // 0 = one per core
  std::string default_rule_syntax = "v3"; // v3|v2
};

struct StaticConfig {
  std::map<std::string, EntryPoint> entry_points; // by name
  ProvidersConfig providers;
  LogConfig log;
  std::optional<AccessLogConfig> access_log; // present = access log on
  std::map<std::string, CertificateResolverConfig> certificates_resolvers; // by name
  // Default transport to upstreams (`default@internal`): only insecureSkipVerify, rootCAs,
  // maxIdleConnsPerHost and forwardingTimeouts{dial,responseHeader,idleConn}Timeout are read.
  ServersTransport servers_transport;
  // Default transport to TCP backends (`default@internal` for TCP services): dialKeepAlive,
  // dialTimeout, terminationDelay, tls{insecureSkipVerify, rootCAs} (and Turnpike's idleTimeout).
  TcpServersTransport tcp_servers_transport;
  CoreConfig core;
};

struct LoadedStaticConfig {
  StaticConfig config;
  std::string source;                // "file /etc/turnpike/turnpike.yml", "flags", ...
  std::vector<std::string> warnings; // "turnpike.yml:3: api: not supported yet, ignored"
};

struct StaticLoadOptions {
  // Directories searched for turnpike.* / traefik.* when no --configFile is given; empty = the
  // standard list above (built from `env`'s HOME and XDG_CONFIG_HOME).
  std::vector<std::string> search_dirs;
  // Flags handled by main, skipped here (compared case-insensitively, without dashes).
  std::vector<std::string> skip_flags = {"validate", "help", "h"};
  // Positional arguments handled by main (subcommands), skipped here; others are errors.
  std::vector<std::string> skip_args = {"version"};
};

// Loads the static configuration from `args` (argv without the program name) and `env`
// (name -> value). All problems are collected: the Error's message holds one per line.
Result<LoadedStaticConfig> load_static_config(const std::vector<std::string>& args,
                                              const std::map<std::string, std::string>& env,
                                              const StaticLoadOptions& options = {});

// Decodes and validates a static configuration tree (the file, flag or env tree), applies the
// fixups (no entry point -> `http` on :80) and appends warnings. Same message format as above.
Result<StaticConfig> decode_static_config(const Node& root, std::vector<std::string>& warnings);

// The process environment as a map, for load_static_config.
std::map<std::string, std::string> current_environment();

} // namespace turnpike::config
