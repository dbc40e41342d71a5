#pragma once
// The file provider (Traefik's `providers.file`): dynamic configuration from one file
// (`filename`) or from every .yml/.yaml/.toml/.json file of a directory tree (`directory`),
// re-read on change when `watch` is set.
//
// Directory semantics follow Traefik: files are read in path order (subdirectories included);
// http/tcp/udp routers, services, middlewares and serversTransports, and tls options and stores,
// are unioned by name, and a name defined in more than one file keeps its first definition (with
// a warning); tls.certificates lists are concatenated. Entries whose name starts with '.' are
// skipped (editor files, Kubernetes' ..data); symbolic links are followed. Go templates are not
// supported: a file is read as plain YAML/TOML/JSON.
//
// Watching uses inotify on the directories involved (the file's parent directory, and the
// parent of its symlink target; or the directory tree), so that editors that replace the file,
// atomic renames and Kubernetes ConfigMap symlink swaps are all seen. A file closed after writing
// or renamed into place is re-read at once; other events (creation, deletion) are coalesced for
// `settle_delay` first. A tree equal to the last published one is not published again. If the
// source cannot be read or parsed (see load()), the error is logged at ERROR with file and line,
// nothing is published (the last good configuration stays in force) and watching continues.
//
// Threads: see provider.h. All work (inotify reads, file reads, parsing) runs on the control
// executor; configuration files are small.

#include <memory>
#include <string>
#include <vector>

#include "common/asio_types.h"
#include "common/duration.h"
#include "common/result.h"
#include "config/static_config.h"
#include "config/tree/node.h"
#include "provider/provider.h"

namespace turnpike::provider {

class FileProvider : public Provider {
public:
  explicit FileProvider(config::FileProviderConfig options,
                        Duration settle_delay = std::chrono::milliseconds(100));
  ~FileProvider() override;

  std::string_view name() const override { return "file"; }
  Result<void> start(turnpike::Executor executor, Publish publish) override;
  void stop() override;

  // Reads the configured file or directory once and returns the merged tree start() would
  // publish (null for an empty directory). Fails, naming file and line, when a file cannot be
  // read or parsed; the provider then keeps its last good configuration. The tree is not decoded
  // here: a document that is not a dynamic configuration at all (a top-level list,
  // `http: [...]`, an unknown key) is rejected as a whole by the gateway when it decodes it, and
  // errors inside one router, service or middleware disable that object when built. Merge
  // warnings (names defined twice) are appended to `warnings`. Pure with respect to provider
  // state: usable from `--validate` and tests.
  static Result<config::Node> load(const config::FileProviderConfig& options,
                                   std::vector<std::string>& warnings);

private:
  struct Watcher; // the running state, shared with pending handlers

  config::FileProviderConfig options_;
  Duration settle_delay_;
  std::shared_ptr<Watcher> watcher_;
};

} // namespace turnpike::provider
