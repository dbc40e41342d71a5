#pragma once
// Middleware state kept across configuration snapshots (design.md: objects whose configuration
// did not change keep their state). rateLimit's buckets and inFlightReq's counts live here, so a
// reload that does not touch such a middleware does not hand every client a fresh bucket.
//
// An instance is one use of a middleware in one router's chain on one entrypoint (Traefik builds
// one per router; a router on two entrypoints has two chains). Its key is the middleware's
// qualified name and type, the chain (router and entrypoint) and how many times the same
// middleware already appeared in that chain (a chain may name it twice). The state is reused when
// the previous build had the same key with the same options (the option tree, compared without
// its file locations); anything else starts fresh. Instances no build asked for are forgotten at
// end_build().
//
// Threads: StateStore and StateSlot are control-thread only (the builder). The state objects
// themselves are shared by every worker of the old and the new snapshot, so they must be safe for
// concurrent use (RateBuckets and InFlightTable are).

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "config/tree/node.h"

namespace turnpike::middleware {

class StateStore {
 public:
  // The builder calls this before it wraps the chain of `chain` ("router@file web").
  void enter_chain(std::string chain);
  // The state of the instance of middleware `key` ("name@provider/type") being wrapped now in the
  // current chain: the previous build's when its options were `options` too, else make().
  // `per_chain` false: one instance for the whole middleware, whatever the chain (state that is
  // not per router, such as a connection to a shared store). A null make() is not kept.
  std::shared_ptr<void> find_or_make(const std::string& key, const config::Node& options,
                                     const std::function<std::shared_ptr<void>()>& make,
                                     bool per_chain = true);
  // Ends a build: instances not asked for since the previous end_build are forgotten.
  void end_build();

  // While set, the id of every instance find_or_make hands out is appended to `ids` (the builder
  // records what a middleware or a chain uses, to keep() it when it reuses that object in a later
  // build instead of wrapping it again). Returns the previous recorder.
  std::vector<std::string>* record_into(std::vector<std::string>* ids) {
    return std::exchange(recorder_, ids);
  }
  // Carries the previous build's instances `ids` into this build, as if asked for again.
  void keep(const std::vector<std::string>& ids);

  size_t size() const { return current_.size(); }  // instances kept from the last build (tests)

 private:
  struct Entry {
    config::Node options;
    std::shared_ptr<void> state;
  };
  std::string chain_;
  std::map<std::string, int> seen_in_chain_;  // key -> uses so far in the current chain
  std::map<std::string, Entry> current_;      // the previous build's instances
  std::map<std::string, Entry> next_;         // this build's
  std::vector<std::string>* recorder_ = nullptr;
};

// What a middleware factory gets from BuildContext::state_slot(): a handle on the store for the
// middleware being decoded. Its Wrap calls get() once per instance it creates. Without a store
// (--validate, unit tests) every get() makes fresh state.
class StateSlot {
 public:
  StateSlot() = default;
  StateSlot(StateStore* store, std::string key, config::Node options)
      : store_(store), key_(std::move(key)), options_(std::move(options)) {}

  // The state of the instance being wrapped now (call it from the Wrap).
  template <class T, class Make>
  std::shared_ptr<T> get(Make make) const {
    if (!store_) return make();
    return std::static_pointer_cast<T>(store_->find_or_make(
        key_, options_, [&]() -> std::shared_ptr<void> { return erase(make()); }));
  }
  // The middleware's one state for every chain (call it from the factory).
  template <class T, class Make>
  std::shared_ptr<T> get_shared(Make make) const {
    if (!store_) return make();
    return std::static_pointer_cast<T>(store_->find_or_make(
        key_, options_, [&]() -> std::shared_ptr<void> { return erase(make()); }, false));
  }

 private:
  template <class U>
  static std::shared_ptr<void> erase(std::shared_ptr<U> p) {
    return std::const_pointer_cast<std::remove_const_t<U>>(std::move(p));
  }

  StateStore* store_ = nullptr;  // owned by the gateway; outlives every build
  std::string key_;
  config::Node options_;
};

}  // namespace turnpike::middleware
