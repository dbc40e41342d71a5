#pragma once
// A client connection that graceful shutdown can ask to finish (HTTP/1.1: close when idle, answer
// the current request with Connection: close; HTTP/2: GOAWAY and let open streams end).
//
// Every client connection tags its connection-level Deadline with
// `deadline.owner = static_cast<Drainable*>(this)`, so drain_connections (http1_connection.h)
// finds them by walking the worker's deadlines; upstream connections and per-stream deadlines
// leave owner null. Worker-confined.

namespace turnpike::entrypoint {

class Drainable {
public:
  // Called on the connection's worker; idempotent.
  virtual void drain() = 0;

protected:
  ~Drainable() = default;
};

} // namespace turnpike::entrypoint
