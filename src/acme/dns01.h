#pragma once
// DNS-01: providers that publish the `_acme-challenge` TXT record, and the propagation check that
// waits until the record can be seen before the CA is asked to look.
//
// Providers follow lego's (the library Traefik uses) names and environment variables, so a
// Traefik deployment's settings carry over; every variable also has a NAME_FILE form:
//   rfc2136  RFC2136_NAMESERVER (host[:port]), RFC2136_TSIG_KEY, RFC2136_TSIG_SECRET,
//            RFC2136_TSIG_ALGORITHM (default hmac-md5.sig-alg.reg.int.), RFC2136_TTL (120),
//            RFC2136_PROPAGATION_TIMEOUT (60 s), RFC2136_POLLING_INTERVAL (2 s),
//            RFC2136_DNS_TIMEOUT (10 s). The update goes to the zone found by an SOA walk.
//   exec     EXEC_PATH run as `EXEC_PATH present|cleanup <fqdn> <value>`, or with EXEC_MODE=RAW
//            `EXEC_PATH present|cleanup <domain> <token> <keyAuth>`; EXEC_PROPAGATION_TIMEOUT,
//            EXEC_POLLING_INTERVAL.
//   httpreq  POST HTTPREQ_ENDPOINT/present and /cleanup with {"fqdn","value"} (or RAW
//            {"domain","token","keyAuth"}); HTTPREQ_USERNAME/PASSWORD for basic auth,
//            HTTPREQ_PROPAGATION_TIMEOUT, HTTPREQ_POLLING_INTERVAL, HTTPREQ_HTTP_TIMEOUT.
// DNS messages are built and parsed by ldns (queries, TSIG-signed RFC 2136 updates).
//
// Everything here blocks and runs on the ACME thread pool. Thread-safe.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "acme/challenge.h"
#include "common/duration.h"
#include "common/result.h"

namespace turnpike::acme {

struct DnsRecord {
  std::string fqdn;   // "_acme-challenge.example.com." (after CNAME following)
  std::string value;  // base64url(SHA-256(key authorization))
  std::string domain;
  std::string token;
  std::string key_authorization;
};

class DnsProvider {
 public:
  virtual ~DnsProvider() = default;
  virtual std::string_view name() const = 0;
  virtual Result<void> present(const DnsRecord& record) = 0;
  virtual Result<void> cleanup(const DnsRecord& record) = 0;
  virtual Duration propagation_timeout() const { return std::chrono::seconds(60); }
  virtual Duration polling_interval() const { return std::chrono::seconds(2); }
};

// Environment lookup (the process environment in production, a map in tests).
using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;
EnvLookup process_env();

// A provider by lego name, configured from `env`. Errors name the missing variable.
Result<std::unique_ptr<DnsProvider>> make_dns_provider(std::string_view name, const EnvLookup& env);

struct DnsServer {
  std::string address;  // numeric IPv4/IPv6
  uint16_t port = 53;
  std::string describe() const;
};
// "host[:port]" or "[v6]:port"; host names are resolved.
Result<DnsServer> parse_dns_server(std::string_view text, uint16_t default_port = 53);
// The nameservers of /etc/resolv.conf.
std::vector<DnsServer> system_resolvers();

// One DNS query (recursion desired) to one server; UDP with TCP fallback on truncation.
struct DnsAnswer {
  int rcode = 0;
  std::vector<std::string> txt;     // TXT answers for the name (strings of one RR concatenated)
  std::vector<std::string> cname;   // CNAME targets in the answer
  std::vector<std::string> ns;      // NS targets (answer section)
  std::vector<std::string> a;       // A/AAAA addresses
  std::string soa_owner;            // owner of an SOA in the answer or authority section
};
Result<DnsAnswer> dns_query(const DnsServer& server, const std::string& name, uint16_t type,
                            Duration timeout = std::chrono::seconds(5));
// The zone containing `fqdn` (SOA walk through `servers`), with a trailing dot.
Result<std::string> find_zone(const std::string& fqdn, const std::vector<DnsServer>& servers);

struct PropagationOptions {
  std::vector<DnsServer> resolvers;  // empty = system resolvers
  Duration delay_before_checks = Duration::zero();
  bool disable_checks = false;
  bool disable_ans_checks = false;
  bool require_all_rns = false;
  bool follow_cname = true;  // lego's default (LEGO_DISABLE_CNAME_SUPPORT=true turns it off)
};

std::unique_ptr<ChallengeSolver> make_dns01_solver(std::shared_ptr<DnsProvider> provider,
                                                   PropagationOptions options);

// The TXT value for a key authorization.
std::string dns01_value(std::string_view key_authorization);

}  // namespace turnpike::acme
