#include "common/deadline.h"

#include "common/asio_types.h"

namespace turnpike {

DeadlineScanner::DeadlineScanner(turnpike::Executor ex, std::chrono::milliseconds tick)
    : timer_(std::move(ex)), tick_(tick) {}

DeadlineScanner::~DeadlineScanner() {
  stop();
  for (Deadline* d = head_; d; d = d->next_) d->scanner_ = nullptr;
}

void DeadlineScanner::start() {
  if (running_) return;
  running_ = true;
  arm();
}

void DeadlineScanner::stop() {
  running_ = false;
  timer_.cancel();
}

void DeadlineScanner::arm() {
  timer_.expires_after(tick_);
  timer_.async_wait([this](boost::system::error_code ec) {
    if (ec || !running_) return;
    scan();
    arm();
  });
}

void DeadlineScanner::scan() {
  auto now = Clock::now();
  for (Deadline* d = head_; d;) {
    cursor_ = d->next_;
    if (d->at_ <= now) {
      d->at_ = Clock::time_point::max();
      d->on_expire_();  // may destroy d or others; cursor_ is kept valid by ~Deadline
    }
    d = cursor_;
  }
  cursor_ = nullptr;
}

Deadline::Deadline(DeadlineScanner& scanner, std::function<void()> on_expire)
    : scanner_(&scanner), on_expire_(std::move(on_expire)) {
  next_ = scanner_->head_;
  if (next_) next_->prev_ = this;
  scanner_->head_ = this;
  ++scanner_->size_;
}

Deadline::~Deadline() {
  if (!scanner_) return;  // the scanner was destroyed first; the list is gone with it
  if (scanner_->cursor_ == this) scanner_->cursor_ = next_;
  if (prev_) prev_->next_ = next_;
  else scanner_->head_ = next_;
  if (next_) next_->prev_ = prev_;
  --scanner_->size_;
}

}  // namespace turnpike
