#include "middleware/state_store.h"

namespace turnpike::middleware {

void StateStore::enter_chain(std::string chain) {
  chain_ = std::move(chain);
  seen_in_chain_.clear();
}

std::shared_ptr<void> StateStore::find_or_make(
    const std::string& key, const config::Node& options,
    const std::function<std::shared_ptr<void>()>& make, bool per_chain) {
  std::string id = key + '\n';
  if (per_chain) id += chain_ + '\n' + std::to_string(seen_in_chain_[key]++);
  if (auto it = next_.find(id); it != next_.end() && it->second.options == options) {
    if (recorder_) recorder_->push_back(id);
    return it->second.state;
  }
  std::shared_ptr<void> state;
  if (auto old = current_.find(id); old != current_.end() && old->second.options == options)
    state = old->second.state;
  else
    state = make();
  if (state) {
    if (recorder_) recorder_->push_back(id);
    next_[std::move(id)] = Entry{options, state};
  }
  return state;
}

void StateStore::keep(const std::vector<std::string>& ids) {
  for (const auto& id : ids) {
    if (next_.count(id)) continue;
    if (auto old = current_.find(id); old != current_.end()) next_.emplace(id, old->second);
  }
}

void StateStore::end_build() {
  current_ = std::move(next_);
  next_.clear();
  chain_.clear();
  seen_in_chain_.clear();
}

}  // namespace turnpike::middleware
