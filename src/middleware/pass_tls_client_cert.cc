#include "middleware/pass_tls_client_cert.h"
#include "middleware/local_reply.h"

#include <ctime>

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "middleware/decode_support.h"
#include "tls/certificate.h"

namespace turnpike::middleware {
namespace {

constexpr std::string_view kCertHeader = "X-Forwarded-Tls-Client-Cert";
constexpr std::string_view kInfoHeader = "X-Forwarded-Tls-Client-Cert-Info";

// Every value of attribute `nid` in RDN order (Go's pkix.Name lists).
std::vector<std::string> values(X509_NAME* name, int nid) {
  std::vector<std::string> out;
  for (int i = 0; i < X509_NAME_entry_count(name); ++i) {
    X509_NAME_ENTRY* e = X509_NAME_get_entry(name, i);
    if (OBJ_obj2nid(X509_NAME_ENTRY_get_object(e)) == nid)
      out.push_back(tls::asn1_utf8(X509_NAME_ENTRY_get_data(e)));
  }
  return out;
}

// Go keeps the last CommonName / SerialNumber of a name.
std::string last_value(X509_NAME* name, int nid) {
  auto v = values(name, nid);
  return v.empty() ? std::string() : v.back();
}

void write_parts(std::string& out, const std::vector<std::string>& entries,
                 std::string_view prefix) {
  for (const auto& e : entries)
    if (!e.empty())
      out.append(prefix).append("=").append(e).append(",");
}

std::string dn_info(X509_NAME* name, const DistinguishedNameFields& f) {
  std::string out;
  if (f.domain_component)
    write_parts(out, values(name, NID_domainComponent), "DC");
  if (f.country)
    write_parts(out, values(name, NID_countryName), "C");
  if (f.province)
    write_parts(out, values(name, NID_stateOrProvinceName), "ST");
  if (f.locality)
    write_parts(out, values(name, NID_localityName), "L");
  if (f.organization)
    write_parts(out, values(name, NID_organizationName), "O");
  if (f.organizational_unit)
    write_parts(out, values(name, NID_organizationalUnitName), "OU");
  if (f.serial_number)
    write_parts(out, {last_value(name, NID_serialNumber)}, "SN");
  if (f.common_name)
    write_parts(out, {last_value(name, NID_commonName)}, "CN");
  if (!out.empty())
    out.pop_back(); // the trailing ","
  return out;
}

std::string unix_seconds(const ASN1_TIME* t) {
  struct tm tm {};
  if (ASN1_TIME_to_tm(t, &tm) != 1)
    return "0";
  return std::to_string(static_cast<uint64_t>(timegm(&tm)));
}

// DNS names, e-mail addresses, IPs, URIs: Go's grouping, each group in certificate order.
std::vector<std::string> sans(X509* cert) {
  std::vector<std::string> out;
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (!names)
    return out;
  for (int type : {GEN_DNS, GEN_EMAIL, GEN_IPADD, GEN_URI}) {
    for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
      const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names, i);
      if (gn->type != type)
        continue;
      if (type == GEN_IPADD)
        out.push_back(tls::ip_address_text(gn->d.iPAddress));
      else
        out.push_back(tls::asn1_utf8(gn->d.ia5));
    }
  }
  GENERAL_NAMES_free(names);
  return out;
}

std::string serial_decimal(X509* cert) {
  BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr);
  if (!bn)
    return {};
  char* dec = BN_bn2dec(bn);
  std::string out = dec ? dec : "";
  OPENSSL_free(dec);
  BN_free(bn);
  return out;
}

DistinguishedNameFields decode_dn(config::Decoder& dec, bool subject) {
  DistinguishedNameFields f;
  dec.get("country", f.country);
  dec.get("province", f.province);
  dec.get("locality", f.locality);
  dec.get("organization", f.organization);
  if (subject)
    dec.get("organizationalUnit", f.organizational_unit);
  dec.get("commonName", f.common_name);
  dec.get("serialNumber", f.serial_number);
  dec.get("domainComponent", f.domain_component);
  dec.finish();
  return f;
}

} // namespace

std::string client_certs_pem(std::span<x509_st* const> certs) {
  std::string out;
  for (X509* cert : certs) {
    if (!out.empty())
      out.push_back(',');
    unsigned char* der = nullptr;
    int len = i2d_X509(cert, &der);
    if (len <= 0)
      continue;
    std::string b64(static_cast<size_t>(4 * ((len + 2) / 3)), '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(b64.data()), der, len);
    OPENSSL_free(der);
    b64.resize(static_cast<size_t>(n));
    out += b64;
  }
  return out;
}

std::string client_certs_info(std::span<x509_st* const> certs, const ClientCertInfoOptions& o) {
  std::string out;
  bool first = true;
  for (X509* cert : certs) {
    if (!first)
      out.push_back(',');
    first = false;
    std::vector<std::string> fields;
    if (o.subject) {
      auto s = dn_info(X509_get_subject_name(cert), *o.subject);
      if (!s.empty())
        fields.push_back("Subject=\"" + s + "\"");
    }
    if (o.issuer) {
      auto s = dn_info(X509_get_issuer_name(cert), *o.issuer);
      if (!s.empty())
        fields.push_back("Issuer=\"" + s + "\"");
    }
    if (o.serial_number) {
      auto sn = serial_decimal(cert);
      if (!sn.empty())
        fields.push_back("SerialNumber=\"" + sn + "\"");
    }
    if (o.not_before)
      fields.push_back("NB=\"" + unix_seconds(X509_get0_notBefore(cert)) + "\"");
    if (o.not_after)
      fields.push_back("NA=\"" + unix_seconds(X509_get0_notAfter(cert)) + "\"");
    if (o.sans) {
      auto list = sans(cert);
      if (!list.empty()) {
        std::string joined;
        for (const auto& v : list)
          joined.append(joined.empty() ? "" : ",").append(v);
        fields.push_back("SAN=\"" + joined + "\"");
      }
    }
    for (size_t i = 0; i < fields.size(); ++i)
      out.append(i ? ";" : "").append(fields[i]);
  }
  return out;
}

PassTlsClientCert::PassTlsClientCert(bool pem, std::optional<ClientCertInfoOptions> info,
                                     HandlerPtr next)
    : pem_(pem), info_(std::move(info)), next_(std::move(next)) {}

http::Task<void> PassTlsClientCert::handle(http::Exchange& ex) const {
  if (ex.tls && !ex.tls->peer_certificates.empty()) {
    const auto certs = ex.tls->peer_certificates;
    if (pem_)
      ex.request.headers.set(kCertHeader, client_certs_pem(certs));
    if (info_)
      ex.request.headers.set(kInfoHeader, query_escape(client_certs_info(certs, *info_)));
  }
  co_await next_->handle(ex);
}

Wrap build_pass_tls_client_cert(config::Decoder& dec, BuildContext&) {
  ErrorMark mark(dec);
  bool pem = false;
  std::optional<ClientCertInfoOptions> info;
  dec.get("pem", pem);
  if (const config::Node* n = dec.section("info")) {
    config::Decoder id(*n, dec.child_path("info"), dec.errors());
    auto& o = info.emplace();
    id.get("notAfter", o.not_after);
    id.get("notBefore", o.not_before);
    id.get("sans", o.sans);
    id.get("serialNumber", o.serial_number);
    if (const config::Node* s = id.section("subject")) {
      config::Decoder sd(*s, id.child_path("subject"), id.errors());
      o.subject = decode_dn(sd, /*subject=*/true);
    }
    if (const config::Node* s = id.section("issuer")) {
      config::Decoder sd(*s, id.child_path("issuer"), id.errors());
      o.issuer = decode_dn(sd, /*subject=*/false);
    }
    id.finish();
  }
  dec.finish();
  if (!mark.clean())
    return {};
  return [pem, info](HandlerPtr next) -> HandlerPtr {
    return std::make_shared<const PassTlsClientCert>(pem, info, std::move(next));
  };
}

} // namespace turnpike::middleware
