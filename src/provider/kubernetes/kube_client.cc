#include "provider/kubernetes/kube_client.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "common/log.h"
#include "common/strings.h"
#include "config/tree/node.h"
#include "provider/kubernetes/objects.h"
#include "provider/source_thread.h"

namespace turnpike::provider::kubernetes {

namespace {

constexpr const char* kServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount";
// A watch is re-opened at least this often (the API server's own limit is 30-60 minutes); the
// stream may end earlier, which only costs a resume.
constexpr int kWatchTimeoutSeconds = 300;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A scalar of a kubeconfig map by (case-sensitive, kubeconfig keys are exact) name.
std::string kv(const config::Node* map, std::string_view key) {
  if (!map || !map->is_map())
    return {};
  for (const auto& [k, v] : map->entries())
    if (k == key && v.is_scalar())
      return v.text();
  return {};
}

const config::Node* child(const config::Node* map, std::string_view key) {
  if (!map || !map->is_map())
    return nullptr;
  for (const auto& [k, v] : map->entries())
    if (k == key)
      return &v;
  return nullptr;
}

// The entry of a kubeconfig list (clusters, users, contexts) named `name`, its inner map.
const config::Node* named(const config::Node* root, std::string_view list, std::string_view name,
                          std::string_view inner) {
  const config::Node* l = child(root, list);
  if (!l || !l->is_list())
    return nullptr;
  for (const auto& item : l->items())
    if (kv(&item, "name") == name)
      return child(&item, inner);
  return nullptr;
}

Result<ClusterAccess> from_kubeconfig(const std::string& path) {
  auto tree = config::load_file(path);
  if (!tree) {
    // load_file picks the parser by extension; kubeconfig files usually have none.
    auto text = read_file(path);
    if (text.empty())
      return make_error("kubeconfig " + path + ": cannot read it");
    tree = config::parse_yaml(text, path);
    if (!tree)
      return tree.error();
  }
  const config::Node* root = &*tree;
  std::string ctx_name = kv(root, "current-context");
  const config::Node* ctx = named(root, "contexts", ctx_name, "context");
  if (!ctx)
    return make_error("kubeconfig " + path + ": no current context");
  const config::Node* cluster = named(root, "clusters", kv(ctx, "cluster"), "cluster");
  const config::Node* user = named(root, "users", kv(ctx, "user"), "user");
  if (!cluster)
    return make_error("kubeconfig " + path + ": the context's cluster is missing");
  ClusterAccess a;
  a.source = "kubeconfig " + path;
  a.server = kv(cluster, "server");
  if (auto ca = kv(cluster, "certificate-authority-data"); !ca.empty())
    a.tls.ca = base64_decode(ca);
  else
    a.tls.ca = kv(cluster, "certificate-authority");
  a.tls.insecure_skip_verify = kv(cluster, "insecure-skip-tls-verify") == "true";
  a.token = kv(user, "token");
  if (auto f = kv(user, "tokenFile"); a.token.empty() && !f.empty())
    a.token = std::string(trim(read_file(f)));
  if (auto c = kv(user, "client-certificate-data"); !c.empty())
    a.tls.cert = base64_decode(c);
  else
    a.tls.cert = kv(user, "client-certificate");
  if (auto k = kv(user, "client-key-data"); !k.empty())
    a.tls.key = base64_decode(k);
  else
    a.tls.key = kv(user, "client-key");
  return a;
}

} // namespace

Result<ClusterAccess> ClusterAccess::resolve(const config::KubernetesProviderConfig& o) {
  ClusterAccess a;
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  const char* kubeconfig = std::getenv("KUBECONFIG");
  if (!o.endpoint.empty()) {
    a.source = "endpoint";
    a.server = o.endpoint;
    a.token = o.token;
    a.tls.ca = o.cert_auth_file_path;
  } else if (host && port && *host && *port) {
    a.source = "in-cluster";
    std::string h = host;
    a.server = "https://" + (h.find(':') != std::string::npos ? "[" + h + "]" : h) + ":" + port;
    a.token = o.token.empty()
                  ? std::string(trim(read_file(std::string(kServiceAccountDir) + "/token")))
                  : o.token;
    a.tls.ca = o.cert_auth_file_path.empty() ? std::string(kServiceAccountDir) + "/ca.crt"
                                             : o.cert_auth_file_path;
  } else if (kubeconfig && *kubeconfig) {
    auto k = from_kubeconfig(kubeconfig);
    if (!k)
      return k.error();
    a = std::move(*k);
    if (!o.token.empty())
      a.token = o.token;
  } else {
    return make_error("no endpoint, not in a cluster (KUBERNETES_SERVICE_HOST) and no KUBECONFIG");
  }
  while (a.server.ends_with('/'))
    a.server.pop_back();
  if (!a.server.starts_with("http://") && !a.server.starts_with("https://"))
    return make_error("API server \"" + a.server + "\": expected an http:// or https:// URL");
  return a;
}

std::string object_key(const nlohmann::json& obj) {
  const auto& md = field(obj, "metadata");
  std::string ns = str(md, "namespace");
  std::string name = str(md, "name");
  return ns.empty() ? name : ns + "/" + name;
}

Informer::Informer(ClusterAccess access, ResourceType type, std::vector<std::string> namespaces,
                   std::string label_selector, std::function<void()> on_change)
    : access_(std::move(access)), type_(std::move(type)), namespaces_(std::move(namespaces)),
      label_selector_(std::move(label_selector)), on_change_(std::move(on_change)) {
  if (namespaces_.empty())
    namespaces_.push_back("");
}

Informer::~Informer() {
  stop();
}

void Informer::start() {
  // One list+watch per namespace (Traefik watches each configured namespace), each with its
  // own client and thread; their objects share the map (keys include the namespace).
  for (size_t i = 0; i < namespaces_.size(); ++i)
    clients_.push_back(std::make_unique<SourceClient>());
  for (size_t i = 0; i < namespaces_.size(); ++i)
    threads_.emplace_back([this, i] {
      const std::string ns = namespaces_[i];
      SourceClient& client = *clients_[i];
      auto log = log::get("kubernetes");
      Backoff backoff;
      std::string last_error;
      std::string rv;
      auto failed = [&](const std::string& e) {
        if (e != last_error)
          log->error("{}{}: {}; the routes stay as they are, retrying", type_.plural,
                     ns.empty() ? "" : " in " + ns, e);
        last_error = e;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        auto d = backoff.next();
        // Sleep in small steps so that stop() is prompt.
        for (auto end = std::chrono::steady_clock::now() + d;
             !stopped_ && std::chrono::steady_clock::now() < end;)
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
      };
      (void)client;
      bool absent_logged = false;
      while (!stopped_) {
        ObjectMap listed;
        bool not_served = false;
        auto l = list(ns, rv, listed, not_served);
        if (stopped_)
          break;
        if (!l && not_served) {
          // An optional resource this cluster does not serve: nothing of it exists.
          if (!absent_logged)
            log->info("{}: not served by the API server, or not permitted to this account ({}): "
                      "none",
                      type_.plural, l.error().message);
          absent_logged = true;
          {
            std::lock_guard lock(mu_);
            objects_.clear();
          }
          if (!synced_.exchange(true))
            on_change_();
          for (auto end = std::chrono::steady_clock::now() + std::chrono::seconds(30);
               !stopped_ && std::chrono::steady_clock::now() < end;)
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
          continue;
        }
        if (!l) {
          failed(l.error().message);
          continue;
        }
        {
          std::lock_guard lock(mu_);
          // Replace this namespace's objects with the list.
          for (auto it = objects_.begin(); it != objects_.end();) {
            bool mine = ns.empty() || it->first.starts_with(ns + "/");
            it = mine ? objects_.erase(it) : std::next(it);
          }
          for (auto& [k, v] : listed)
            objects_[k] = std::move(v);
        }
        if (!last_error.empty())
          log->info("{}: connected to {} again", type_.plural, access_.server);
        last_error.clear();
        backoff.reset();
        synced_ = true;
        on_change_();
        // Watch, resuming from the last resourceVersion, until 410 Gone or an error.
        for (;;) {
          bool gone = false;
          auto w = watch(ns, rv, gone);
          if (stopped_)
            break;
          if (gone) {
            log->info("{}: resourceVersion {} expired (410 Gone); listing again", type_.plural, rv);
            break;
          }
          if (!w) {
            failed(w.error().message);
            break; // list again: events may have been missed while away
          }
          // The stream ended normally (timeoutSeconds): resume.
        }
      }
    });
}

void Informer::stop() {
  stopped_ = true;
  for (auto& c : clients_)
    c->stop();
  for (auto& t : threads_)
    if (t.joinable())
      t.join();
  threads_.clear();
}

ObjectMap Informer::snapshot() const {
  std::lock_guard lock(mu_);
  return objects_;
}

SourceClient& Informer::client_for(const std::string& ns) {
  size_t idx = 0;
  for (size_t i = 0; i < namespaces_.size(); ++i)
    if (namespaces_[i] == ns)
      idx = i;
  return *clients_[idx];
}

std::string Informer::url(const std::string& ns, const std::string& query) const {
  std::string u = access_.server + type_.group_version_path;
  if (!ns.empty())
    u += "/namespaces/" + url_encode(ns);
  u += "/" + type_.plural + "?" + query;
  if (!label_selector_.empty())
    u += "&labelSelector=" + url_encode(label_selector_);
  return u;
}

SourceRequest Informer::request(std::string u) const {
  return api_request(access_, std::move(u));
}

SourceRequest api_request(const ClusterAccess& access, std::string url) {
  SourceRequest r;
  r.url = std::move(url);
  r.tls = &access.tls;
  if (!access.token.empty())
    r.headers.emplace_back("Authorization", "Bearer " + access.token);
  r.headers.emplace_back("Accept", "application/json");
  return r;
}

Result<void> replace_status(const ClusterAccess& access, SourceClient& client,
                            const std::string& path, const nlohmann::json& object) {
  SourceRequest r = api_request(access, access.server + path);
  r.method = "PUT";
  r.body = object.dump();
  r.headers.emplace_back("Content-Type", "application/json");
  r.timeout = std::chrono::seconds(10);
  auto resp = client.fetch(r);
  if (!resp)
    return resp.error();
  if (resp->status != 200 && resp->status != 201)
    return make_error("PUT " + r.url + ": status " + std::to_string(resp->status) + ": " +
                      resp->body.substr(0, 300));
  return {};
}

Result<void> Informer::list(const std::string& ns, std::string& resource_version, ObjectMap& out,
                            bool& not_served) {
  SourceClient& client = client_for(ns);
  std::string cont;
  do {
    std::string q = "limit=500";
    if (!cont.empty())
      q += "&continue=" + url_encode(cont);
    SourceRequest r = request(url(ns, q));
    r.timeout = std::chrono::seconds(30);
    auto resp = client.fetch(r);
    if (!resp)
      return resp.error();
    not_served = type_.optional && (resp->status == 404 || resp->status == 403);
    if (resp->status != 200)
      return make_error("GET " + r.url + ": status " + std::to_string(resp->status) + ": " +
                        resp->body.substr(0, 300));
    auto j = nlohmann::json::parse(resp->body, nullptr, false);
    if (j.is_discarded() || !j.is_object())
      return make_error("GET " + r.url + ": not JSON");
    const auto& md = field(j, "metadata");
    resource_version = str(md, "resourceVersion");
    cont = str(md, "continue");
    for (const auto& item : field(j, "items"))
      if (item.is_object())
        out[object_key(item)] = item;
  } while (!cont.empty());
  return {};
}

Result<void> Informer::watch(const std::string& ns, std::string& resource_version, bool& gone) {
  SourceClient& client = client_for(ns);
  SourceRequest r = request(url(
      ns, "watch=true&allowWatchBookmarks=true&resourceVersion=" + url_encode(resource_version) +
              "&timeoutSeconds=" + std::to_string(kWatchTimeoutSeconds)));
  std::string pending;
  std::string error;
  auto streamed = client.stream(r, [&](std::string_view data) {
    bool changed = false;
    bool ended = false;
    for_each_json_line(pending, data, [&](const nlohmann::json& ev) {
      if (ended)
        return;
      // Untrusted input: read with field()/str(), which never throw.
      std::string type = str(ev, "type");
      const auto& obj = field(ev, "object");
      if (type == "ERROR") {
        if (field(obj, "code") == 410) {
          gone = true;
        } else {
          error = "watch error: " + (str(obj, "message").empty() ? obj.dump() : str(obj, "message"));
        }
        ended = true;
        return;
      }
      std::string rv = str(field(obj, "metadata"), "resourceVersion");
      if (!rv.empty())
        resource_version = rv;
      if (type == "BOOKMARK")
        return;
      std::lock_guard lock(mu_);
      if (!obj.is_object())
        return;
      if (type == "ADDED" || type == "MODIFIED") {
        objects_[object_key(obj)] = obj;
        changed = true;
      } else if (type == "DELETED") {
        changed |= objects_.erase(object_key(obj)) > 0;
      }
    });
    if (changed)
      on_change_();
    if (ended)
      return false;
    return !stopped_.load();
  });
  if (gone)
    return {};
  if (!error.empty())
    return make_error(error);
  if (!streamed)
    return streamed.error();
  return {};
}

} // namespace turnpike::provider::kubernetes
