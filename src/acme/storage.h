#pragma once
// What a certificate resolver keeps between runs, and where: the storage interface (the file
// backend here; shared backends such as etcd or Redis implement the same interface) and the data
// in Traefik's acme.json shape.
//
// acme.json is Traefik's exact format (a map from resolver name to {Account, Certificates}), so
// a Traefik file is read as is and Traefik can read ours. Turnpike's own additions (orders in
// progress, the issuance ledger) live under a "Turnpike" member of each resolver's object, which
// Traefik ignores. Members Turnpike does not know are kept as they were when the file is written
// back.
//
// Threading: a Storage is used by the ACME thread pool (blocking I/O) and, once at start-up,
// by the control thread to read what to serve before anything is ordered. Implementations are
// thread-safe.

#include <cstdint>
#include <functional>
#include <ctime>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"

namespace turnpike::acme {

struct StoredAccount {
  std::string email;
  nlohmann::ordered_json registration;  // {"body": {...}, "uri": "..."}; null before registering
  std::string private_key;              // DER (PKCS#1 for Traefik's RSA account keys)
  std::string key_type;                 // Traefik's KeyType as read ("4096"); kept, not used

  std::string uri() const;
};

struct StoredCertificate {
  std::string main;
  std::vector<std::string> sans;
  std::string certificate;  // PEM chain (leaf first)
  std::string key;          // PEM private key
  std::string store = "default";

  // main then sans, as ordered.
  std::vector<std::string> domains() const;
};

// An order created but not finished: resumed after a restart instead of ordering again. The
// certificate key is stored with it because the CSR sent at finalization is signed with it.
struct PendingOrder {
  std::vector<std::string> domains;
  std::string url;
  std::string key;  // PEM
  std::time_t created = 0;
};

// Issuance history of one domain set (the sorted, lower-cased names joined by ','), persisted so
// that restarts cannot reset the rate-limit safety (see ledger.h).
struct LedgerEntry {
  int failures = 0;                  // consecutive failed attempts
  std::time_t next_attempt = 0;      // no new order before this time (0 = now)
  std::time_t last_attempt = 0;
  bool attempt_open = false;         // an attempt started and has no outcome yet
  int interrupted = 0;               // attempts cut short by a restart before any order existed
  std::vector<std::time_t> issued;   // issuance times within the duplicate window
  std::string last_error;
};

struct ResolverData {
  std::optional<StoredAccount> account;
  std::vector<StoredCertificate> certificates;
  std::vector<PendingOrder> orders;
  std::map<std::string, LedgerEntry> ledger;  // by domain-set key
  // Members of the resolver's object Turnpike does not know, written back unchanged.
  nlohmann::ordered_json unknown = nlohmann::ordered_json::object();
};

// Traefik's JSON <-> ResolverData. Empty certificate or key entries are dropped (Traefik). Errors
// name the member at fault.
Result<ResolverData> resolver_from_json(const nlohmann::ordered_json& j);
nlohmann::ordered_json resolver_to_json(const ResolverData& data);

// A challenge proof shared with the other instances of a cluster (distributedAcme): whichever
// instance the CA reaches answers it. TLS-ALPN-01 certificates are derived from the key
// authorization by each instance (RFC 8737: the certificate only has to carry its digest).
struct SharedChallenge {
  std::string type;  // "http-01" or "tls-alpn-01"
  std::string domain;
  std::string token;
  std::string key_authorization;
};

// A cluster lock held by this instance (Storage::lock). Released when destroyed.
class StorageLock {
 public:
  virtual ~StorageLock() = default;
  // False once the lock was lost (not renewed in time, the store unreachable for too long).
  virtual bool held() const = 0;
};

// What a resolver wants to hear about changes other instances make (Storage::follow). Called on
// a thread of the storage's own, never with the storage's locks held.
struct StorageFollower {
  // The resolver's data changed in the store (or must be re-read after a reconnection).
  std::function<void()> changed;
  // A shared challenge appeared (`present` true) or went away.
  std::function<void(const SharedChallenge&, bool present)> challenge;
};

class Storage {
 public:
  virtual ~Storage() = default;
  // For messages: "acme.json", "etcd://...".
  virtual std::string describe() const = 0;
  // A resolver's data; empty data when the resolver has nothing stored yet.
  virtual Result<ResolverData> load(const std::string& resolver) = 0;
  // Records a resolver's new data in memory, in call order, without I/O; returns a ticket for
  // flush(). Callers stage under their own lock (so versions are staged in order) and flush after
  // releasing it.
  virtual uint64_t stage(const std::string& resolver, const ResolverData& data) = 0;
  // Makes everything staged up to `ticket` durable: when flush() returns without error a crash
  // cannot lose it, and a crash during the write leaves the previous version intact. Blocking.
  // Concurrent callers share writes (group commit), so 50 orders finishing together cost a few
  // file writes, not 50.
  virtual Result<void> flush(uint64_t ticket) = 0;
  // stage + flush.
  Result<void> save(const std::string& resolver, const ResolverData& data) {
    return flush(stage(resolver, data));
  }

  // ---- Cluster coordination. A storage one process owns (the file) needs none of it: the
  // defaults grant every lock and share nothing. Shared storages (kv_storage.h) implement them.

  // True when several instances share the storage.
  virtual bool shared() const { return false; }
  // Takes the cluster-wide lock `name` of a resolver (one per domain set: "order/<set key>"),
  // renewed in the background until the returned lock is destroyed. nullptr: another instance
  // holds it. An error: the store cannot be reached (then no order may start). Blocking.
  virtual Result<std::unique_ptr<StorageLock>> lock(const std::string& resolver,
                                                    const std::string& name);
  // Starts following the changes other instances make to a resolver's data; once per resolver.
  virtual void follow(const std::string& resolver, StorageFollower follower) {
    (void)resolver;
    (void)follower;
  }
  // Publishes a challenge proof to the other instances; returns once they can be expected to
  // have it. Blocking.
  virtual Result<void> share_challenge(const std::string& resolver, const SharedChallenge& c) {
    (void)resolver;
    (void)c;
    return {};
  }
  virtual void unshare_challenge(const std::string& resolver, const SharedChallenge& c) {
    (void)resolver;
    (void)c;
  }
  // Stops background work (watches, lock renewals); called before the storage is destroyed.
  virtual void stop() {}
};

struct FileStorageOptions {
  // Accept a file readable or writable by group or others (Traefik refuses it). Writes then
  // keep the file's mode instead of forcing 0600.
  bool insecure_permissions = false;
};

// acme.json. Created with mode 0600 when missing. Several resolvers may share one file: they share
// one FileStorage (see FileStorage::open), which rewrites the whole file on every save.
class FileStorage final : public Storage {
 public:
  // Opens (or creates) the file and reads it. Refuses a file with group/other permission bits
  // unless allowed, with Traefik's message; refuses a file that is not valid JSON, naming the
  // problem (the file is never overwritten then).
  static Result<std::shared_ptr<FileStorage>> open(const std::string& path,
                                                   FileStorageOptions options = {});

  std::string describe() const override { return path_; }
  Result<ResolverData> load(const std::string& resolver) override;
  uint64_t stage(const std::string& resolver, const ResolverData& data) override;
  Result<void> flush(uint64_t ticket) override;

  // The resolver names present in the file.
  std::vector<std::string> resolvers() const;

 private:
  FileStorage(std::string path, FileStorageOptions options) : path_(std::move(path)), options_(options) {}

  std::string path_;
  FileStorageOptions options_;
  mutable std::mutex mu_;
  std::condition_variable written_;
  nlohmann::ordered_json doc_ = nlohmann::ordered_json::object();
  uint64_t staged_ = 0;      // tickets handed out
  uint64_t durable_ = 0;     // every ticket <= durable_ is on disk
  uint64_t failed_upto_ = 0; // the last write, covering tickets <= failed_upto_, failed
  Error failure_;
  bool writing_ = false;
};

// Reads an acme.json without changing anything (no creation, no permission check): every
// resolver's data by name. For `turnpike certs`.
Result<std::map<std::string, ResolverData>> read_storage_file(const std::string& path);

// Writes `content` to `path` so that a crash leaves either the old or the new file: a temporary
// file in the same directory (mode `mode`), fsync, rename over `path`, fsync of the directory.
Result<void> write_file_atomically(const std::string& path, std::string_view content, unsigned mode);

// The key of a domain set in the ledger: sorted, lower-cased, unique names joined by ','.
std::string domain_set_key(const std::vector<std::string>& domains);

}  // namespace turnpike::acme
