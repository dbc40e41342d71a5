#pragma once
// Traefik's KV key layout turned into the dynamic configuration tree every provider produces.
//
// A key under `rootKey` is a configuration path, `/`-separated, lists indexed ("0", "1"):
//   traefik/http/routers/web/rule                               Host(`a.test`)
//   traefik/http/routers/web/entryPoints/0                      web
//   traefik/http/services/app/loadBalancer/servers/0/url        http://10.0.0.1:80
//   traefik/http/middlewares/strip/stripPrefix/prefixes/0       /api
//   traefik/http/routers/web/tls                                true   (an empty section)
//   traefik/tls/certificates/0/certFile                         /c.pem
// Option names are case-insensitive (the decoder's rule); object names keep their case. Each
// scalar carries its key as its location, so a decoding error names the key at fault
// ("traefik/http/routers/web/rule: http.routers.web@etcd.rule: ...").
//
// The keys are grouped by object (`http/routers/web`, `tls/options/x`; `tls/certificates` is one
// object, a list): a change re-decodes only the objects whose keys changed, so applying one
// change to a store holding 10,000 routers validates one router, not 10,000. An object that does
// not decode is left out and reported (validate.h); the rest serves.
//
// Threads: not thread-safe; the provider's own thread owns it.

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "config/tree/node.h"
#include "kv/kv.h"

namespace turnpike::provider {

class KvConfig {
public:
  // `root_key`: "traefik" (no trailing '/'); `provider`: the name objects are qualified with.
  KvConfig(std::string root_key, std::string provider);

  // Replaces every key (a list after the watch was re-established). True when anything changed.
  bool reset(const std::vector<kv::Entry>& entries);
  // One key written or deleted. Keys outside `root_key/` are ignored. True when anything changed.
  bool put(std::string_view key, std::string_view value);
  bool erase(std::string_view key);

  struct Built {
    config::Node tree;               // the valid objects
    std::vector<std::string> errors; // one per object left out, naming its key(s)
    size_t decoded = 0;              // objects decoded by this build (the changed ones)
  };
  // The whole configuration; objects changed since the last build are decoded again.
  Built build();

  size_t key_count() const;

private:
  struct Object {
    std::vector<std::string> path;           // ["http", "routers", "web"]
    std::map<std::string, std::string> keys; // full key -> value
    bool dirty = true;
    config::Node node; // built from `keys` when valid
    std::vector<std::string> errors;
  };
  // The object a key belongs to ("http/routers/web"), or empty when the key is not ours.
  std::string object_of(std::string_view key, std::vector<std::string>* path) const;
  void rebuild(Object& o) const;

  std::string prefix_; // root_key + '/'
  std::string provider_;
  std::map<std::string, Object> objects_;
};

} // namespace turnpike::provider
