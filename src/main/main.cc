// turnpike: command line entry point. Wiring only: load the static configuration, configure
// logging, then either validate or run the gateway.

#include <csignal>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "acme/certs_command.h"
#include "common/log.h"
#include "config/builder.h"
#include "config/static_config.h"
#include "provider/file/file_provider.h"
#include "runtime/gateway.h"
#include "tls/tls_manager.h"

// jemalloc's tuning, read from this symbol at start-up (the binary links jemalloc; tests, with
// glibc's malloc, ignore it). An HTTP/2 connection runs up to maxConcurrentStreams handlers at
// once, each with its coroutine frames and buffers; they start and end in bursts (a client's
// batch of streams), and jemalloc's default per-thread cache (as few as 20 blocks of a size
// class) overflowed on every burst: each overflow flushed half the bin to the arena and each
// refill took it back, about 1.2 k instructions per proxied HTTP/2 request (callgrind,
// docs/benchmarks.md). Caching at least 256 blocks per size class absorbs a burst; jemalloc's
// incremental cache GC still returns what stays unused.
extern "C" {
extern const char* malloc_conf;
const char* malloc_conf = "tcache_nslots_small_min:256,tcache_nslots_small_max:1024";
}

namespace {

using namespace turnpike;

void usage() {
  std::puts(
      "Usage: turnpike [--configFile=FILE] [--<static.option>=VALUE ...]\n"
      "       turnpike --validate [--configFile=FILE]   check static and dynamic configuration\n"
      "       turnpike certs [--configFile=FILE]      list the certificates the ACME resolvers stored\n"
      "       turnpike version\n"
      "\n"
      "Static options follow Traefik v3 (--entryPoints.web.address=:80, --providers.file.filename=...),\n"
      "also as TURNPIKE_* or TRAEFIK_* environment variables.");
}

// Validates the dynamic configuration the file provider would load, with the builder's code.
int validate(const config::LoadedStaticConfig& loaded) {
  const auto& cfg = loaded.config;
  std::vector<std::string> errors;
  if (cfg.providers.file) {
    std::vector<std::string> merge_warnings;
    auto tree = provider::FileProvider::load(*cfg.providers.file, merge_warnings);
    for (const auto& w : merge_warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
    if (!tree) {
      errors.push_back(tree.error().message);
    } else {
      std::map<std::string, config::Node> trees;
      trees.emplace("file", std::move(*tree));
      auto dyn = config::decode_providers(trees);
      config::BuildOptions opts;
      for (const auto& [name, ep] : cfg.entry_points)
        (ep.listen.protocol == config::Protocol::kUdp ? opts.udp_entrypoints : opts.entrypoints)
            .push_back(&ep);
      opts.default_transport = cfg.servers_transport;
      opts.default_tcp_transport = cfg.tcp_servers_transport;
      tls::TlsManager tls;  // loads the certificates and compiles the TLS options, as at run time
      opts.tls = &tls;
      auto snap = config::build_snapshot(dyn, opts, 1);
      errors = config::collect_errors(dyn, *snap);
      if (errors.empty())
        std::printf("dynamic configuration: %zu router(s), %zu service(s), %zu middleware(s); "
                    "TCP: %zu router(s), %zu service(s); UDP: %zu router(s), %zu service(s)\n",
                    dyn.http.routers.size(), dyn.http.services.size(), dyn.http.middlewares.size(),
                    dyn.tcp.routers.size(), dyn.tcp.services.size(), dyn.udp.routers.size(),
                    dyn.udp.services.size());
    }
  }
  for (const auto& w : loaded.warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
  for (const auto& e : errors) std::fprintf(stderr, "error: %s\n", e.c_str());
  if (!errors.empty()) return 1;
  std::printf("configuration OK (%s)\n", loaded.source.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // OpenSSL writes TLS records with write(2), without MSG_NOSIGNAL: a peer that went away must
  // be an EPIPE error on that connection, not a SIGPIPE that ends the process.
  std::signal(SIGPIPE, SIG_IGN);
  std::vector<std::string> args(argv + 1, argv + argc);
  bool validate_only = false;
  bool certs = false;
  for (const auto& a : args) {
    if (a == "certs") certs = true;
    if (a == "version" || a == "--version") {
      std::printf("Version:      %s\nCodename:     turnpike\n", TURNPIKE_VERSION);
      return 0;
    }
    if (a == "--help" || a == "-h" || a == "help") {
      usage();
      return 0;
    }
    if (a == "--validate" || a == "--validate=true") validate_only = true;
  }
  config::StaticLoadOptions load_options;
  load_options.skip_args.push_back("certs");
  auto loaded = config::load_static_config(args, config::current_environment(), load_options);
  if (!loaded) {
    std::fprintf(stderr, "turnpike: invalid static configuration: %s\n",
                 loaded.error().message.c_str());
    return 1;
  }
  if (validate_only) return validate(*loaded);
  if (certs) {
    std::string report;
    int rc = acme::print_certificates(loaded->config, report);
    std::fputs(report.c_str(), stdout);
    return rc;
  }

  log::Options lo;
  lo.level = loaded->config.log.level;
  lo.format = loaded->config.log.format;
  lo.file_path = loaded->config.log.file_path;
  if (auto err = log::configure(lo); !err.empty()) {
    std::fprintf(stderr, "turnpike: log: %s\n", err.c_str());
    return 1;
  }
  auto logger = log::get("main");
  for (const auto& w : loaded->warnings) logger->warn("{}", w);
  logger->info("static configuration from {}", loaded->source);
  auto gateway = runtime::Gateway::create(std::move(loaded->config));
  if (!gateway) {
    logger->critical("{}", gateway.error().message);
    std::fprintf(stderr, "turnpike: %s\n", gateway.error().message.c_str());
    return 1;
  }
  return (*gateway)->run();
}
