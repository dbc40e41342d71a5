#include "provider/file/file_provider.h"

#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <set>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "common/asio_types.h"
#include "common/log.h"
#include "common/strings.h"
#include "config/dynamic_config.h"

namespace turnpike::provider {
namespace fs = std::filesystem;

namespace {

// Directory trees deeper than this are not configuration (and symlink loops end here).
constexpr int kMaxDirDepth = 16;
// IN_MODIFY is left out on purpose: a file is read once its writer closes it (IN_CLOSE_WRITE) or
// once it is renamed into place, never half-written.
constexpr uint32_t kWatchMask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE |
                                IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ATTRIB | IN_ONLYDIR |
                                IN_EXCL_UNLINK;
constexpr auto kRetryDelay = std::chrono::seconds(1);

bool hidden(const fs::path& p) {
  return p.filename().string().starts_with('.');
}

bool is_config_file(const fs::path& p) {
  std::string ext = to_lower(p.extension().string());
  return ext == ".yml" || ext == ".yaml" || ext == ".toml" || ext == ".json";
}

// Sorted entries of `dir`, hidden ones skipped.
Result<std::vector<fs::path>> list_dir(const fs::path& dir) {
  std::error_code ec;
  std::vector<fs::path> out;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    if (!hidden(it->path()))
      out.push_back(it->path());
  if (ec)
    return make_error(dir.string() + ": cannot read directory: " + ec.message());
  std::sort(out.begin(), out.end());
  return out;
}

// Every configuration file under `dir`, in path order (Traefik reads directories recursively).
Result<void> collect_files(const fs::path& dir, int depth, std::vector<fs::path>& out) {
  if (depth > kMaxDirDepth)
    return make_error(dir.string() + ": directories nested too deep (symlink loop?)");
  auto entries = list_dir(dir);
  if (!entries)
    return entries.error();
  for (const auto& p : *entries) {
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      if (auto r = collect_files(p, depth + 1, out); !r)
        return r;
    } else if (is_config_file(p) && fs::is_regular_file(p, ec)) {
      out.push_back(p);
    }
  }
  return {};
}

void collect_dirs(const fs::path& dir, int depth, std::vector<std::string>& out) {
  if (depth > kMaxDirDepth)
    return;
  out.push_back(dir.string());
  auto entries = list_dir(dir);
  if (!entries)
    return;
  for (const auto& p : *entries) {
    std::error_code ec;
    if (fs::is_directory(p, ec))
      collect_dirs(p, depth + 1, out);
  }
}

config::Node* find_exact(config::Node& map, std::string_view key) {
  for (auto& [k, v] : map.entries())
    if (k == key)
      return &v;
  return nullptr;
}

bool is_one_of(std::string_view key, std::initializer_list<std::string_view> names) {
  for (auto n : names)
    if (iequals(key, n))
      return true;
  return false;
}

// Adds the named objects of `from` to `into`; a name `into` already has keeps its first
// definition (Traefik's file provider: "already configured, skipping").
void union_by_name(config::Node& into, const config::Node& from, const std::string& path,
                   std::vector<std::string>& warnings) {
  if (into.is_null())
    into = config::Node::map(from.location());
  for (const auto& [name, obj] : from.entries()) {
    if (const config::Node* first = find_exact(into, name)) {
      warnings.push_back(obj.location().describe() + ": " + path + "." + name +
                         ": already defined at " + first->location().describe() +
                         "; keeping the first definition");
      continue;
    }
    into.entries().emplace_back(name, obj);
  }
}

// Merges one file's tree into the directory's tree with Traefik's semantics (see the header).
Result<void> merge_file(config::Node& into, const config::Node& tree, const std::string& file,
                        std::vector<std::string>& warnings) {
  if (tree.is_null())
    return {};
  if (!tree.is_map())
    return make_error(file + ": expected a map at the top level");
  if (into.is_null())
    into = config::Node::map(tree.location());
  for (const auto& [key, value] : tree.entries()) {
    config::Node& dst = into.child(key);
    bool kinds = is_one_of(key, {"http", "tcp", "udp"});
    bool tls = iequals(key, "tls");
    if (!value.is_map() || !(kinds || tls) || !(dst.is_map() || dst.is_null())) {
      dst.merge_from(value); // the decoder reports what is wrong with it
      continue;
    }
    if (dst.is_null())
      dst = config::Node::map(value.location());
    for (const auto& [kind, section] : value.entries()) {
      config::Node& dk = dst.child(kind);
      bool by_name =
          kinds ? is_one_of(kind, {"routers", "services", "middlewares", "serversTransports"})
                : is_one_of(kind, {"options", "stores"});
      if (by_name && section.is_map() && (dk.is_map() || dk.is_null())) {
        union_by_name(dk, section, key + "." + kind, warnings);
      } else if (tls && iequals(kind, "certificates") && section.is_list() &&
                 (dk.is_list() || dk.is_null())) {
        if (dk.is_null())
          dk = config::Node::list(section.location());
        for (const auto& cert : section.items())
          dk.items().push_back(cert);
      } else {
        dk.merge_from(section);
      }
    }
  }
  return {};
}

std::string parent_dir(const fs::path& p) {
  fs::path parent = p.parent_path();
  return parent.empty() ? std::string(".") : parent.string();
}

} // namespace

namespace {

Result<config::Node> read_source(const config::FileProviderConfig& options,
                                 std::vector<std::string>& warnings) {
  if (!options.directory.empty()) {
    std::vector<fs::path> files;
    if (auto r = collect_files(options.directory, 0, files); !r)
      return r.error();
    config::Node root;
    for (const auto& f : files) {
      auto tree = config::load_file(f.string());
      if (!tree)
        return tree.error();
      if (auto r = merge_file(root, *tree, f.string(), warnings); !r)
        return r.error();
    }
    return root;
  }
  if (!options.filename.empty())
    return config::load_file(options.filename);
  return make_error("providers.file: filename or directory is required");
}

} // namespace

Result<config::Node> FileProvider::load(const config::FileProviderConfig& options,
                                        std::vector<std::string>& warnings) {
  auto tree = read_source(options, warnings);
  if (!tree)
    return tree;
  // The tree is not decoded here: the gateway decodes each provider's tree once and rejects, as a
  // whole, one that is not a dynamic configuration at all (a list at the top, `http: [...]`, an
  // unknown top-level key), keeping that provider's last good configuration as Traefik does.
  return tree;
}

// Runs on the executor; pending handlers hold a shared_ptr and check `stopped`.
struct FileProvider::Watcher : std::enable_shared_from_this<Watcher> {
  Watcher(turnpike::Executor ex, config::FileProviderConfig opts, Duration settle,
          Publish pub)
      : executor(ex), options(std::move(opts)), settle_delay(settle), publish(std::move(pub)),
        inotify(ex), settle_timer(ex), retry_timer(ex), log(log::get("file")) {}

  Result<void> start() {
    if (options.watch) {
      int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
      if (fd < 0)
        return make_error(std::string("inotify_init1: ") + std::strerror(errno));
      inotify.assign(fd);
      refresh_watches();
      arm_read();
    }
    boost::asio::post(executor, [self = shared_from_this()] {
      if (!self->stopped)
        self->reload();
    });
    return {};
  }

  void stop() {
    stopped = true;
    settle_timer.cancel();
    retry_timer.cancel();
    boost::system::error_code ec;
    inotify.close(ec);
  }

  // The directories to watch and, for a single file, the entry names that concern it.
  void refresh_watches() {
    std::vector<std::string> dirs;
    names.clear();
    if (!options.directory.empty()) {
      collect_dirs(options.directory, 0, dirs);
      if (dirs.empty())
        dirs.push_back(options.directory);
    } else {
      fs::path file(options.filename);
      dirs.push_back(parent_dir(file));
      names.insert(file.filename().string());
      // A symlinked file (/etc/turnpike/dyn.yml -> /srv/conf/dyn.yml) changes in its target's
      // directory too.
      std::error_code ec;
      fs::path target = fs::canonical(file, ec);
      if (!ec && target != fs::absolute(file, ec)) {
        dirs.push_back(parent_dir(target));
        names.insert(target.filename().string());
      }
    }
    bool missing = false;
    for (const auto& dir : dirs) {
      bool watched = false;
      for (const auto& [wd, d] : watches)
        watched |= (d == dir);
      if (watched)
        continue;
      int wd = ::inotify_add_watch(inotify.native_handle(), dir.c_str(), kWatchMask);
      if (wd < 0) {
        log->warn("cannot watch {}: {}; retrying", dir, std::strerror(errno));
        missing = true;
        continue;
      }
      watches[wd] = dir;
    }
    if (missing && !retry_armed) {
      retry_armed = true;
      retry_timer.expires_after(kRetryDelay);
      retry_timer.async_wait([self = shared_from_this()](boost::system::error_code ec) {
        self->retry_armed = false;
        if (!ec && !self->stopped)
          self->reload();
      });
    }
  }

  void arm_read() {
    inotify.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                       [self = shared_from_this()](boost::system::error_code ec) {
                         if (ec || self->stopped)
                           return;
                         switch (self->drain()) {
                         case Change::kNone:
                           break;
                         case Change::kComplete:
                           self->reload_now();
                           break;
                         case Change::kPartial:
                           self->schedule_reload();
                           break;
                         }
                         self->arm_read();
                       });
  }

  // What a batch of inotify events means for the configuration.
  enum class Change {
    kNone,     // nothing that concerns us
    kComplete, // the last relevant event finished a file (closed after writing, renamed into
               // place): read now, there is nothing to wait for
    kPartial,  // created, deleted, moved away...: more may follow, so debounce
  };

  // Reads every pending inotify event.
  Change drain() {
    alignas(inotify_event) char buf[16384];
    Change change = Change::kNone;
    for (;;) {
      ssize_t n = ::read(inotify.native_handle(), buf, sizeof buf);
      if (n <= 0)
        break;
      for (char* p = buf; p < buf + n;) {
        auto* ev = reinterpret_cast<inotify_event*>(p);
        p += sizeof(inotify_event) + ev->len;
        if (ev->mask & IN_IGNORED)
          watches.erase(ev->wd);
        if (concerns_us(*ev))
          change = (ev->mask & (IN_CLOSE_WRITE | IN_MOVED_TO)) ? Change::kComplete
                                                                : Change::kPartial;
      }
    }
    return change;
  }

  bool concerns_us(const inotify_event& ev) const {
    if (ev.mask & (IN_Q_OVERFLOW | IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF))
      return true;
    if (!options.directory.empty())
      return true;
    if (ev.len == 0)
      return false;
    std::string_view name(ev.name);
    // "..data" is the symlink Kubernetes swaps when a mounted ConfigMap changes.
    return names.count(std::string(name)) || name.starts_with("..");
  }

  // Trailing debounce: waits for `settle_delay` of quiet, but never more than ten times that
  // after the first event, so a constantly written directory is still re-read.
  void schedule_reload() {
    auto now = std::chrono::steady_clock::now();
    if (!pending_since)
      pending_since = now;
    settle_timer.expires_at(std::min(now + settle_delay, *pending_since + 10 * settle_delay));
    settle_timer.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec || self->stopped)
        return;
      self->pending_since.reset();
      self->reload();
    });
  }

  // A finished write skips the debounce: waiting would only add latency to every change.
  void reload_now() {
    settle_timer.cancel();
    pending_since.reset();
    reload();
  }

  void reload() {
    if (options.watch)
      refresh_watches();
    std::vector<std::string> warnings;
    auto tree = FileProvider::load(options, warnings);
    for (const auto& w : warnings)
      log->warn("{}", w);
    if (!tree) {
      log->error("{}; keeping the last good configuration", tree.error().message);
      return;
    }
    if (last_published && *last_published == *tree) {
      log->debug("configuration unchanged");
      return;
    }
    last_published = std::make_shared<const config::Node>(std::move(*tree));
    log->info("configuration loaded from {}",
              options.directory.empty() ? options.filename : options.directory);
    publish("file", last_published);
  }

  turnpike::Executor executor;
  config::FileProviderConfig options;
  Duration settle_delay;
  Publish publish;
  boost::asio::posix::stream_descriptor inotify;
  turnpike::SteadyTimer settle_timer;
  turnpike::SteadyTimer retry_timer;
  std::shared_ptr<spdlog::logger> log;
  std::map<int, std::string> watches; // watch descriptor -> directory
  std::set<std::string> names;        // single-file mode: entry names that concern us
  Tree last_published; // shared with the aggregator, never copied
  std::optional<std::chrono::steady_clock::time_point> pending_since;
  bool retry_armed = false;
  bool stopped = false;
};

FileProvider::FileProvider(config::FileProviderConfig options, Duration settle_delay)
    : options_(std::move(options)), settle_delay_(settle_delay) {}

FileProvider::~FileProvider() {
  stop();
}

Result<void> FileProvider::start(turnpike::Executor executor, Publish publish) {
  if (watcher_)
    return make_error("file provider already started");
  if (options_.directory.empty() && options_.filename.empty())
    return make_error("providers.file: filename or directory is required");
  watcher_ =
      std::make_shared<Watcher>(std::move(executor), options_, settle_delay_, std::move(publish));
  auto r = watcher_->start();
  if (!r) {
    watcher_->stop();
    watcher_.reset();
  }
  return r;
}

void FileProvider::stop() {
  if (watcher_)
    watcher_->stop();
}

} // namespace turnpike::provider
