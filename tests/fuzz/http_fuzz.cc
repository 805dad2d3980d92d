// libFuzzer target: raw bytes as one request to `serve` — the connection guard (head size), httplib's
// parsing, the pre-routing checks (Host, Origin, Content-Length, Content-Type) and the endpoints'
// validation, on a tiny random bundle with small limits — must end in an HTTP response or
// nothing (a request cut off before its line), never crash, never a 500.
#include <cstddef>
#include <cstdint>
#include <string>

#include "random_bundle.h"
#include "serve/server.h"

namespace {
latentedit::serve::Server& server() {
  static latentedit::test::TempDir dir;
  static latentedit::serve::Server* s = [] {
    latentedit::test::make_random_bundle(dir / "bundle", 4, 4, 1, true);
    latentedit::serve::ServerOptions o;
    o.max_count = 2, o.max_steps = 3, o.max_body = 1 << 16;
    auto* srv = new latentedit::serve::Server(o);
    srv->set_models(latentedit::load_bundle(dir / "bundle"));
    return srv;
  }();
  return *s;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string out = server().serve_bytes(std::string(reinterpret_cast<const char*>(data), size));
  if (!out.empty() && out.rfind("HTTP/1.1 ", 0) != 0) __builtin_trap();
  if (out.rfind("HTTP/1.1 500", 0) == 0) __builtin_trap();
  return 0;
}
