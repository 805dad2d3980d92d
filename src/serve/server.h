// latentedit serve — the HTTP layer over the library: models loaded once, a JSON API and the
// web page (docs/api.md). Like the CLI it only maps requests onto library calls: an edit request
// is read by read_edit_request (the job-file reader, the same validation and messages), edited
// by edit(), and its files made by make_edit_outputs, so the same settings give the same bytes
// as the edit command. The server never reads or writes a file: models come in memory, the page
// is compiled in, and every result goes back in the response.
//
//   serve::Server s(opts, [](const std::string& line) { std::cerr << line << "\n"; });
//   int port = s.bind();            // 0 in opts.port: any free port
//   s.start();                      // serves; GET /health answers 503 "loading"
//   s.set_models(load_bundle(dir)); // now 200 "ok"
//   ... s.stop();
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "io/fields.h"
#include "latentedit/bundle.h"

namespace latentedit::serve {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                    // 0: any free port (bind() returns it)
  int threads = 1;                    // torch threads for the work (as every command's threads)
  // Connections (src/serve/connection.h): one request each; a connection waits for one of
  // `connections` threads within timeout_s (4x connections waiting at most), else 503; its
  // line and headers must arrive within head_timeout_s and fit in 32 KiB (else 408 / 431).
  int connections = 32;               // HTTP connections served at once
  double head_timeout_s = 10.0;
  int max_queue = 8;                  // model requests waiting or running; one more gets 429
  int max_count = 64;                 // latents (or images) per request
  int max_steps = 200;                // edit steps per request
  double timeout_s = 60.0;            // per request, waiting in the queue included; then 503
  std::size_t max_body = 8u << 20;    // request body bytes; more gets 413
  // Who may talk to the server (docs/serve.md "What the server checks"): requests whose Host is
  // not the bound address, a loopback name (localhost, 127.0.0.1, [::1]) or one of allow_hosts
  // are refused (403: DNS rebinding); requests with an Origin other than the server's own or one of
  // allow_origins are refused (403); POSTs must be application/json (/score also takes an image
  // body), so that a cross-site form cannot send them without a CORS preflight (415).
  std::string allow_hosts;            // comma-separated extra Host names (e.g. a reverse proxy's)
  std::string allow_origins;          // comma-separated origins, e.g. http://localhost:3000
};

// The options' table (io/fields.h): `serve`'s flags and validation. max_body is given in MiB
// ("max_body_mb"); threads is every command's threads setting.
FieldTable<ServerOptions> server_fields();
// Throws UsageError naming the field.
void validate(const ServerOptions& o);

// One line per request (method, path, status, ms), for the front end to print.
using LogFn = std::function<void(const std::string&)>;

class Server {
 public:
  explicit Server(ServerOptions o, LogFn log = nullptr);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds host:port; returns the port. Throws UsageError for a bad host, IoError when the port
  // cannot be bound (in use, no permission).
  int bind();
  // Serves one request given as raw bytes and returns the raw response (the fuzzer's and tests'
  // way in; no deadlines apply, everything else as on a connection).
  std::string serve_bytes(const std::string& request);
  // Serves on a background thread until stop().
  void start();
  // The models requests use; until set, model endpoints answer 503.
  void set_models(Models m);
  // Stops accepting, finishes the requests in flight, joins. Idempotent.
  void stop();
  // Blocks until stop() is called (from another thread or a signal watcher).
  void wait();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// True for 127.0.0.0/8, ::1 and "localhost".
bool is_loopback(const std::string& host);

// Standard base64 (RFC 4648, with padding). decode throws UsageError on anything else.
std::string base64_encode(const std::string& bytes);
std::string base64_decode(const std::string& text);

}  // namespace latentedit::serve
