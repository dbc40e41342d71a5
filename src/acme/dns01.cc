#include "acme/dns01.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include <ldns/ldns.h>

#include "acme/http_client.h"
#include "common/log.h"
#include "common/strings.h"

extern char** environ;

namespace turnpike::acme {
namespace {

using std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

const std::shared_ptr<spdlog::logger>& logger() {
  static auto l = log::get("acme");
  return l;
}

std::string with_dot(std::string name) {
  if (name.empty() || name.back() != '.') name += '.';
  return name;
}

// lego's env helper: NAME, else the content of the file named by NAME_FILE (trimmed).
std::optional<std::string> env_value(const EnvLookup& env, std::string_view name) {
  if (auto v = env(name); v && !v->empty()) return v;
  if (auto f = env(std::string(name) + "_FILE"); f && !f->empty()) {
    std::ifstream in(*f);
    if (!in) return std::nullopt;
    std::stringstream ss;
    ss << in.rdbuf();
    std::string s = ss.str();
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
    return s;
  }
  return std::nullopt;
}

// lego reads timeouts as integer seconds; Go duration strings are accepted too.
Result<Duration> env_duration(const EnvLookup& env, std::string_view name, Duration fallback) {
  auto v = env_value(env, name);
  if (!v) return fallback;
  auto d = parse_duration(*v);
  if (!d) return make_error(std::string(name) + ": invalid duration \"" + *v + "\"");
  return *d;
}

struct LdnsResolver {
  ldns_resolver* r = nullptr;
  ~LdnsResolver() {
    if (r) ldns_resolver_deep_free(r);
  }
};

Result<void> make_resolver(const DnsServer& server, Duration timeout, LdnsResolver& out) {
  out.r = ldns_resolver_new();
  if (!out.r) return make_error("ldns: out of memory");
  bool v6 = server.address.find(':') != std::string::npos;
  ldns_rdf* addr =
      ldns_rdf_new_frm_str(v6 ? LDNS_RDF_TYPE_AAAA : LDNS_RDF_TYPE_A, server.address.c_str());
  if (!addr) return make_error("invalid DNS server address " + server.address);
  ldns_resolver_push_nameserver(out.r, addr);
  ldns_rdf_deep_free(addr);
  ldns_resolver_set_port(out.r, server.port);
  ldns_resolver_set_recursive(out.r, true);
  ldns_resolver_set_retry(out.r, 2);
  ldns_resolver_set_fallback(out.r, true);
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(timeout).count();
  timeval tv{static_cast<time_t>(us / 1000000), static_cast<suseconds_t>(us % 1000000)};
  ldns_resolver_set_timeout(out.r, tv);
  return {};
}

std::string rdf_dname(const ldns_rdf* rdf) {
  char* s = ldns_rdf2str(rdf);
  std::string out = s ? s : "";
  free(s);
  return to_lower(out);
}

std::string txt_of(const ldns_rr* rr) {
  std::string out;
  for (size_t i = 0; i < ldns_rr_rd_count(rr); ++i) {
    const ldns_rdf* rdf = ldns_rr_rdf(rr, i);
    const uint8_t* data = ldns_rdf_data(rdf);
    size_t size = ldns_rdf_size(rdf);
    if (size >= 1) out.append(reinterpret_cast<const char*>(data + 1), std::min<size_t>(data[0], size - 1));
  }
  return out;
}

std::string rcode_name(int rcode) {
  switch (rcode) {
    case LDNS_RCODE_NOERROR: return "NOERROR";
    case LDNS_RCODE_FORMERR: return "FORMERR";
    case LDNS_RCODE_SERVFAIL: return "SERVFAIL";
    case LDNS_RCODE_NXDOMAIN: return "NXDOMAIN";
    case LDNS_RCODE_NOTIMPL: return "NOTIMP";
    case LDNS_RCODE_REFUSED: return "REFUSED";
    case LDNS_RCODE_NOTAUTH: return "NOTAUTH";
    default: return "rcode " + std::to_string(rcode);
  }
}

// lego's per-provider <PREFIX>_PROPAGATION_TIMEOUT and <PREFIX>_POLLING_INTERVAL.
class TimedProvider : public DnsProvider {
 public:
  Duration propagation_timeout() const override { return propagation_timeout_; }
  Duration polling_interval() const override { return polling_interval_; }

 protected:
  Result<void> load_timings(const EnvLookup& env, const std::string& prefix) {
    auto pt = env_duration(env, prefix + "_PROPAGATION_TIMEOUT", std::chrono::seconds(60));
    auto pi = env_duration(env, prefix + "_POLLING_INTERVAL", std::chrono::seconds(2));
    if (!pt) return pt.error();
    if (!pi) return pi.error();
    propagation_timeout_ = *pt;
    polling_interval_ = *pi;
    return {};
  }

 private:
  Duration propagation_timeout_{}, polling_interval_{};
};

// ---- rfc2136 -----------------------------------------------------------------------------------

class Rfc2136Provider final : public TimedProvider {
 public:
  std::string_view name() const override { return "rfc2136"; }

  static Result<std::unique_ptr<DnsProvider>> create(const EnvLookup& env) {
    auto p = std::make_unique<Rfc2136Provider>();
    auto ns = env_value(env, "RFC2136_NAMESERVER");
    if (!ns) return make_error("rfc2136: RFC2136_NAMESERVER is required");
    auto server = parse_dns_server(*ns);
    if (!server) return make_error("rfc2136: RFC2136_NAMESERVER: " + server.error().message);
    p->server_ = *server;
    p->tsig_key_ = env_value(env, "RFC2136_TSIG_KEY").value_or("");
    p->tsig_secret_ = env_value(env, "RFC2136_TSIG_SECRET").value_or("");
    p->tsig_algorithm_ = to_lower(
        env_value(env, "RFC2136_TSIG_ALGORITHM").value_or("hmac-md5.sig-alg.reg.int."));
    p->tsig_algorithm_ = with_dot(p->tsig_algorithm_);
    if (p->tsig_key_.empty() != p->tsig_secret_.empty())
      return make_error("rfc2136: RFC2136_TSIG_KEY and RFC2136_TSIG_SECRET go together");
    if (auto ttl = env_value(env, "RFC2136_TTL")) {
      auto n = parse_uint(*ttl);
      if (!n || *n > 2147483647) return make_error("rfc2136: RFC2136_TTL: invalid \"" + *ttl + "\"");
      p->ttl_ = uint32_t(*n);
    }
    auto timings = p->load_timings(env, "RFC2136");
    if (!timings) return timings.error();
    auto dt = env_duration(env, "RFC2136_DNS_TIMEOUT", std::chrono::seconds(10));
    if (!dt) return dt.error();
    p->dns_timeout_ = *dt;
    return std::unique_ptr<DnsProvider>(std::move(p));
  }

  Result<void> present(const DnsRecord& record) override { return update(record, true); }
  Result<void> cleanup(const DnsRecord& record) override { return update(record, false); }

 private:
  Result<void> update(const DnsRecord& record, bool add) {
    auto zone = find_zone(record.fqdn, {server_});
    if (!zone) return make_error("rfc2136: " + zone.error().message);
    LdnsResolver res;
    auto made = make_resolver(server_, dns_timeout_, res);
    if (!made) return made;
    if (!tsig_key_.empty()) {
      ldns_resolver_set_tsig_keyname(res.r, with_dot(tsig_key_).c_str());
      ldns_resolver_set_tsig_algorithm(res.r, tsig_algorithm_.c_str());
      ldns_resolver_set_tsig_keydata(res.r, tsig_secret_.c_str());
    }
    // The TXT value is quoted for ldns' presentation-format parser; base64url has no quote or
    // backslash to escape.
    std::string text = record.fqdn + " " + std::to_string(ttl_) + " IN TXT \"" + record.value + "\"";
    ldns_rr* rr = nullptr;
    if (ldns_rr_new_frm_str(&rr, text.c_str(), 0, nullptr, nullptr) != LDNS_STATUS_OK || !rr)
      return make_error("rfc2136: cannot build the TXT record for " + record.fqdn);
    if (!add) {
      // RFC 2136 §2.5.4: delete one RR = class NONE, TTL 0, same rdata.
      ldns_rr_set_class(rr, LDNS_RR_CLASS_NONE);
      ldns_rr_set_ttl(rr, 0);
    }
    ldns_rr_list* up = ldns_rr_list_new();
    ldns_rr_list_push_rr(up, rr);
    ldns_pkt* pkt = ldns_update_pkt_new(ldns_dname_new_frm_str(zone->c_str()), LDNS_RR_CLASS_IN,
                                        nullptr, up, nullptr);
    ldns_rr_list_deep_free(up);
    if (!pkt) return make_error("rfc2136: cannot build the update message");
    if (!tsig_key_.empty() && ldns_update_pkt_tsig_add(pkt, res.r) != LDNS_STATUS_OK) {
      ldns_pkt_free(pkt);
      return make_error("rfc2136: TSIG signing failed (algorithm " + tsig_algorithm_ + ")");
    }
    ldns_pkt* answer = nullptr;
    ldns_status st = ldns_resolver_send_pkt(&answer, res.r, pkt);
    ldns_pkt_free(pkt);
    if (st != LDNS_STATUS_OK || !answer) {
      if (answer) ldns_pkt_free(answer);
      return make_error("rfc2136: update of zone " + *zone + " at " + server_.describe() +
                        " failed: " + ldns_get_errorstr_by_id(st));
    }
    int rcode = ldns_pkt_get_rcode(answer);
    ldns_pkt_free(answer);
    if (rcode != LDNS_RCODE_NOERROR)
      return make_error("rfc2136: " + std::string(add ? "adding" : "removing") + " " +
                        record.fqdn + " TXT in zone " + *zone + " at " + server_.describe() +
                        ": " + rcode_name(rcode));
    return {};
  }

  DnsServer server_;
  std::string tsig_key_, tsig_secret_, tsig_algorithm_;
  uint32_t ttl_ = 120;
  Duration dns_timeout_{};
};

// ---- exec --------------------------------------------------------------------------------------

class ExecProvider final : public TimedProvider {
 public:
  std::string_view name() const override { return "exec"; }

  static Result<std::unique_ptr<DnsProvider>> create(const EnvLookup& env) {
    auto p = std::make_unique<ExecProvider>();
    auto path = env_value(env, "EXEC_PATH");
    if (!path) return make_error("exec: EXEC_PATH is required");
    p->path_ = *path;
    p->raw_ = iequals(env_value(env, "EXEC_MODE").value_or(""), "RAW");
    auto timings = p->load_timings(env, "EXEC");
    if (!timings) return timings.error();
    return std::unique_ptr<DnsProvider>(std::move(p));
  }

  Result<void> present(const DnsRecord& r) override { return run("present", r); }
  Result<void> cleanup(const DnsRecord& r) override { return run("cleanup", r); }

 private:
  Result<void> run(const std::string& action, const DnsRecord& r) {
    std::vector<std::string> args = {path_, action};
    if (raw_) {
      args.insert(args.end(), {r.domain, r.token, r.key_authorization});
    } else {
      args.insert(args.end(), {r.fqdn, r.value});
    }
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return make_error("exec: pipe: " + std::string(std::strerror(errno)));
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 2);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    pid_t pid = 0;
    int rc = ::posix_spawn(&pid, path_.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(fds[1]);
    if (rc != 0) {
      ::close(fds[0]);
      return make_error("exec: cannot run " + path_ + ": " + std::strerror(rc));
    }
    // Output is kept for the error message; a hung script is killed after two minutes.
    std::string output;
    auto deadline = SteadyClock::now() + std::chrono::minutes(2);
    for (;;) {
      auto left = std::chrono::duration_cast<milliseconds>(deadline - SteadyClock::now()).count();
      if (left <= 0) {
        ::kill(pid, SIGKILL);
        break;
      }
      pollfd pfd{fds[0], POLLIN, 0};
      int n = ::poll(&pfd, 1, int(std::min<long>(left, 1000)));
      if (n < 0 && errno != EINTR) break;
      if (n <= 0) continue;
      char buf[4096];
      ssize_t got = ::read(fds[0], buf, sizeof(buf));
      if (got <= 0) break;
      if (output.size() < 4096) output.append(buf, size_t(got));
    }
    ::close(fds[0]);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return {};
    while (!output.empty() && (output.back() == '\n' || output.back() == '\r')) output.pop_back();
    std::string how = WIFEXITED(status) ? "exit status " + std::to_string(WEXITSTATUS(status))
                                        : "killed by signal " + std::to_string(WTERMSIG(status));
    return make_error("exec: " + path_ + " " + action + " failed (" + how + ")" +
                      (output.empty() ? "" : ": " + output));
  }

  std::string path_;
  bool raw_ = false;
};

// ---- httpreq -----------------------------------------------------------------------------------

class HttpReqProvider final : public TimedProvider {
 public:
  std::string_view name() const override { return "httpreq"; }

  static Result<std::unique_ptr<DnsProvider>> create(const EnvLookup& env) {
    auto p = std::make_unique<HttpReqProvider>();
    auto endpoint = env_value(env, "HTTPREQ_ENDPOINT");
    if (!endpoint) return make_error("httpreq: HTTPREQ_ENDPOINT is required");
    p->endpoint_ = *endpoint;
    while (!p->endpoint_.empty() && p->endpoint_.back() == '/') p->endpoint_.pop_back();
    p->raw_ = iequals(env_value(env, "HTTPREQ_MODE").value_or(""), "RAW");
    HttpClientOptions opts;
    auto user = env_value(env, "HTTPREQ_USERNAME");
    auto pass = env_value(env, "HTTPREQ_PASSWORD");
    if (user && pass) opts.basic_auth = *user + ":" + *pass;
    auto timings = p->load_timings(env, "HTTPREQ");
    if (!timings) return timings.error();
    auto ht = env_duration(env, "HTTPREQ_HTTP_TIMEOUT", std::chrono::seconds(30));
    if (!ht) return ht.error();
    opts.timeout = *ht;
    opts.response_header_timeout = *ht;
    auto client = HttpClient::create(opts);
    if (!client) return client.error();
    p->client_ = *client;
    return std::unique_ptr<DnsProvider>(std::move(p));
  }

  Result<void> present(const DnsRecord& r) override { return send("present", r); }
  Result<void> cleanup(const DnsRecord& r) override { return send("cleanup", r); }

 private:
  Result<void> send(const std::string& action, const DnsRecord& r) {
    nlohmann::json body;
    if (raw_) {
      body = {{"domain", r.domain}, {"token", r.token}, {"keyAuth", r.key_authorization}};
    } else {
      body = {{"fqdn", r.fqdn}, {"value", r.value}};
    }
    std::string url = endpoint_ + "/" + action;
    auto resp = client_->request("POST", url, body.dump(), "application/json");
    if (!resp) return make_error("httpreq: " + resp.error().message);
    if (resp->status / 100 != 2) {
      std::string detail = resp->body.substr(0, 512);
      return make_error("httpreq: POST " + url + ": HTTP " + std::to_string(resp->status) +
                        (detail.empty() ? "" : ": " + detail));
    }
    return {};
  }

  std::string endpoint_;
  bool raw_ = false;
  std::shared_ptr<HttpClient> client_;
};

// ---- the solver --------------------------------------------------------------------------------

class Dns01Solver final : public ChallengeSolver {
 public:
  Dns01Solver(std::shared_ptr<DnsProvider> provider, PropagationOptions options)
      : provider_(std::move(provider)), options_(std::move(options)) {
    if (options_.resolvers.empty()) options_.resolvers = system_resolvers();
  }
  std::string_view type() const override { return "dns-01"; }

  Result<void> present(const ChallengeContext& c) override {
    return provider_->present(record(c));
  }

  Result<void> wait_ready(const ChallengeContext& c, StopSignal& stop) override {
    auto delay = std::chrono::duration_cast<milliseconds>(options_.delay_before_checks);
    if (delay.count() > 0 && !stop.wait_for(delay)) return make_error("stopped");
    if (options_.disable_checks) return {};
    DnsRecord r = record(c);
    auto deadline = SteadyClock::now() + provider_->propagation_timeout();
    // Prompt first checks (a local server answers at once), then the provider's interval.
    milliseconds wait(100);
    auto interval = std::chrono::duration_cast<milliseconds>(provider_->polling_interval());
    std::string last;
    for (;;) {
      auto seen = check(r);
      if (seen) return {};
      last = seen.error().message;
      if (SteadyClock::now() + wait > deadline)
        return make_error("dns-01: " + r.fqdn + " TXT not visible after " +
                          std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                             provider_->propagation_timeout())
                                             .count()) +
                          " s: " + last);
      if (!stop.wait_for(wait)) return make_error("stopped");
      wait = std::min(wait * 2, std::max(interval, milliseconds(100)));
    }
  }

  void cleanup(const ChallengeContext& c) override {
    auto r = provider_->cleanup(record(c));
    if (!r) logger()->warn("dns-01 cleanup for {}: {}", c.domain, r.error().message);
  }

 private:
  DnsRecord record(const ChallengeContext& c) {
    DnsRecord r;
    r.domain = c.domain;
    r.token = c.token;
    r.key_authorization = c.key_authorization;
    r.value = dns01_value(c.key_authorization);
    r.fqdn = "_acme-challenge." + with_dot(c.domain);
    if (options_.follow_cname) r.fqdn = follow_cname(r.fqdn);
    return r;
  }

  // lego follows a CNAME on _acme-challenge (delegation to another zone) up to 50 hops.
  std::string follow_cname(std::string fqdn) {
    for (int hop = 0; hop < 50; ++hop) {
      std::optional<std::string> target;
      for (const auto& server : options_.resolvers) {
        auto a = dns_query(server, fqdn, LDNS_RR_TYPE_CNAME, std::chrono::seconds(3));
        if (!a) continue;
        if (!a->cname.empty()) target = a->cname.front();
        break;
      }
      if (!target || *target == fqdn) return fqdn;
      fqdn = *target;
    }
    return fqdn;
  }

  Result<void> has_value(const DnsServer& server, const DnsRecord& r) {
    auto a = dns_query(server, r.fqdn, LDNS_RR_TYPE_TXT);
    if (!a) return a.error();
    for (const auto& t : a->txt)
      if (t == r.value) return {};
    return make_error(server.describe() + " does not serve the value yet (" + rcode_name(a->rcode) +
                      ", " + std::to_string(a->txt.size()) + " TXT)");
  }

  Result<void> check(const DnsRecord& r) {
    if (options_.resolvers.empty()) return make_error("no DNS resolver to check with");
    if (options_.require_all_rns) {
      for (const auto& s : options_.resolvers) {
        auto ok = has_value(s, r);
        if (!ok) return ok;
      }
    }
    if (!options_.disable_ans_checks) {
      auto ans = authoritative(r.fqdn);
      if (!ans) return ans.error();
      for (const auto& s : *ans) {
        auto ok = has_value(s, r);
        if (!ok) return ok;
      }
      return {};
    }
    if (options_.require_all_rns) return {};
    // Authoritative checks disabled: the first resolver that answers must see the value.
    std::string last;
    for (const auto& s : options_.resolvers) {
      auto ok = has_value(s, r);
      if (ok) return ok;
      last = ok.error().message;
    }
    return make_error(last);
  }

  // The zone's authoritative servers (NS of the zone found by an SOA walk), on port 53.
  Result<std::vector<DnsServer>> authoritative(const std::string& fqdn) {
    auto zone = find_zone(fqdn, options_.resolvers);
    if (!zone) return zone.error();
    std::vector<std::string> names;
    for (const auto& s : options_.resolvers) {
      auto a = dns_query(s, *zone, LDNS_RR_TYPE_NS);
      if (a && !a->ns.empty()) {
        names = a->ns;
        break;
      }
    }
    if (names.empty()) return make_error("no NS records for zone " + *zone);
    std::vector<DnsServer> out;
    for (const auto& n : names) {
      auto server = parse_dns_server(n.back() == '.' ? n.substr(0, n.size() - 1) : n);
      if (server) out.push_back(*server);
    }
    if (out.empty()) return make_error("cannot resolve the nameservers of zone " + *zone);
    return out;
  }

  std::shared_ptr<DnsProvider> provider_;
  PropagationOptions options_;
};

}  // namespace

EnvLookup process_env() {
  return [](std::string_view name) -> std::optional<std::string> {
    const char* v = std::getenv(std::string(name).c_str());
    if (!v) return std::nullopt;
    return std::string(v);
  };
}

std::string DnsServer::describe() const {
  return (address.find(':') != std::string::npos ? "[" + address + "]" : address) + ":" +
         std::to_string(port);
}

Result<DnsServer> parse_dns_server(std::string_view text, uint16_t default_port) {
  std::string host;
  std::string port;
  text = trim(text);
  if (text.empty()) return make_error("empty DNS server address");
  if (text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos) return make_error("invalid address \"" + std::string(text) + "\"");
    host = std::string(text.substr(1, close - 1));
    if (close + 1 < text.size() && text[close + 1] == ':') port = std::string(text.substr(close + 2));
  } else if (std::count(text.begin(), text.end(), ':') == 1) {
    auto colon = text.find(':');
    host = std::string(text.substr(0, colon));
    port = std::string(text.substr(colon + 1));
  } else {
    host = std::string(text);  // a name, an IPv4 or a bare IPv6 address
  }
  DnsServer out;
  out.port = default_port;
  if (!port.empty()) {
    auto p = parse_uint(port);
    if (!p || *p == 0 || *p > 65535) return make_error("invalid port in \"" + std::string(text) + "\"");
    out.port = uint16_t(*p);
  }
  addrinfo hints{};
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* res = nullptr;
  int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &res);
  if (rc != 0 || !res) return make_error("cannot resolve \"" + host + "\": " + gai_strerror(rc));
  char buf[INET6_ADDRSTRLEN] = {0};
  if (res->ai_family == AF_INET6) {
    ::inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(res->ai_addr)->sin6_addr, buf, sizeof(buf));
  } else {
    ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(res->ai_addr)->sin_addr, buf, sizeof(buf));
  }
  ::freeaddrinfo(res);
  out.address = buf;
  return out;
}

std::vector<DnsServer> system_resolvers() {
  std::vector<DnsServer> out;
  std::ifstream in("/etc/resolv.conf");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string key, value;
    ls >> key >> value;
    if (key != "nameserver" || value.empty()) continue;
    DnsServer s;
    s.address = value;
    out.push_back(s);
  }
  return out;
}

Result<DnsAnswer> dns_query(const DnsServer& server, const std::string& name, uint16_t type,
                            Duration timeout) {
  LdnsResolver res;
  auto made = make_resolver(server, timeout, res);
  if (!made) return made.error();
  ldns_rdf* qname = ldns_dname_new_frm_str(with_dot(name).c_str());
  if (!qname) return make_error("invalid DNS name \"" + name + "\"");
  ldns_pkt* pkt = nullptr;
  ldns_status st = ldns_resolver_query_status(&pkt, res.r, qname, ldns_rr_type(type),
                                              LDNS_RR_CLASS_IN, LDNS_RD);
  ldns_rdf_deep_free(qname);
  if (st != LDNS_STATUS_OK || !pkt) {
    if (pkt) ldns_pkt_free(pkt);
    return make_error("DNS query " + name + " at " + server.describe() + ": " +
                      ldns_get_errorstr_by_id(st));
  }
  DnsAnswer a;
  a.rcode = ldns_pkt_get_rcode(pkt);
  ldns_rr_list* answer = ldns_pkt_answer(pkt);
  for (size_t i = 0; answer && i < ldns_rr_list_rr_count(answer); ++i) {
    const ldns_rr* rr = ldns_rr_list_rr(answer, i);
    switch (ldns_rr_get_type(rr)) {
      case LDNS_RR_TYPE_TXT: a.txt.push_back(txt_of(rr)); break;
      case LDNS_RR_TYPE_CNAME: a.cname.push_back(rdf_dname(ldns_rr_rdf(rr, 0))); break;
      case LDNS_RR_TYPE_NS: a.ns.push_back(rdf_dname(ldns_rr_rdf(rr, 0))); break;
      case LDNS_RR_TYPE_A:
      case LDNS_RR_TYPE_AAAA: a.a.push_back(rdf_dname(ldns_rr_rdf(rr, 0))); break;
      case LDNS_RR_TYPE_SOA: a.soa_owner = rdf_dname(ldns_rr_owner(rr)); break;
      default: break;
    }
  }
  if (a.soa_owner.empty()) {
    ldns_rr_list* auth = ldns_pkt_authority(pkt);
    for (size_t i = 0; auth && i < ldns_rr_list_rr_count(auth); ++i) {
      const ldns_rr* rr = ldns_rr_list_rr(auth, i);
      if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_SOA) a.soa_owner = rdf_dname(ldns_rr_owner(rr));
    }
  }
  ldns_pkt_free(pkt);
  return a;
}

Result<std::string> find_zone(const std::string& fqdn, const std::vector<DnsServer>& servers) {
  std::string name = to_lower(with_dot(fqdn));
  std::string last = "no DNS server";
  // An SOA query for the name itself returns the SOA of its zone, in the answer (zone apex) or
  // in the authority section (any name below it, existing or not).
  for (const auto& s : servers) {
    auto a = dns_query(s, name, LDNS_RR_TYPE_SOA);
    if (!a) {
      last = a.error().message;
      continue;
    }
    if (!a->soa_owner.empty() && (a->rcode == LDNS_RCODE_NOERROR || a->rcode == LDNS_RCODE_NXDOMAIN))
      return Result<std::string>(boost::system::in_place_value, a->soa_owner);
    last = s.describe() + " gave no SOA for " + name + " (" + rcode_name(a->rcode) + ")";
  }
  return make_error("cannot find the zone of " + name + ": " + last);
}

std::string dns01_value(std::string_view key_authorization) {
  return base64url(sha256(key_authorization));
}

Result<std::unique_ptr<DnsProvider>> make_dns_provider(std::string_view name, const EnvLookup& env) {
  if (name == "rfc2136") return Rfc2136Provider::create(env);
  if (name == "exec") return ExecProvider::create(env);
  if (name == "httpreq") return HttpReqProvider::create(env);
  return make_error("unsupported DNS provider \"" + std::string(name) + "\"");
}

std::unique_ptr<ChallengeSolver> make_dns01_solver(std::shared_ptr<DnsProvider> provider,
                                                   PropagationOptions options) {
  return std::make_unique<Dns01Solver>(std::move(provider), std::move(options));
}

}  // namespace turnpike::acme
