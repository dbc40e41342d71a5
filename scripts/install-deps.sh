#!/usr/bin/env bash
# Installs the Debian 12 packages Turnpike needs to build, test and benchmark. Idempotent:
# does nothing when everything is present. Usage: scripts/install-deps.sh [build|test|bench]
set -euo pipefail
what=${1:-test}
build_pkgs=(g++ cmake ninja-build pkg-config libboost1.81-dev libssl-dev node-llhttp libnghttp2-dev libjemalloc-dev
  libcurl4-openssl-dev libldns-dev libhiredis-dev libzookeeper-mt-dev zlib1g-dev libbrotli-dev libzstd-dev
  libyaml-dev libtomlplusplus-dev nlohmann-json3-dev libre2-dev libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev)
test_pkgs=(curl python3 python3-pytest python3-h11 python3-h2 python3-grpcio wrk apache2-utils openssl nginx-light
  nghttp2-client nghttp2-server testssl.sh socat pebble lego bind9 bind9-dnsutils python3-cryptography
  etcd-server etcd-client redis-server redis-tools zookeeperd python3-kazoo brotli zstd python3-brotli python3-zstandard
  docker.io podman runc crun containerd uidmap fuse-overlayfs slirp4netns iptables busybox-static)
bench_pkgs=(wrk nginx-light haproxy caddy h2o nghttp2-client openssl curl python3 util-linux procps)
pkgs=("${build_pkgs[@]}")
case $what in
  build) ;;
  test) pkgs+=("${test_pkgs[@]}") ;;
  bench) pkgs+=("${test_pkgs[@]}" "${bench_pkgs[@]}") ;;
  *) echo "usage: $0 [build|test|bench]" >&2; exit 2 ;;
esac
# kubectl for the Kubernetes provider tests (they talk to tests/fakes/fake_kube_apiserver.py):
# Debian's kubernetes-client unless a kubectl is already installed some other way.
if [ "$what" != build ] && ! command -v kubectl >/dev/null; then pkgs+=(kubernetes-client); fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
