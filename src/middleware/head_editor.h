#pragma once
// Editing the response head on its way to the client: the one ResponseWriter wrapper shared by the
// middlewares that change response headers (headers, and later errors/compress-style middlewares
// that only need the head).
//
// Threading: a HeadEditingWriter lives on the frame of the coroutine serving one exchange and is
// confined to that exchange's worker, like the writer it wraps.

#include "http/head_editor.h"

namespace turnpike::middleware {

using http::HeadEditingWriter;
using http::WriterScope;

// Serves the exchange with `next`, letting `edit` change the final response head, whoever writes
// it (the service, a later middleware's local reply, or the error path).
template <class Edit>
http::Task<void> serve_editing_head(http::Exchange& ex, const http::Handler& next, Edit edit) {
  HeadEditingWriter<Edit> writer(*ex.writer, std::move(edit));
  WriterScope scope(ex, writer);
  co_await next.handle(ex);
}

}  // namespace turnpike::middleware
