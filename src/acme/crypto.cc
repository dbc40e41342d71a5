#include "acme/crypto.h"

#include <cstring>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/strings.h"

namespace turnpike::acme {
namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;
struct BnFree {
  void operator()(BIGNUM* b) const { BN_free(b); }
};
using BnPtr = std::unique_ptr<BIGNUM, BnFree>;

BioPtr mem_bio(std::string_view data) {
  return BioPtr(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
}

std::string bio_string(BIO* bio) {
  char* p = nullptr;
  long n = BIO_get_mem_data(bio, &p);
  return std::string(p, n > 0 ? size_t(n) : 0);
}

std::string bn_bytes(const BIGNUM* bn, int pad = 0) {
  int n = pad > 0 ? pad : BN_num_bytes(bn);
  std::string out(size_t(n), '\0');
  BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), n);
  return out;
}

// Field size in bytes of an EC key (32 for P-256, 48 for P-384); 0 for other keys.
int ec_field_bytes(EVP_PKEY* key) {
  if (EVP_PKEY_get_base_id(key) != EVP_PKEY_EC) return 0;
  return (EVP_PKEY_get_bits(key) + 7) / 8;
}

const EVP_MD* digest_for(EVP_PKEY* key) {
  return ec_field_bytes(key) == 48 ? EVP_sha384() : EVP_sha256();
}

std::time_t asn1_time(const ASN1_TIME* t) {
  struct tm tm {};
  if (!t || !ASN1_TIME_to_tm(t, &tm)) return 0;
  return timegm(&tm);
}

X509Ptr read_leaf(std::string_view pem) {
  auto bio = mem_bio(pem);
  return X509Ptr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

Result<X509_EXTENSION*> make_san_extension(const std::vector<std::string>& dns,
                                           const std::vector<std::string>& emails) {
  GENERAL_NAMES* names = sk_GENERAL_NAME_new_null();
  auto add = [&](int type, const std::string& value) {
    GENERAL_NAME* gn = GENERAL_NAME_new();
    ASN1_IA5STRING* s = ASN1_IA5STRING_new();
    ASN1_STRING_set(s, value.data(), static_cast<int>(value.size()));
    GENERAL_NAME_set0_value(gn, type, s);
    sk_GENERAL_NAME_push(names, gn);
  };
  for (const auto& d : dns) add(GEN_DNS, d);
  for (const auto& e : emails) add(GEN_EMAIL, e);
  X509_EXTENSION* ext = X509V3_EXT_i2d(NID_subject_alt_name, 0, names);
  GENERAL_NAMES_free(names);
  if (!ext) return make_error("subjectAltName: " + openssl_error_text("encoding failed"));
  return ext;
}

}  // namespace

std::string openssl_error_text(std::string_view fallback) {
  unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return std::string(fallback);
  char buf[256];
  ERR_error_string_n(code, buf, sizeof(buf));
  return buf;
}

std::optional<KeyType> parse_key_type(std::string_view text) {
  static constexpr std::pair<std::string_view, KeyType> kTypes[] = {
      {"EC256", KeyType::kEC256},     {"EC384", KeyType::kEC384},
      {"RSA2048", KeyType::kRSA2048}, {"RSA4096", KeyType::kRSA4096},
      {"RSA8192", KeyType::kRSA8192}};
  for (const auto& [name, type] : kTypes)
    if (iequals(name, text)) return type;
  return std::nullopt;
}

std::string_view key_type_name(KeyType type) {
  switch (type) {
    case KeyType::kEC256: return "EC256";
    case KeyType::kEC384: return "EC384";
    case KeyType::kRSA2048: return "RSA2048";
    case KeyType::kRSA4096: return "RSA4096";
    case KeyType::kRSA8192: return "RSA8192";
  }
  return "";
}

// ---- keys --------------------------------------------------------------------------------------

void PrivateKey::Free::operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }

PrivateKey::PrivateKey(const PrivateKey& other) : key_(other.key_) {}
PrivateKey& PrivateKey::operator=(const PrivateKey& other) {
  key_ = other.key_;
  return *this;
}

Result<PrivateKey> PrivateKey::generate(KeyType type) {
  EVP_PKEY* k = nullptr;
  switch (type) {
    case KeyType::kEC256: k = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"); break;
    case KeyType::kEC384: k = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384"); break;
    case KeyType::kRSA2048: k = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048}); break;
    case KeyType::kRSA4096: k = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{4096}); break;
    case KeyType::kRSA8192: k = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{8192}); break;
  }
  if (!k) return make_error("key generation failed: " + openssl_error_text("unknown error"));
  return PrivateKey(k);
}

Result<PrivateKey> PrivateKey::from_pem(std::string_view pem) {
  auto bio = mem_bio(pem);
  EVP_PKEY* k = PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr);
  if (!k) return make_error("invalid PEM private key: " + openssl_error_text("no key found"));
  return PrivateKey(k);
}

Result<PrivateKey> PrivateKey::from_der(std::string_view der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  EVP_PKEY* k = d2i_AutoPrivateKey(nullptr, &p, static_cast<long>(der.size()));
  if (!k) return make_error("invalid DER private key: " + openssl_error_text("cannot decode"));
  return PrivateKey(k);
}

bool PrivateKey::is_rsa() const { return key_ && EVP_PKEY_get_base_id(key_.get()) == EVP_PKEY_RSA; }

std::string PrivateKey::to_pem() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey_traditional(bio.get(), key_.get(), nullptr, nullptr, 0, nullptr,
                                       nullptr);
  return bio_string(bio.get());
}

std::string PrivateKey::to_der() const {
  unsigned char* out = nullptr;
  int n = i2d_PrivateKey(key_.get(), &out);
  if (n <= 0) return {};
  std::string der(reinterpret_cast<char*>(out), size_t(n));
  OPENSSL_free(out);
  return der;
}

nlohmann::json PrivateKey::jwk() const {
  nlohmann::json j;
  EVP_PKEY* k = key_.get();
  if (is_rsa()) {
    BIGNUM* n = nullptr;
    BIGNUM* e = nullptr;
    EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_N, &n);
    EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_E, &e);
    BnPtr np(n), ep(e);
    j["e"] = base64url(bn_bytes(e));
    j["kty"] = "RSA";
    j["n"] = base64url(bn_bytes(n));
  } else {
    BIGNUM* x = nullptr;
    BIGNUM* y = nullptr;
    EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_X, &x);
    EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_Y, &y);
    BnPtr xp(x), yp(y);
    int size = ec_field_bytes(k);
    j["crv"] = size == 48 ? "P-384" : "P-256";
    j["kty"] = "EC";
    j["x"] = base64url(bn_bytes(x, size));
    j["y"] = base64url(bn_bytes(y, size));
  }
  return j;
}

std::string PrivateKey::thumbprint() const { return base64url(sha256(jwk().dump())); }

std::string_view PrivateKey::jws_alg() const {
  if (is_rsa()) return "RS256";
  return ec_field_bytes(key_.get()) == 48 ? "ES384" : "ES256";
}

Result<std::string> PrivateKey::sign(std::string_view data) const {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_PKEY* k = key_.get();
  std::string sig;
  size_t len = 0;
  bool ok = EVP_DigestSignInit(ctx, nullptr, digest_for(k), nullptr, k) == 1 &&
            EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(data.data()),
                           data.size()) == 1;
  if (ok) {
    sig.resize(len);
    ok = EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                        reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1;
    sig.resize(len);
  }
  EVP_MD_CTX_free(ctx);
  if (!ok) return make_error("signing failed: " + openssl_error_text("unknown error"));
  int size = ec_field_bytes(k);
  if (size == 0) return Result<std::string>(boost::system::in_place_value, std::move(sig));
  // JWS wants ECDSA signatures as fixed-size r||s, OpenSSL produces DER.
  const auto* p = reinterpret_cast<const unsigned char*>(sig.data());
  ECDSA_SIG* es = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size()));
  if (!es) return make_error("signing failed: bad ECDSA signature encoding");
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(es, &r, &s);
  std::string out = bn_bytes(r, size) + bn_bytes(s, size);
  ECDSA_SIG_free(es);
  return Result<std::string>(boost::system::in_place_value, std::move(out));
}

// ---- encodings ---------------------------------------------------------------------------------

namespace {
constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr char kB64Url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string encode64(std::string_view data, const char* alphabet, bool pad) {
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  size_t i = 0;
  auto byte = [&](size_t k) { return static_cast<unsigned char>(data[k]); };
  for (; i + 2 < data.size(); i += 3) {
    uint32_t v = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    out += alphabet[v & 63];
  }
  size_t rest = data.size() - i;
  if (rest == 1) {
    uint32_t v = byte(i) << 16;
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    if (pad) out += "==";
  } else if (rest == 2) {
    uint32_t v = (byte(i) << 16) | (byte(i + 1) << 8);
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    if (pad) out += '=';
  }
  return out;
}

std::optional<std::string> decode64(std::string_view text, bool url) {
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  std::string out;
  out.reserve(text.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    int v;
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
    else if (c >= '0' && c <= '9') v = c - '0' + 52;
    else if (c == (url ? '-' : '+')) v = 62;
    else if (c == (url ? '_' : '/')) v = 63;
    else if (!url && (c == '\n' || c == '\r')) continue;  // wrapped base64
    else return std::nullopt;
    acc = (acc << 6) | uint32_t(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  if (bits >= 6) return std::nullopt;  // a lone trailing character
  return out;
}
}  // namespace

std::string base64url(std::string_view data) { return encode64(data, kB64Url, false); }
std::optional<std::string> base64url_decode(std::string_view text) { return decode64(text, true); }
std::string base64(std::string_view data) { return encode64(data, kB64, true); }
std::optional<std::string> base64_decode(std::string_view text) { return decode64(text, false); }

std::string sha256(std::string_view data) {
  unsigned char md[32];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<char*>(md), len);
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), md, &len);
  return std::string(reinterpret_cast<char*>(md), len);
}

// ---- CSR ---------------------------------------------------------------------------------------

Result<std::string> make_csr(const PrivateKey& key, const std::vector<std::string>& domains,
                             bool common_name, const std::vector<std::string>& emails) {
  if (domains.empty()) return make_error("a certificate request needs at least one domain");
  X509_REQ* req = X509_REQ_new();
  X509_REQ_set_version(req, 0);
  // A CN is at most 64 characters (RFC 5280 ub-common-name); longer names go in SANs only.
  if (common_name && domains.front().size() <= 64) {
    X509_NAME* name = X509_REQ_get_subject_name(req);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(domains.front().c_str()), -1,
                               -1, 0);
  }
  auto san = make_san_extension(domains, emails);
  if (!san) {
    X509_REQ_free(req);
    return san.error();
  }
  STACK_OF(X509_EXTENSION)* exts = sk_X509_EXTENSION_new_null();
  sk_X509_EXTENSION_push(exts, *san);
  X509_REQ_add_extensions(req, exts);
  sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  X509_REQ_set_pubkey(req, key.get());
  if (X509_REQ_sign(req, key.get(), digest_for(key.get())) <= 0) {
    X509_REQ_free(req);
    return make_error("signing the certificate request failed: " + openssl_error_text("?"));
  }
  unsigned char* der = nullptr;
  int n = i2d_X509_REQ(req, &der);
  X509_REQ_free(req);
  if (n <= 0) return make_error("encoding the certificate request failed");
  std::string out(reinterpret_cast<char*>(der), size_t(n));
  OPENSSL_free(der);
  return Result<std::string>(boost::system::in_place_value, std::move(out));
}

// ---- certificates ------------------------------------------------------------------------------

std::vector<std::string> split_pem_chain(std::string_view pem) {
  static constexpr std::string_view kBegin = "-----BEGIN CERTIFICATE-----";
  static constexpr std::string_view kEnd = "-----END CERTIFICATE-----";
  std::vector<std::string> out;
  size_t pos = 0;
  while ((pos = pem.find(kBegin, pos)) != std::string_view::npos) {
    size_t end = pem.find(kEnd, pos);
    if (end == std::string_view::npos) break;
    end += kEnd.size();
    out.emplace_back(pem.substr(pos, end - pos));
    out.back() += '\n';
    pos = end;
  }
  return out;
}

Result<CertificateInfo> inspect_certificate(std::string_view pem) {
  X509Ptr x = read_leaf(pem);
  if (!x) return make_error("no PEM certificate: " + openssl_error_text("cannot parse"));
  CertificateInfo info;
  X509_NAME* subject = X509_get_subject_name(x.get());
  int idx = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (idx >= 0) {
    ASN1_STRING* s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, idx));
    unsigned char* utf8 = nullptr;
    int n = ASN1_STRING_to_UTF8(&utf8, s);
    if (n >= 0) {
      info.common_name.assign(reinterpret_cast<char*>(utf8), size_t(n));
      OPENSSL_free(utf8);
    }
  }
  auto* sans = static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(x.get(), NID_subject_alt_name, nullptr, nullptr));
  if (sans) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
      const GENERAL_NAME* gn = sk_GENERAL_NAME_value(sans, i);
      if (gn->type != GEN_DNS) continue;
      const ASN1_STRING* s = gn->d.dNSName;
      info.dns_names.push_back(
          to_lower(std::string_view(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                    size_t(ASN1_STRING_length(s)))));
    }
    GENERAL_NAMES_free(sans);
  }
  if (info.dns_names.empty() && !info.common_name.empty())
    info.dns_names.push_back(to_lower(info.common_name));
  info.not_before = asn1_time(X509_get0_notBefore(x.get()));
  info.not_after = asn1_time(X509_get0_notAfter(x.get()));
  const ASN1_INTEGER* serial = X509_get0_serialNumber(x.get());
  BnPtr bn(ASN1_INTEGER_to_BN(serial, nullptr));
  if (bn) {
    char* hex = BN_bn2hex(bn.get());
    info.serial_hex = to_lower(hex);
    OPENSSL_free(hex);
  }
  char issuer[512];
  X509_NAME_oneline(X509_get_issuer_name(x.get()), issuer, sizeof(issuer));
  info.issuer = issuer;
  const ASN1_OCTET_STRING* aki = X509_get0_authority_key_id(x.get());
  if (aki) {
    unsigned char* der = nullptr;
    int n = i2d_ASN1_INTEGER(serial, &der);
    if (n > 2) {
      // Skip the INTEGER tag and its length (short or long form).
      size_t hdr = 2;
      if (der[1] & 0x80) hdr += der[1] & 0x7f;
      std::string content(reinterpret_cast<char*>(der) + hdr, size_t(n) - hdr);
      info.ari_id =
          base64url(std::string_view(reinterpret_cast<const char*>(ASN1_STRING_get0_data(aki)),
                                     size_t(ASN1_STRING_length(aki)))) +
          "." + base64url(content);
    }
    OPENSSL_free(der);
  }
  return info;
}

std::string chain_top_issuer_cn(std::string_view pem_chain) {
  auto certs = split_pem_chain(pem_chain);
  if (certs.empty()) return "";
  X509Ptr top = read_leaf(certs.back());
  if (!top) return "";
  X509_NAME* issuer = X509_get_issuer_name(top.get());
  int idx = X509_NAME_get_index_by_NID(issuer, NID_commonName, -1);
  if (idx < 0) return "";
  unsigned char* utf8 = nullptr;
  int n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(issuer, idx)));
  if (n < 0) return "";
  std::string out(reinterpret_cast<char*>(utf8), size_t(n));
  OPENSSL_free(utf8);
  return out;
}

bool key_matches_certificate(const PrivateKey& key, std::string_view pem_chain) {
  X509Ptr x = read_leaf(pem_chain);
  if (!x || !key) return false;
  bool ok = X509_check_private_key(x.get(), key.get()) == 1;
  ERR_clear_error();
  return ok;
}

Result<PemPair> make_tls_alpn_certificate(std::string_view domain,
                                          std::string_view key_authorization) {
  auto key = PrivateKey::generate(KeyType::kEC256);
  if (!key) return key.error();
  X509Ptr x(X509_new());
  X509_set_version(x.get(), 2);
  unsigned char serial_bytes[16];
  RAND_bytes(serial_bytes, sizeof(serial_bytes));
  serial_bytes[0] &= 0x7f;
  BnPtr serial(BN_bin2bn(serial_bytes, sizeof(serial_bytes), nullptr));
  BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(x.get()));
  X509_gmtime_adj(X509_getm_notBefore(x.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x.get()), 7 * 24 * 3600);
  std::string cn(domain);
  X509_NAME* name = X509_get_subject_name(x.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(x.get(), name);
  X509_set_pubkey(x.get(), key->get());
  auto san = make_san_extension({cn}, {});
  if (!san) return san.error();
  X509_add_ext(x.get(), *san, -1);
  X509_EXTENSION_free(*san);
  // acmeIdentifier (1.3.6.1.5.5.7.1.31), critical: extnValue = DER OCTET STRING of the digest.
  std::string digest = sha256(key_authorization);
  std::string inner = std::string("\x04\x20", 2) + digest;
  ASN1_OBJECT* oid = OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1);
  ASN1_OCTET_STRING* value = ASN1_OCTET_STRING_new();
  ASN1_OCTET_STRING_set(value, reinterpret_cast<const unsigned char*>(inner.data()),
                        static_cast<int>(inner.size()));
  X509_EXTENSION* ext = X509_EXTENSION_create_by_OBJ(nullptr, oid, 1, value);
  ASN1_OBJECT_free(oid);
  ASN1_OCTET_STRING_free(value);
  if (!ext) return make_error("acmeIdentifier extension: " + openssl_error_text("?"));
  X509_add_ext(x.get(), ext, -1);
  X509_EXTENSION_free(ext);
  if (X509_sign(x.get(), key->get(), EVP_sha256()) <= 0)
    return make_error("signing the challenge certificate failed: " + openssl_error_text("?"));
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), x.get());
  return PemPair{bio_string(bio.get()), key->to_pem()};
}

}  // namespace turnpike::acme
