// `latentedit serve`: the model loaded once, the JSON API and the web page (docs/api.md).
#include <csignal>
#include <cstdio>
#include <memory>
#include <malloc.h>
#include <unistd.h>

#include <cerrno>

#include "common.h"
#include "io/runtime.h"
#include "serve/server.h"

namespace latentedit::cli {
namespace {

int g_stop_pipe[2] = {-1, -1};
extern "C" void on_stop_signal(int) {
  const char c = 's';
  [[maybe_unused]] const ssize_t n = write(g_stop_pipe[1], &c, 1);
}

struct ServeCmdOptions {
  CommonOptions common;
  serve::ServerOptions server;
  FieldFlags flags;  // ServerOptions (server_fields)
  bool allow_remote = false;
};

int run_serve(ServeCmdOptions& o) {
  quiet_image_decoders(false);  // requests decode images at the same time: fd 2 is never redirected
  o.server = from_flags(serve::server_fields(), o.flags);
  if (!serve::is_loopback(o.server.host) && !o.allow_remote)
    throw UsageError("--host " + o.server.host + " is reachable from other machines and the server has no authentication; "
                     "add --allow-remote if that is what you want, or use 127.0.0.1");
  // SIGINT/SIGTERM stop the server: the handler (run by whichever thread the signal lands on)
  // only writes a byte to a pipe; a watcher thread reads it and stops the server.
  if (pipe(g_stop_pipe) != 0) throw IoError("cannot create a pipe for signal handling");
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  o.server.threads = o.common.apply_threads();
  const bool quiet = o.common.quiet;
  // Requests run on up to --connections threads; glibc gives each its own malloc arena, and 32
  // arenas fragmented by edits held the server at 600 MB after a minute of load, still growing
  // slowly; with two arenas it stays at 280 MB (tests/serve/under_load.py, 60 s, 32+8 clients).
  mallopt(M_ARENA_MAX, 2);
  serve::Server server(o.server, [quiet](const std::string& line) { log(quiet, line); });
  const int port = server.bind();
  if (!serve::is_loopback(o.server.host))
    std::fprintf(stderr, "latentedit: warning: serving on %s, reachable from other machines, without authentication\n",
                 o.server.host.c_str());
  server.start();
  // The address goes to stdout (scripts read it); everything else to stderr.
  std::printf("listening on http://%s:%d/\n", o.server.host.c_str(), port);
  std::fflush(stdout);
  std::thread watcher([&server] {
    char c;
    while (read(g_stop_pipe[0], &c, 1) < 0 && errno == EINTR) {
    }
    server.stop();
  });
  try {
    Models m = o.common.load_models();
    note_without_latent_classifier(m, Method::kAuto, quiet);
    server.set_models(std::move(m));
  } catch (...) {
    on_stop_signal(0);
    watcher.join();
    throw;
  }
  log(quiet, "model loaded; ready (GET /health says ok); Ctrl-C stops");
  server.wait();
  watcher.join();
  log(quiet, "stopped");
  return 0;
}
}  // namespace

void register_serve(CLI::App& root, std::vector<Command>& cmds, const std::string& argv0) {
  auto o = std::make_shared<ServeCmdOptions>();
  o->common.argv0 = argv0;
  // One torch thread by default: for the interactive case (one latent per request) it was faster
  // than two on the 2-core machine (docs/serve.md: p50 0.122 s vs 0.161-0.226 s).
  o->common.threads = 1;
  CLI::App* app = root.add_subcommand(
      "serve", "Serve the model over HTTP: a JSON API (/health, /attributes, /sample, /score, /edit) and a web page at /");
  add_flags(app, o->flags, serve::server_fields());
  app->add_flag("--allow-remote", o->allow_remote, "Allow a --host reachable from other machines (there is no authentication)");
  o->common.add_to(app);
  o->common.add_precision(app);
  cmds.push_back({app, [o] { return run_serve(*o); }});
}

}  // namespace latentedit::cli
