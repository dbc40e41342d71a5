#pragma once
// Reading Kubernetes resources for the kubernetesIngress and kubernetesCRD providers: where the
// API server is and how to authenticate (ClusterAccess), and one Informer per resource that
// keeps a local copy of its objects with the real API's list + watch protocol:
//   - list (paged with limit/continue), remember metadata.resourceVersion;
//   - watch from that resourceVersion with allowWatchBookmarks: ADDED / MODIFIED / DELETED
//     update the copy, BOOKMARK advances the resourceVersion, an ERROR with code 410 (Gone: the
//     server compacted its history) re-lists; a stream that ends (timeoutSeconds, server
//     restart) is resumed from the last resourceVersion; failures back off (100 ms to 10 s) and
//     the copy, hence the routes, stays as it was meanwhile.
// Each informer runs on its own thread (a watch is a long-lived blocking stream) and calls
// `on_change` after every change to its copy.
//
// Threads: Informer::start/stop on the provider's thread; snapshot() from any thread.

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "config/static_config.h"
#include "provider/source_client.h"

namespace turnpike::provider::kubernetes {

// Where the API server is and how to talk to it.
struct ClusterAccess {
  std::string server; // https://10.0.0.1:443, no trailing slash
  std::string token;  // bearer token; empty = none
  config::ProviderClientTls tls;
  std::string source; // "endpoint", "in-cluster", "kubeconfig <path>" (for logs)

  // Traefik's order: `endpoint` (with `token`, `certAuthFilePath`); else in-cluster
  // (KUBERNETES_SERVICE_HOST/PORT and the service account's token and CA); else $KUBECONFIG
  // (current context: server, certificate-authority[-data], insecure-skip-tls-verify, token,
  // client-certificate[-data]/client-key[-data]).
  static Result<ClusterAccess> resolve(const config::KubernetesProviderConfig& options);
};

// One watched resource: "/apis/networking.k8s.io/v1" + "ingresses".
struct ResourceType {
  std::string group_version_path; // "/api/v1", "/apis/traefik.io/v1alpha1"
  std::string plural;             // "ingresses"
  // A resource the cluster may not have (a CRD not installed) or the account may not read: while
  // the API server answers its list 404 or 403, the informer is synced with no objects and asks
  // again every 30 s.
  bool optional = false;
};

// Objects by "namespace/name" (cluster-scoped: "name").
using ObjectMap = std::map<std::string, nlohmann::json>;

class Informer {
public:
  Informer(ClusterAccess access, ResourceType type, std::vector<std::string> namespaces,
           std::string label_selector, std::function<void()> on_change);
  ~Informer();
  Informer(const Informer&) = delete;
  Informer& operator=(const Informer&) = delete;

  void start();
  void stop();

  // True once the first list succeeded (before that the copy is not the cluster's state).
  bool synced() const { return synced_; }
  ObjectMap snapshot() const;
  const ResourceType& type() const { return type_; }

private:
  void run();
  // One namespace ("" = all): list then watch until an error; false when stopped.
  // `not_served`: the API server answered 404 or 403 (only reported for optional resources).
  Result<void> list(const std::string& ns, std::string& resource_version, ObjectMap& out,
                    bool& not_served);
  Result<void> watch(const std::string& ns, std::string& resource_version, bool& gone);
  std::string url(const std::string& ns, const std::string& query) const;
  SourceClient& client_for(const std::string& ns);
  SourceRequest request(std::string url) const;

  ClusterAccess access_;
  ResourceType type_;
  std::vector<std::string> namespaces_;
  std::string label_selector_;
  std::function<void()> on_change_;
  mutable std::mutex mu_;
  ObjectMap objects_;
  std::atomic<bool> synced_{false};
  std::vector<std::unique_ptr<SourceClient>> clients_; // one per namespace watch
  std::vector<std::thread> threads_;
  std::atomic<bool> stopped_{false};
};

std::string object_key(const nlohmann::json& obj);

// A request to the API server at `url` with the access's credentials.
SourceRequest api_request(const ClusterAccess& access, std::string url);

// PUT `object` to `path` (an object's status subresource: ".../httproutes/x/status").
Result<void> replace_status(const ClusterAccess& access, SourceClient& client,
                            const std::string& path, const nlohmann::json& object);

} // namespace turnpike::provider::kubernetes
