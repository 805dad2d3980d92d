// How `serve` takes connections (docs/serve.md "What the server checks"): cpp-httplib parses and
// routes, but each connection is read through a guard and waits in a bounded queue, so that no
// client can hold the server by being slow or large:
//   - one request per connection (every answer says Connection: close; a pipelined second
//     request is never half-answered — the client sends it again on a new connection);
//   - the request line and headers must arrive within head_timeout_s and fit in max_head_bytes
//     (else 408 / 431, before httplib stores a single header); the body must then keep up
//     min_body_rate bytes/s after a grace of head_timeout_s (else 408);
//   - a connection waits for one of `threads` connection threads at most wait_s (the request's
//     timeout: the wait counts against it) and with at most max_waiting others (else 503 with
//     Retry-After) — a full server answers at once instead of queueing without end.
#pragma once
#include <httplib.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>

namespace latentedit::serve {

struct ConnectionLimits {
  double head_timeout_s = 10;
  std::size_t max_head_bytes = 32 * 1024;
  double min_body_rate = 64 * 1024;
  double wait_s = 60;
  int threads = 32;
  std::size_t max_waiting = 128;
};

// When the connection served on the calling thread was accepted (its wait for a thread counts
// against the request's time); now() on any other thread.
std::chrono::steady_clock::time_point connection_accepted();

// True while httplib answers a request on the calling thread that the guard has already cut
// off (too slow, head too large): the guard sends its own answer and logs it.
bool connection_cut_off();

class GuardedHttp : public httplib::Server {
 public:
  // log: one line per connection refused before routing (status and why).
  GuardedHttp(ConnectionLimits limits, std::function<void(const std::string&)> log);

  // Serves one request given as raw bytes, as if it came on a connection, and returns the raw
  // response (for the fuzzer and tests; no deadlines apply).
  std::string serve_bytes(const std::string& request);

  // After bind: lets `n` connections wait in the kernel for accept() (httplib listens with 5, so a
  // burst of clients had their SYNs dropped and retried a second later).
  void set_backlog(int n);

 private:
  bool process_and_close_socket(socket_t sock) override;
  ConnectionLimits lim_;
  std::function<void(const std::string&)> log_;
};

// The raw HTTP/1.1 response (JSON error body, Connection: close) for a refusal.
std::string raw_refusal(int status, const std::string& message);

}  // namespace latentedit::serve
