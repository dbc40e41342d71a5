#include "provider/kubernetes/kubernetes_provider.h"

#include <set>

#include "common/asio_types.h"
#include "common/log.h"
#include "provider/kubernetes/crd.h"

namespace turnpike::provider {

using kubernetes::ObjectMap;
using kubernetes::ResourceType;

namespace {

const ResourceType kIngresses{"/apis/networking.k8s.io/v1", "ingresses"};
const ResourceType kIngressClasses{"/apis/networking.k8s.io/v1", "ingressclasses"};
const ResourceType kServices{"/api/v1", "services"};
const ResourceType kSlices{"/apis/discovery.k8s.io/v1", "endpointslices"};
const ResourceType kSecrets{"/api/v1", "secrets"};
const std::string kCrd = "/apis/traefik.io/v1alpha1";
const std::string kGatewayApi = "/apis/gateway.networking.k8s.io/v1";

// The resources each provider follows, in the order build() reads them.
std::vector<ResourceType> resources(KubernetesProvider::Kind kind) {
  if (kind == KubernetesProvider::Kind::kIngress)
    return {kIngresses, kIngressClasses, kServices, kSlices, kSecrets};
  if (kind == KubernetesProvider::Kind::kGateway)
    return {{kGatewayApi, "gatewayclasses"},
            {kGatewayApi, "gateways"},
            {kGatewayApi, "httproutes"},
            {"/api/v1", "namespaces"},
            kServices,
            kSlices,
            kSecrets,
            {"/apis/gateway.networking.k8s.io/v1beta1", "referencegrants"},
            {kGatewayApi, "grpcroutes"},
            {"/api/v1", "configmaps", /*optional=*/true},
            {kGatewayApi, "backendtlspolicies", /*optional=*/true}};
  return {{kCrd, "ingressroutes"},
          {kCrd, "ingressroutetcps"},
          {kCrd, "ingressrouteudps"},
          {kCrd, "middlewares"},
          {kCrd, "middlewaretcps"},
          {kCrd, "traefikservices"},
          {kCrd, "tlsoptions"},
          {kCrd, "tlsstores"},
          {kCrd, "serverstransports"},
          kServices,
          kSlices,
          kSecrets};
}

// Cluster-scoped resources are listed cluster-wide whatever `namespaces` says.
bool cluster_scoped(const ResourceType& r) {
  return r.plural == "ingressclasses" || r.plural == "gatewayclasses" || r.plural == "namespaces";
}

} // namespace

KubernetesProvider::KubernetesProvider(Kind kind, config::KubernetesProviderConfig options,
                                       std::vector<kubernetes::EntryPointPort> entry_points)
    : kind_(kind), options_(std::move(options)), entry_points_(std::move(entry_points)) {}

KubernetesProvider::~KubernetesProvider() {
  stop();
}

std::string_view KubernetesProvider::name() const {
  switch (kind_) {
  case Kind::kIngress:
    return "kubernetes";
  case Kind::kCrd:
    return "kubernetescrd";
  case Kind::kGateway:
    break;
  }
  return "kubernetesgateway";
}

Result<void> KubernetesProvider::start(turnpike::Executor executor, Publish publish) {
  if (thread_)
    return make_error(std::string(name()) + " provider already started");
  auto access = kubernetes::ClusterAccess::resolve(options_);
  if (!access)
    return access.error().prefixed(kind_ == Kind::kIngress ? "providers.kubernetesIngress"
                                   : kind_ == Kind::kCrd   ? "providers.kubernetesCRD"
                                                           : "providers.kubernetesGateway");
  log::get("kubernetes")->info("{}: API server {} ({})", name(), access->server, access->source);
  if (kind_ == Kind::kGateway) {
    access_ = *access;
    status_client_ = std::make_unique<SourceClient>();
  }
  thread_ =
      std::make_unique<SourceThread>(std::string(name()), std::move(executor), std::move(publish));
  SourceThread* t = thread_.get();
  for (const auto& r : resources(kind_)) {
    // Only the objects the configuration comes from are filtered by labelSelector (Traefik);
    // Services, EndpointSlices and Secrets they refer to are not. The Gateway provider's selector
    // picks GatewayClasses (Traefik).
    bool selected = r.plural == "ingresses" || r.group_version_path == kCrd ||
                    r.plural == "gatewayclasses";
    informers_.push_back(std::make_unique<kubernetes::Informer>(
        *access, r, cluster_scoped(r) ? std::vector<std::string>{} : options_.namespaces,
        selected ? options_.label_selector : std::string(), [t] { t->notify(); }));
  }
  for (auto& i : informers_)
    i->start();
  thread_->start([this](SourceThread& st) { loop(st); });
  return {};
}

void KubernetesProvider::stop() {
  if (status_client_)
    status_client_->stop();
  for (auto& i : informers_)
    i->stop();
  if (thread_)
    thread_->stop();
}

void KubernetesProvider::loop(SourceThread& t) {
  auto log = log::get("kubernetes");
  bool waiting_logged = false;
  while (t.wait_notified(std::chrono::seconds(5))) {
    bool synced = true;
    for (const auto& i : informers_)
      synced = synced && i->synced();
    if (!synced) {
      if (!waiting_logged)
        log->debug("{}: waiting for every resource to be listed", name());
      waiting_logged = true;
      continue;
    }
    auto built = build();
    t.report(std::move(built.errors));
    t.publish(std::move(built.tree));
    // Our own status writes come back as watch events; the rebuild they cause finds the status
    // unchanged and writes nothing. A failed write (a conflict) is retried at the next change.
    for (const auto& w : built.status_writes) {
      auto r = kubernetes::replace_status(*access_, *status_client_, w.path, w.object);
      if (!r && !status_client_->stopped())
        log->warn("{}: status of {}: {}", name(), w.path, r.error().message);
    }
  }
}

kubernetes::BuiltConfig KubernetesProvider::build() const {
  std::vector<ObjectMap> s;
  for (const auto& i : informers_)
    s.push_back(i->snapshot());
  if (kind_ == Kind::kIngress) {
    kubernetes::IngressInputs in{std::move(s[0]), std::move(s[1]), std::move(s[2]), std::move(s[3]),
                                 std::move(s[4])};
    return kubernetes::build_ingress_configuration(in, options_);
  }
  if (kind_ == Kind::kGateway) {
    kubernetes::GatewayInputs in{std::move(s[0]), std::move(s[1]), std::move(s[2]), std::move(s[3]),
                                 std::move(s[4]), std::move(s[5]), std::move(s[6]), std::move(s[7]),
                                 std::move(s[8]), std::move(s[9]), std::move(s[10])};
    return kubernetes::build_gateway_configuration(in, options_, entry_points_);
  }
  kubernetes::CrdInputs in;
  in.ingress_routes = std::move(s[0]);
  in.ingress_route_tcps = std::move(s[1]);
  in.ingress_route_udps = std::move(s[2]);
  in.middlewares = std::move(s[3]);
  in.middleware_tcps = std::move(s[4]);
  in.traefik_services = std::move(s[5]);
  in.tls_options = std::move(s[6]);
  in.tls_stores = std::move(s[7]);
  in.servers_transports = std::move(s[8]);
  in.services = std::move(s[9]);
  in.endpoint_slices = std::move(s[10]);
  in.secrets = std::move(s[11]);
  return kubernetes::build_crd_configuration(in, options_);
}

} // namespace turnpike::provider
