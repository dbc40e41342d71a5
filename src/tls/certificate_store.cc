#include "tls/certificate_store.h"

#include "common/ipnet.h"
#include "common/strings.h"

namespace turnpike::tls {

void CertificateSet::add(const CertificatePtr& cert) {
  for (const auto& c : certificates)
    if (c->key_type() == cert->key_type())
      return;
  certificates.push_back(cert);
}

CertificateStore::CertificateStore(const std::vector<CertificatePtr>& certificates,
                                   CertificatePtr default_certificate) {
  if (default_certificate)
    default_.add(default_certificate);
  for (const auto& cert : certificates) {
    ++count_;
    for (const auto& name : cert->names()) {
      by_name_[name].add(cert);
      if (parse_ip(name))
        has_ip_names_ = true;
    }
  }
  for (const auto& [name, set] : by_name_) {
    if (!has_sole_) {
      sole_ = set;
      has_sole_ = true;
    } else if (sole_.certificates != set.certificates) {
      has_sole_ = false;
      break;
    }
  }
}

bool canonical_server_name(std::string_view name, std::string& out) {
  if (!name.empty() && name.back() == '.')
    name.remove_suffix(1);
  if (name.size() > 253)
    return false;
  out.resize(name.size());
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    if (c <= 0x20 || c >= 0x7f)
      return false;
    out[i] = ascii_lower(c);
  }
  return true;
}

const CertificateSet* CertificateStore::find(std::string_view server_name) const {
  if (server_name.empty() || by_name_.empty())
    return nullptr;
  if (auto it = by_name_.find(server_name); it != by_name_.end())
    return &it->second;
  auto dot = server_name.find('.');
  if (dot == std::string_view::npos || dot == 0 || server_name.size() > 253)
    return nullptr;
  char wildcard[256];
  wildcard[0] = '*';
  auto parent = server_name.substr(dot);
  parent.copy(wildcard + 1, parent.size());
  if (auto it = by_name_.find(std::string_view(wildcard, parent.size() + 1)); it != by_name_.end())
    return &it->second;
  return nullptr;
}

const CertificateSet* CertificateStore::find_any_case(std::string_view server_name) const {
  thread_local std::string canonical;
  if (!canonical_server_name(server_name, canonical))
    return nullptr;
  return find(canonical);
}

} // namespace turnpike::tls
