#pragma once
// The kubernetesIngress (objects named `@kubernetes`), kubernetesCRD (`@kubernetescrd`) and
// kubernetesGateway (`@kubernetesgateway`, Gateway API: gateway.h) providers. Both follow the resources they need with informers (kube_client.h: list + watch,
// bookmarks, resourceVersion resume, 410 Gone re-list, backoff while the API server is away),
// and rebuild their whole configuration (ingress.h, crd.h, gateway.h) when any of them changes. A burst of
// watch events is coalesced: the rebuild runs on the provider's thread as soon as the previous
// one is done, with the latest state of every resource. Nothing is published before every
// informer has listed once (a half-synced cluster would withdraw routes that exist).
//
// Threads: provider.h; informers and the rebuild run on the provider's own threads.

#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "common/asio_types.h"
#include "config/static_config.h"
#include "provider/kubernetes/gateway.h"
#include "provider/kubernetes/ingress.h"
#include "provider/kubernetes/kube_client.h"
#include "provider/provider.h"
#include "provider/source_thread.h"

namespace turnpike::provider {

class KubernetesProvider : public Provider {
public:
  enum class Kind { kIngress, kCrd, kGateway };
  // `entry_points`: the static TCP entrypoints and their ports (Gateway listeners are matched to
  // entrypoints by port); only the Gateway provider reads them.
  KubernetesProvider(Kind kind, config::KubernetesProviderConfig options,
                     std::vector<kubernetes::EntryPointPort> entry_points = {});
  ~KubernetesProvider() override;

  std::string_view name() const override;
  // Errors: no way to reach an API server (no endpoint, not in a cluster, no KUBECONFIG).
  Result<void> start(turnpike::Executor executor, Publish publish) override;
  void stop() override;

private:
  void loop(SourceThread& t);
  kubernetes::BuiltConfig build() const;

  Kind kind_;
  config::KubernetesProviderConfig options_;
  std::vector<kubernetes::EntryPointPort> entry_points_;
  std::vector<std::unique_ptr<kubernetes::Informer>> informers_;
  // Gateway API status write-back (kubernetesGateway only), on the provider's thread.
  std::optional<kubernetes::ClusterAccess> access_;
  std::unique_ptr<SourceClient> status_client_;
  std::unique_ptr<SourceThread> thread_;
};

} // namespace turnpike::provider
