#include "service/mirroring.h"

#include <boost/asio/co_spawn.hpp>

#include "common/asio_types.h"
#include "common/log.h"
#include "service/failover.h"
#include "service/writers.h"

namespace turnpike::service {

MirroringService::MirroringService(std::string name, ServicePtr main, std::vector<Mirror> mirrors,
                                   MirroringOptions options, unsigned workers)
    : name_(std::move(name)),
      main_(std::move(main)),
      mirrors_(std::move(mirrors)),
      options_(options),
      slots_(workers) {
  slots_.for_each([this](Slot& s) { s.sent.assign(mirrors_.size(), 0); });
}

bool MirroringService::healthy(int64_t now_ns) const {
  return !options_.check_health || main_->healthy(now_ns);
}

void MirroringService::spawn_mirror(const http::Exchange& ex, size_t m,
                                    std::shared_ptr<const std::string> body) const {
  // The mirror gets its own copy of the request (the client's may be gone before it ends) and
  // holds this service (its slots) and its target alive.
  auto req = std::make_shared<http::Request>(ex.request);
  if (!body) {
    req->content_length = -1;
    req->chunked = false;
  }
  req->expect_continue = false;
  auto self = shared_from_this();
  unsigned worker_id = ex.worker_id;
  WorkerContext* worker = ex.worker;
  auto executor = *ex.executor;
  auto& slot = slots_[worker_id];
  ++slot.in_flight;
  auto run = [](std::shared_ptr<const MirroringService> self, size_t m,
                std::shared_ptr<http::Request> req, std::shared_ptr<const std::string> body,
                turnpike::Executor executor, unsigned worker_id,
                WorkerContext* worker) -> http::Task<void> {
    static const std::string kEmpty;
    BufferBodyReader reader(body ? *body : kEmpty, body ? static_cast<int64_t>(body->size()) : -1);
    DiscardWriter writer;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"  // the annotations start empty
    http::Exchange ex{.request = *req,
                      .body = reader,
                      .writer = &writer,
                      .executor = executor,
                      .worker_id = worker_id,
                      .worker = worker};
#pragma GCC diagnostic pop
    co_await self->mirrors_[m].handler->handle(ex);
    --self->slots_[worker_id].in_flight;
  };
  boost::asio::co_spawn(executor, run(std::move(self), m, std::move(req), std::move(body), executor,
                                      worker_id, worker),
                        [name = name_](std::exception_ptr e) {
                          if (!e) return;
                          try {
                            std::rethrow_exception(e);
                          } catch (const std::exception& x) {
                            log::get("service")->error("mirroring {}: mirror failed: {}", name,
                                                       x.what());
                          }
                        });
}

http::Task<void> MirroringService::handle(http::Exchange& ex) const {
  auto& slot = slots_[ex.worker_id];
  ++slot.requests;
  // Exact shares: mirror m has been sent floor(requests * percent / 100) of the requests.
  std::vector<size_t> chosen;
  for (size_t m = 0; m < mirrors_.size(); ++m) {
    uint64_t due = slot.requests * static_cast<uint64_t>(mirrors_[m].percent) / 100;
    if (due > slot.sent[m]) {
      slot.sent[m] = due;
      chosen.push_back(m);
    }
  }
  if (slot.in_flight >= options_.max_in_flight) chosen.clear();
  if (chosen.empty() || ex.request.upgrade_websocket) {
    co_await main_->handle(ex);
    co_return;
  }
  if (!ex.request.has_body() || !options_.mirror_body) {
    std::shared_ptr<const std::string> body;
    if (ex.request.has_body()) body = nullptr;  // mirrors get no body
    else body = std::make_shared<const std::string>();
    for (size_t m : chosen) spawn_mirror(ex, m, body);
    co_await main_->handle(ex);
    co_return;
  }
  auto buffered = std::make_shared<std::string>();
  auto [err, whole] = co_await buffer_body(ex.body, *buffered, options_.max_body_size);
  if (err) {
    co_await http::send_error(ex, err);
    co_return;
  }
  if (whole) {
    for (size_t m : chosen) spawn_mirror(ex, m, buffered);
  }
  BufferBodyReader replay(*buffered, ex.request.content_length, whole ? nullptr : &ex.body,
                          whole ? ex.body.trailers() : nullptr);
  SubExchange sub(ex, replay);
  co_await main_->handle(sub.get());
}

}  // namespace turnpike::service
