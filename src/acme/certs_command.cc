#include "acme/certs_command.h"

#include <ctime>
#include <set>

#include <fmt/format.h>

#include "acme/client.h"
#include "acme/crypto.h"
#include "acme/kv_storage.h"
#include "acme/resolver.h"
#include "acme/storage.h"

namespace turnpike::acme {

int print_certificates(const config::StaticConfig& cfg, std::string& out) {
  int rc = 0;
  if (cfg.certificates_resolvers.empty()) {
    out += "no certificatesResolvers configured\n";
    return 0;
  }
  std::time_t now = std::time(nullptr);
  out += fmt::format("{:<12} {:<40} {:<21} {:<21} {}\n", "RESOLVER", "DOMAINS", "NOT AFTER",
                     "RENEW AFTER", "STATUS");
  std::set<std::string> read;
  for (const auto& [name, rc_cfg] : cfg.certificates_resolvers) {
    if (!rc_cfg.acme) continue;
    const auto& ac = *rc_cfg.acme;
    ResolverData data;
    if (ac.shared_storage) {
      // distributedAcme: read from the shared store (nothing is written).
      auto store = KvStorage::open(*ac.shared_storage);
      auto loaded = store ? (*store)->load(name) : Result<ResolverData>(store.error());
      if (!loaded) {
        out += fmt::format("{:<12} storage: {}\n", name, loaded.error().message);
        rc = 1;
        continue;
      }
      data = std::move(*loaded);
    } else {
      auto file = read_storage_file(ac.storage);
      if (!file) {
        out += fmt::format("{:<12} storage {}: {}\n", name, ac.storage, file.error().message);
        rc = 1;
        continue;
      }
      auto it = file->find(name);
      if (it == file->end()) {
        out += fmt::format("{:<12} (nothing stored in {})\n", name, ac.storage);
        continue;
      }
      data = std::move(it->second);
    }
    for (const auto& c : data.certificates) {
      std::string domains;
      for (const auto& d : c.domains()) domains += (domains.empty() ? "" : ",") + d;
      auto info = inspect_certificate(c.certificate);
      if (!info) {
        out += fmt::format("{:<12} {:<40} unreadable: {}\n", name, domains, info.error().message);
        continue;
      }
      std::time_t renew = renewal_time(info->not_before, info->not_after, ac.certificates_duration);
      std::string status = info->not_after <= now ? "EXPIRED" : renew <= now ? "renewal due" : "valid";
      out += fmt::format("{:<12} {:<40} {:<21} {:<21} {}\n", name, domains,
                         format_rfc3339(info->not_after), format_rfc3339(renew), status);
    }
    for (const auto& o : data.orders) {
      std::string domains;
      for (const auto& d : o.domains) domains += (domains.empty() ? "" : ",") + d;
      out += fmt::format("{:<12} {:<40} {:<21} {:<21} order in progress: {}\n", name, domains, "-",
                         "-", o.url);
    }
    for (const auto& [key, e] : data.ledger) {
      if (e.next_attempt <= now) continue;
      out += fmt::format("{:<12} {:<40} {:<21} {:<21} backing off until {} after {} failure(s){}\n",
                         name, key, "-", "-", format_rfc3339(e.next_attempt), e.failures,
                         e.last_error.empty() ? "" : ": " + e.last_error);
    }
  }
  return rc;
}

}  // namespace turnpike::acme
