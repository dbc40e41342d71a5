#include "tls/certificate.h"

#include <arpa/inet.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "common/strings.h"

namespace turnpike::tls {
namespace {

template <class T, void (*Free)(T*)> struct Deleter {
  void operator()(T* p) const { Free(p); }
};
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using ExtPtr = std::unique_ptr<X509_EXTENSION, Deleter<X509_EXTENSION, X509_EXTENSION_free>>;

BioPtr memory_bio(std::string_view data) {
  return BioPtr(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
}

KeyType key_type_of(EVP_PKEY* key) {
  switch (EVP_PKEY_get_base_id(key)) {
  case EVP_PKEY_RSA:
  case EVP_PKEY_RSA_PSS:
    return KeyType::kRsa;
  case EVP_PKEY_EC:
    return KeyType::kEcdsa;
  case EVP_PKEY_ED25519:
    return KeyType::kEd25519;
  default:
    return KeyType::kOther;
  }
}

Result<void> add_extension(X509* cert, X509V3_CTX& ctx, int nid, const std::string& value) {
  ExtPtr ext(X509V3_EXT_nconf_nid(nullptr, &ctx, nid, value.c_str()));
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1)
    return make_error("certificate extension " + std::string(OBJ_nid2sn(nid)) + "=" + value + ": " +
                      openssl_error());
  return {};
}

std::string bio_contents(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(n));
}

std::string pem_of(X509* cert) {
  BioPtr out(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(out.get(), cert);
  return bio_contents(out.get());
}

std::string pem_of(EVP_PKEY* key) {
  BioPtr out(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(out.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  return bio_contents(out.get());
}

} // namespace

std::string asn1_utf8(const ASN1_STRING* s) {
  unsigned char* out = nullptr;
  int n = ASN1_STRING_to_UTF8(&out, s);
  if (n < 0)
    return {};
  std::string r(reinterpret_cast<char*>(out), static_cast<size_t>(n));
  OPENSSL_free(out);
  return r;
}

// inet_ntop agrees with Go's net.IP.String(), including "::" folding.
std::string ip_address_text(const ASN1_OCTET_STRING* ip) {
  char buf[INET6_ADDRSTRLEN] = {0};
  int len = ASN1_STRING_length(ip);
  const unsigned char* d = ASN1_STRING_get0_data(ip);
  if (len == 4)
    inet_ntop(AF_INET, d, buf, sizeof(buf));
  else if (len == 16)
    inet_ntop(AF_INET6, d, buf, sizeof(buf));
  return buf;
}

std::string openssl_error(std::string_view fallback) {
  unsigned long first = ERR_get_error();
  if (first == 0)
    return std::string(fallback);
  ERR_clear_error();
  const char* reason = ERR_reason_error_string(first);
  if (reason)
    return reason;
  char buf[256];
  ERR_error_string_n(first, buf, sizeof(buf));
  return buf;
}

Certificate::~Certificate() {
  X509_free(leaf_);
  sk_X509_pop_free(chain_, X509_free);
  EVP_PKEY_free(key_);
}

Result<CertificatePtr> Certificate::from_pem(std::string_view cert_pem, std::string_view key_pem) {
  ERR_clear_error();
  std::shared_ptr<Certificate> c(new Certificate());
  c->chain_ = sk_X509_new_null();
  auto bio = memory_bio(cert_pem);
  for (;;) {
    X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
    if (!x)
      break;
    if (!c->leaf_)
      c->leaf_ = x;
    else
      sk_X509_push(c->chain_, x);
  }
  // PEM_read_bio_X509 ends the loop with a "no start line" error at the end of the data.
  ERR_clear_error();
  if (!c->leaf_)
    return make_error("no PEM certificate found");
  auto kbio = memory_bio(key_pem);
  c->key_ = PEM_read_bio_PrivateKey(kbio.get(), nullptr, nullptr, nullptr);
  if (!c->key_)
    return make_error("no PEM private key found (" + openssl_error() + ")");
  if (X509_check_private_key(c->leaf_, c->key_) != 1) {
    ERR_clear_error();
    return make_error("the private key does not match the certificate");
  }
  c->key_type_ = key_type_of(c->key_);
  c->index_names();
  return CertificatePtr(std::move(c));
}

void Certificate::index_names() {
  auto add = [this](std::string name) {
    name = to_lower(name);
    if (name.empty())
      return;
    for (const auto& n : names_)
      if (n == name)
        return;
    names_.push_back(std::move(name));
  };
  X509_NAME* subject = X509_get_subject_name(leaf_);
  int idx = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (idx >= 0) {
    common_name_ = asn1_utf8(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, idx)));
    add(common_name_);
  }
  auto* sans =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(leaf_, NID_subject_alt_name, nullptr, nullptr));
  if (sans) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
      const GENERAL_NAME* gn = sk_GENERAL_NAME_value(sans, i);
      if (gn->type == GEN_DNS)
        add(asn1_utf8(gn->d.dNSName));
    }
    for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
      const GENERAL_NAME* gn = sk_GENERAL_NAME_value(sans, i);
      if (gn->type == GEN_IPADD)
        add(ip_address_text(gn->d.iPAddress));
    }
    GENERAL_NAMES_free(sans);
  }
  struct tm tm {};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(leaf_), &tm) == 1)
    not_after_ = timegm(&tm);
}

std::string Certificate::serial_hex() const {
  BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(leaf_), nullptr);
  if (!bn)
    return {};
  char* hex = BN_bn2hex(bn);
  std::string out = hex ? hex : "";
  OPENSSL_free(hex);
  BN_free(bn);
  return out;
}

Result<CertificatePtr> generate_certificate(const CertificateRequest& req) {
  ERR_clear_error();
  PkeyPtr key(req.key_type == KeyType::kRsa
                  ? EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048))
                  : EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!key)
    return make_error("key generation: " + openssl_error());
  X509Ptr cert(X509_new());
  X509_set_version(cert.get(), 2); // v3
  if (req.serial > 0) {
    ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), req.serial);
  } else {
    BIGNUM* bn = BN_new();
    BN_rand(bn, 63, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY); // positive, at most 8 bytes
    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
    BN_free(bn);
  }
  X509_gmtime_adj(X509_getm_notBefore(cert.get()),
                  static_cast<long>(req.not_before_offset.count()));
  X509_gmtime_adj(X509_getm_notAfter(cert.get()),
                  static_cast<long>(req.not_before_offset.count() + req.validity.count()));
  X509_NAME* name = X509_get_subject_name(cert.get());
  for (const auto& [field, value] : req.subject) {
    if (X509_NAME_add_entry_by_txt(name, field.c_str(), MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(value.c_str()), -1, -1,
                                   0) != 1)
      return make_error("subject " + field + ": " + openssl_error());
  }
  X509* issuer_cert = req.issuer ? req.issuer->leaf() : cert.get();
  EVP_PKEY* signing_key = req.issuer ? req.issuer->key() : key.get();
  X509_set_issuer_name(cert.get(), X509_get_subject_name(issuer_cert));
  X509_set_pubkey(cert.get(), key.get());

  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer_cert, cert.get(), nullptr, nullptr, 0);
  auto r = add_extension(cert.get(), ctx, NID_basic_constraints,
                         req.is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
  if (r)
    r = add_extension(cert.get(), ctx, NID_key_usage,
                      req.is_ca                       ? "critical,keyCertSign,cRLSign"
                      : req.key_type == KeyType::kRsa ? "critical,digitalSignature,keyEncipherment"
                                                      : "critical,digitalSignature");
  if (r && !req.is_ca)
    r = add_extension(cert.get(), ctx, NID_ext_key_usage,
                      req.client_auth ? "clientAuth" : "serverAuth");
  if (r)
    r = add_extension(cert.get(), ctx, NID_subject_key_identifier, "hash");
  if (r && req.issuer)
    r = add_extension(cert.get(), ctx, NID_authority_key_identifier, "keyid:always");
  std::string sans;
  auto add_san = [&](const char* kind, const std::vector<std::string>& values) {
    for (const auto& v : values)
      sans.append(sans.empty() ? "" : ",").append(kind).append(v);
  };
  add_san("DNS:", req.dns_names);
  add_san("IP:", req.ip_addresses);
  add_san("email:", req.emails);
  add_san("URI:", req.uris);
  if (r && !sans.empty())
    r = add_extension(cert.get(), ctx, NID_subject_alt_name, sans);
  if (!r)
    return r.error();
  if (X509_sign(cert.get(), signing_key, EVP_sha256()) <= 0)
    return make_error("signing the certificate: " + openssl_error());

  return Certificate::from_pem(pem_of(cert.get()), pem_of(key.get()));
}

std::string leaf_pem(const Certificate& cert) {
  return pem_of(cert.leaf());
}

std::string key_pem(const Certificate& cert) {
  return pem_of(cert.key());
}

Result<std::string> read_file_or_content(std::string_view value) {
  // Error converts from a string too: construct the value explicitly.
  if (value.find("-----BEGIN") != std::string_view::npos)
    return Result<std::string>(boost::system::in_place_value, value);
  if (value.empty())
    return make_error("is empty");
  std::ifstream in{std::string(value), std::ios::binary};
  if (!in)
    return make_error("cannot read file \"" + std::string(value) + "\": " + std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  return Result<std::string>(boost::system::in_place_value, ss.str());
}

} // namespace turnpike::tls
