// `latentedit serve`: the HTTP API against a server on an ephemeral 127.0.0.1 port, started and
// stopped by each test (in process), plus the CLI's start-up, refusal and shutdown.
#include <gtest/gtest.h>
#include <httplib.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <thread>

#include "latentedit/editor.h"
#include "latentedit/errors.h"
#include "latentedit/image.h"
#include "serve/server.h"
#include "test_util.h"

using namespace latentedit;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {
struct Serve : ::testing::Test {
  static void SetUpTestSuite() {
    dir = new test::TempDir();
    test::make_random_bundle(*dir / "bundle", 4, 4, 3, true);
  }
  static void TearDownTestSuite() { delete dir; }
  static test::TempDir* dir;

  std::unique_ptr<serve::Server> server;
  int port = 0;

  // Starts a server on an ephemeral port; with `load`, the bundle is loaded.
  void start(serve::ServerOptions o = {}, bool load = true) {
    o.port = 0;
    server = std::make_unique<serve::Server>(o);
    port = server->bind();
    server->start();
    if (load) server->set_models(load_bundle(*dir / "bundle"));
  }
  void TearDown() override {
    if (server) server->stop();
  }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(60);
    return c;
  }
  // POSTs JSON; returns status and the parsed body.
  std::pair<int, json> post(const std::string& path, const std::string& body) const {
    auto c = client();
    auto r = c.Post(path.c_str(), body, "application/json");
    if (!r) return {-1, json()};
    return {r->status, json::parse(r->body)};
  }
  std::pair<int, json> post(const std::string& path, const json& body) const { return post(path, body.dump()); }

  // A connected socket to the server.
  int connect_raw() const {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    timeval tv{30, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
  }
  // Everything the server sends on fd until it closes; then closes fd.
  static std::string read_all(int fd) {
    std::string got;
    char buf[4096];
    for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) got.append(buf, static_cast<size_t>(n));
    close(fd);
    return got;
  }
  static int status_of(const std::string& response) {
    const auto sp = response.find(' ');
    return sp == std::string::npos ? -1 : std::atoi(response.c_str() + sp + 1);
  }
  // A raw request over a socket (httplib's client would fix these up): the status, or -1.
  int raw(const std::string& request, std::string* response = nullptr) const {
    const int fd = connect_raw();
    (void)!write(fd, request.data(), request.size());
    const std::string got = read_all(fd);
    if (response) *response = got;
    return status_of(got);
  }
};
test::TempDir* Serve::dir = nullptr;

std::string slurp(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}
}  // namespace

TEST(ServeBase64, RoundTripsAndRefusesGarbage) {
  for (const std::string s : {std::string(), std::string("a"), std::string("ab"), std::string("abc"), std::string("\0\xff\x10z", 4)})
    EXPECT_EQ(serve::base64_decode(serve::base64_encode(s)), s);
  EXPECT_EQ(serve::base64_encode("Man"), "TWFu");
  EXPECT_EQ(serve::base64_decode("data:image/png;base64,TWFu"), "Man");
  EXPECT_THROW(serve::base64_decode("TW!u"), UsageError);
  EXPECT_THROW(serve::base64_decode("TWF"), UsageError);
  EXPECT_TRUE(serve::is_loopback("127.0.0.1"));
  EXPECT_TRUE(serve::is_loopback("127.8.0.3"));
  EXPECT_TRUE(serve::is_loopback("localhost"));
  EXPECT_FALSE(serve::is_loopback("0.0.0.0"));
  EXPECT_FALSE(serve::is_loopback("192.168.1.4"));
}

TEST_F(Serve, HealthIs503UntilTheModelIsLoaded) {
  start({}, false);
  auto c = client();
  auto r = c.Get("/health");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(json::parse(r->body)["status"], "loading");
  auto [st, body] = post("/edit", json{{"seed", 1}, {"add", {"Smiling"}}});
  EXPECT_EQ(st, 503);
  EXPECT_NE(body["error"].get<std::string>().find("loading"), std::string::npos);
  server->set_models(load_bundle(*dir / "bundle"));
  r = c.Get("/health");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(json::parse(r->body)["model"], "random-test");
}

TEST_F(Serve, AttributesAndThePage) {
  start();
  auto c = client();
  auto r = c.Get("/attributes");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  const json a = json::parse(r->body);
  EXPECT_EQ(a["attributes"].size(), 40u);
  EXPECT_EQ(a["attributes"][31], "Smiling");
  EXPECT_EQ(a["z_dim"], 64);
  EXPECT_EQ(a["defaults"]["steps"], EditSpec{}.steps);
  EXPECT_EQ(a["strengths"]["latent"], kLatentStrength);  // the page's strength field starts here
  EXPECT_EQ(a["strengths"]["boundary"], kBoundaryStrength);
  EXPECT_TRUE(a["auditor"].get<bool>());
  r = c.Get("/");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/html; charset=utf-8");
  EXPECT_NE(r->body.find("/edit"), std::string::npos);
  EXPECT_EQ(r->body.find("http://"), std::string::npos) << "the page must work offline (no external URLs)";
  EXPECT_EQ(r->body.find("https://"), std::string::npos) << "the page must work offline (no external URLs)";
}

// The same settings give the same files as `latentedit edit` at the same thread count.
TEST_F(Serve, EditGivesTheCliBytes) {
  start();
  test::TempDir out;
  std::string err;
  ASSERT_EQ(test::run_cli("edit --threads 1 --seed 5 --count 2 --add Smiling --remove Eyeglasses --steps 4 --out " + out / "e" +
                          " --model " + *dir / "bundle", nullptr, &err), 0) << err;
  auto [st, body] = post("/edit", json{{"seed", 5}, {"count", 2}, {"add", {"Smiling"}}, {"remove", {"Eyeglasses"}}, {"steps", 4}});
  ASSERT_EQ(st, 200) << body.dump();
  const json cli_report = test::read_json(out / "e/report.json");
  for (const char* f : {"grid.png", "latent_000_before.png", "latent_001_after.png"})
    EXPECT_EQ(serve::base64_decode(body["files"][f].get<std::string>()), slurp(out / (std::string("e/") + f))) << f;
  EXPECT_EQ(body["report"]["latents"][1]["z_after"], cli_report["latents"][1]["z_after"]);
  EXPECT_EQ(body["report"]["settings"], cli_report["settings"]);
  EXPECT_EQ(body["summary"]["edit"], "+Smiling -Eyeglasses");
  EXPECT_FALSE(body["files"].contains("report.json")) << "the report is in the body already";
}

TEST_F(Serve, InlineLatentsAndOutputSelection) {
  start();
  const torch::Tensor z = sample_latents(9, 1, 64);
  json row = json::array();
  for (int64_t k = 0; k < 64; ++k) row.push_back(z[0][k].item<double>());
  auto [st, body] = post("/edit", json{{"latents", {row}}, {"add", {"Male"}}, {"steps", 2}, {"outputs", {{"grid", false}}}});
  ASSERT_EQ(st, 200) << body.dump();
  EXPECT_FALSE(body["files"].contains("grid.png"));
  EXPECT_TRUE(body["files"].contains("latent_000_after.png"));
  EXPECT_EQ(body["report"]["source"]["latents"], "inline");
  EXPECT_NEAR(body["report"]["latents"][0]["z_before"][3].get<double>(), z[0][3].item<double>(), 1e-6);
}

// Each error class: status, and the one-line message a job file or the CLI gives.
TEST_F(Serve, ErrorsAreOneLineJsonWithTheRightStatus) {
  serve::ServerOptions o;
  o.max_body = 4096;
  o.max_count = 4;
  start(o);
  auto expect = [&](const std::string& path, const std::string& body, int status, const std::string& needle) {
    auto [st, j] = post(path, body);
    EXPECT_EQ(st, status) << path << " " << body << " -> " << j.dump();
    const std::string msg = j.value("error", "");
    EXPECT_NE(msg.find(needle), std::string::npos) << "got: " << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  };
  expect("/edit", "{\"seed\": 1, \"add\": [\"Smiling\"", 400, "request body:1:30: invalid JSON");
  expect("/edit", "", 400, "body is empty");
  expect("/edit", json{{"seed", 1}, {"add", {"Smilin"}}}.dump(), 400, "add[0]: unknown attribute \"Smilin\" (did you mean \"Smiling\"?)");
  expect("/edit", json{{"seed", 1}, {"add", {"Smiling"}}, {"steps", 0}}.dump(), 400, "steps: 0 is out of range");
  expect("/edit", json{{"seed", 1}, {"add", {"Smiling"}}, {"step_size", -1}}.dump(), 400, "step_size");
  expect("/edit", json{{"seed", 1}, {"count", 5}, {"add", {"Smiling"}}}.dump(), 400, "count: 5 is out of range; use 1..4");
  expect("/edit", json{{"seed", 1}}.dump(), 400, "nothing to edit");
  expect("/edit", json{{"seed", 1}, {"direction", {"sefa#1"}}}.dump(), 400, "no discovered direction \"sefa#1\"");
  expect("/edit", json{{"seed", 1}, {"direction", {"sefa#1"}}, {"add", {"Smiling"}}}.dump(), 400, "cannot be combined with add/remove");
  expect("/edit", json{{"seed", 1}, {"add", {"Smiling"}}, {"stepz", 3}}.dump(), 400, "stepz: unknown key (did you mean \"steps\"?)");
  expect("/edit", json{{"latents_file", "/etc/passwd"}, {"add", {"Smiling"}}}.dump(), 400, "reads no files");
  expect("/edit", json{{"latents", {{1, 2}}}, {"add", {"Smiling"}}}.dump(), 400, "64 numbers");
  expect("/edit", "[1, 2]", 400, "expected a JSON object");
  expect("/edit", std::string(100, '[') + std::string(100, ']'), 400, "nest");
  expect("/edit", json{{"seed", 1}, {"add", {"Smiling"}}, {"pad", std::string(5000, 'x')}}.dump(), 413, "larger than");
  expect("/sample", json{{"seed", -1}}.dump(), 400, "seed");
  auto c = client();
  auto r = c.Post("/score", "not an image", "image/png");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(json::parse(r->body)["error"].get<std::string>().find("not a PNG, JPEG"), std::string::npos) << r->body;
  expect("/score", json{{"image", "!!!"}}.dump(), 400, "base64");
  expect("/score", json{{"image", serve::base64_encode("GIF89a....")}}.dump(), 400, "not a PNG, JPEG");
  expect("/nowhere", "{}", 404, "no such endpoint");
  r = c.Get("/edit");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_NE(json::parse(r->body)["error"].get<std::string>().find("no such endpoint: GET /edit"), std::string::npos);
}

TEST_F(Serve, DivergedEditIsAnErrorNotAResult) {
  serve::ServerOptions o;
  start(o);
  auto [st, j] = post("/edit", json{{"seed", 1}, {"add", {"Smiling"}}, {"step_size", 10}, {"steps", 200}, {"method", "gradient"},
                                    {"prior", 1000}});
  // A tiny random model may or may not diverge at these settings; what must never happen is a
  // 200 with non-finite numbers in it.
  if (st == 200) {
    for (const auto& l : j["report"]["latents"])
      for (const auto& v : l["z_after"]) EXPECT_TRUE(v.is_number()) << v;
  } else {
    EXPECT_EQ(st, 422) << j.dump();
    EXPECT_NE(j["error"].get<std::string>().find("diverged"), std::string::npos);
  }
}

TEST_F(Serve, SampleAndScoreAgreeWithTheLibrary) {
  start();
  auto [st, s] = post("/sample", json{{"seed", 4}, {"count", 2}});
  ASSERT_EQ(st, 200) << s.dump();
  ASSERT_EQ(s["images"].size(), 2u);
  const Models m = load_bundle(*dir / "bundle");
  const torch::Tensor z = sample_latents(4, 2, 64);
  EXPECT_NEAR(s["latents"][1][5].get<double>(), z[1][5].item<double>(), 1e-6);
  const std::string png = serve::base64_decode(s["images"][0].get<std::string>());
  EXPECT_EQ(png, encode_png(tensor_to_bgr(generate(m, z)[0], m.range_lo, m.range_hi)));
  // Scoring that PNG (raw body) gives the CLI's preprocessing and the classifier's numbers.
  auto c = client();
  auto r = c.Post("/score", png, "image/png");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const json sc = json::parse(r->body);
  const torch::Tensor x = bgr_to_tensor(resize_center_crop(decode_image(png, "x"), 64), m.range_lo, m.range_hi).unsqueeze(0);
  const torch::Tensor p = torch::sigmoid(classify(m.classifier, x));
  EXPECT_NEAR(sc["images"][0]["probs"]["Smiling"].get<double>(), p[0][31].item<double>(), 1e-6);
  EXPECT_TRUE(sc["images"][0].contains("auditor_probs"));
  // The same image as base64 in JSON.
  auto [st2, sc2] = post("/score", json{{"images", {s["images"][0], s["images"][1]}}});
  ASSERT_EQ(st2, 200) << sc2.dump();
  EXPECT_EQ(sc2["images"].size(), 2u);
  // Scored in a batch of 2 instead of 1: the same numbers up to float rounding (oneDNN may block a
  // batch of 2 differently: measured 3e-8 on an Intel AVX-512 CPU).
  ASSERT_EQ(sc2["images"][0]["probs"].size(), sc["images"][0]["probs"].size());
  for (const auto& [name, v] : sc["images"][0]["probs"].items())
    EXPECT_NEAR(sc2["images"][0]["probs"][name].get<double>(), v.get<double>(), 1e-6) << name;
}

// Concurrent clients each get the result they would get alone.
TEST_F(Serve, ConcurrentClientsGetIndependentResults) {
  serve::ServerOptions o;
  o.connections = 4;
  start(o);
  auto body = [](int seed) { return json{{"seed", seed}, {"count", 1}, {"add", {"Smiling"}}, {"steps", 3}}; };
  std::vector<std::string> alone(4), together(4);
  for (int i = 0; i < 4; ++i) {
    auto [st, j] = post("/edit", body(i));
    ASSERT_EQ(st, 200);
    alone[i] = j["files"]["latent_000_after.png"].get<std::string>();
  }
  std::vector<std::thread> ts;
  for (int i = 0; i < 4; ++i)
    ts.emplace_back([&, i] {
      auto [st, j] = post("/edit", body(i));
      if (st == 200) together[i] = j["files"]["latent_000_after.png"].get<std::string>();
    });
  for (auto& t : ts) t.join();
  for (int i = 0; i < 4; ++i) EXPECT_EQ(together[i], alone[i]) << "seed " << i;
  EXPECT_NE(alone[0], alone[1]);
}

// With one place in the queue, a request arriving while an edit runs gets 429; a request
// that cannot finish within the time limit gets 503.
TEST_F(Serve, QueueLimitAndTimeLimit) {
  serve::ServerOptions o;
  o.max_queue = 1;
  o.max_steps = 100000;
  o.timeout_s = 1.0;
  start(o);
  std::atomic<int> slow_status{0};
  json slow_body;
  std::thread slow([&] {
    // Retried while a probe below holds the one place (its /sample is quick).
    for (int i = 0; i < 1000; ++i) {
      auto [st, j] = post("/edit", json{{"seed", 1}, {"count", 4}, {"add", {"Smiling"}}, {"steps", 100000}, {"eot", 0}});
      if (st == 429) continue;
      slow_body = j;
      slow_status = st;
      return;
    }
  });
  bool saw_429 = false;
  for (int i = 0; i < 200 && !saw_429 && slow_status == 0; ++i) {
    auto [st, j] = post("/sample", json{{"seed", 2}, {"count", 1}});
    if (st == 429) {
      saw_429 = true;
      EXPECT_NE(j["error"].get<std::string>().find("busy"), std::string::npos);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  slow.join();
  EXPECT_TRUE(saw_429);
  EXPECT_EQ(slow_status.load(), 503) << slow_body.dump();
  EXPECT_NE(slow_body["error"].get<std::string>().find("(timeout)"), std::string::npos);
  // The server is usable again afterwards.
  EXPECT_EQ(post("/sample", json{{"seed", 2}, {"count", 1}}).first, 200);
}

TEST(ServeCli, RefusesRemoteHostWithoutFlagAndATakenPort) {
  std::string err;
  EXPECT_EQ(test::run_cli("serve --host 0.0.0.0 --port 0", nullptr, &err), 2);
  EXPECT_NE(err.find("--allow-remote"), std::string::npos) << err;
  serve::ServerOptions o;
  o.port = 0;
  serve::Server s(o);
  const int port = s.bind();
  EXPECT_EQ(test::run_cli("serve --port " + std::to_string(port), nullptr, &err), 5);
  EXPECT_NE(err.find("cannot listen on 127.0.0.1:" + std::to_string(port)), std::string::npos) << err;
  EXPECT_EQ(test::run_cli("serve --timeout nan", nullptr, &err), 2) << err;
}

// The executable: prints its address on stdout, answers, stops cleanly on SIGTERM.
TEST(ServeCli, StartsAnswersAndStopsOnSigterm) {
  test::TempDir d;
  test::make_random_bundle(d / "bundle", 4, 4, 1, false);
  const std::string out = d / "stdout.txt";
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    freopen(out.c_str(), "w", stdout);
    freopen("/dev/null", "w", stderr);
    execl(LATENTEDIT_CLI, LATENTEDIT_CLI, "serve", "--port", "0", "--threads", "1", "--model", (d / "bundle").c_str(), (char*)nullptr);
    _exit(127);
  }
  int port = 0;
  for (int i = 0; i < 300 && !port; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    const std::string s = slurp(out);
    const auto p = s.find("http://127.0.0.1:");
    if (p != std::string::npos && s.find('/', p + 17) != std::string::npos) port = std::stoi(s.substr(p + 17));
  }
  ASSERT_GT(port, 0) << "no address on stdout: " << slurp(out);
  httplib::Client c("127.0.0.1", port);
  int health = 0;
  for (int i = 0; i < 300 && health != 200; ++i) {
    if (auto r = c.Get("/health")) health = r->status;
    if (health != 200) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(health, 200);
  auto r = c.Post("/edit", R"({"seed": 3, "count": 1, "add": ["Smiling"], "steps": 2})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

// A web page the user merely visits cannot drive the server: a foreign Host (DNS rebinding), a
// foreign Origin, or a body type a cross-site form can send is refused before any work; the
// page's own requests, and names the user allows, pass.
TEST_F(Serve, AWebPageOnAnotherSiteCannotDriveIt) {
  serve::ServerOptions o;
  o.allow_hosts = "edit.lan, proxy.example:8443";
  o.allow_origins = "http://localhost:3000";
  start(o);
  auto c = client();
  const std::string edit = R"({"seed": 3, "count": 1, "add": ["Smiling"], "steps": 1})";
  auto status = [&](const std::string& method, const std::string& path, httplib::Headers h, const std::string& type = "application/json") {
    auto r = method == "GET" ? c.Get(path.c_str(), h) : c.Post(path.c_str(), h, edit, type.c_str());
    if (!r) return -1;
    if (r->status >= 400) {  // a JSON error of one line that says what to do
      const json b = json::parse(r->body);
      EXPECT_FALSE(b["error"].get<std::string>().empty());
    }
    return r->status;
  };
  for (const std::string path : {"/", "/attributes", "/health"}) EXPECT_EQ(status("GET", path, {{"Host", "evil.example"}}), 403) << path;
  EXPECT_EQ(status("POST", "/edit", {{"Host", "evil.example:" + std::to_string(port)}}), 403);
  EXPECT_EQ(status("POST", "/edit", {{"Origin", "http://evil.example"}}), 403);
  EXPECT_EQ(status("POST", "/edit", {{"Origin", "null"}}), 403);
  EXPECT_EQ(status("POST", "/edit", {}, "text/plain"), 415);
  EXPECT_EQ(status("POST", "/edit", {}, "application/x-www-form-urlencoded"), 415);
  EXPECT_EQ(status("POST", "/edit", {}, "multipart/form-data; boundary=x"), 415);
  EXPECT_EQ(status("POST", "/score", {}, "text/plain"), 415);
  EXPECT_EQ(status("POST", "/sample", {}, ""), 415);
  // What passes: the page's own requests (same origin), loopback names, and what the user allows.
  const std::string self = "127.0.0.1:" + std::to_string(port);
  EXPECT_EQ(status("GET", "/", {{"Host", self}}), 200);
  EXPECT_EQ(status("GET", "/", {{"Host", "localhost:" + std::to_string(port)}}), 200);
  EXPECT_EQ(status("POST", "/edit", {{"Origin", "http://" + self}}, "application/json; charset=utf-8"), 200);
  EXPECT_EQ(status("GET", "/attributes", {{"Host", "edit.lan"}}), 200);
  EXPECT_EQ(status("GET", "/attributes", {{"Host", "proxy.example:8443"}}), 200);
  EXPECT_EQ(status("POST", "/edit", {{"Origin", "http://localhost:3000"}}), 200);
  // No permissive CORS header on any answer.
  auto r = c.Post("/edit", {{"Origin", "http://localhost:3000"}}, edit, "application/json");
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->has_header("Access-Control-Allow-Origin"));
}

// Bodies: only one plain Content-Length within the limit. A chunked body (read whole before any
// limit applied: 200 MB held), CL with TE or two CLs (request smuggling), a bad or missing length.
TEST_F(Serve, RequestBodiesNeedOnePlainContentLengthWithinTheLimit) {
  serve::ServerOptions o;
  o.max_body = 1 << 16;
  start(o);
  const std::string head = "POST /edit HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n";
  const std::string body = R"({"seed": 1, "count": 1, "add": ["Smiling"], "steps": 1})";
  std::string chunked = head + "Transfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 64; ++i) chunked += "1000\r\n" + std::string(0x1000, ' ') + "\r\n";  // 256 KB > max_body
  EXPECT_EQ(raw(chunked + "0\r\n\r\n"), 411);
  EXPECT_EQ(raw(head + "Content-Length: " + std::to_string(body.size()) + "\r\nTransfer-Encoding: chunked\r\n\r\n" + body), 411);
  EXPECT_EQ(raw(head + "Content-Length: " + std::to_string(body.size()) + "\r\nContent-Length: 5\r\n\r\n" + body), 400);
  EXPECT_EQ(raw(head + "Content-Length: -1\r\n\r\n" + body), 400);
  EXPECT_EQ(raw(head + "Content-Length: 99999999\r\n\r\n" + body), 413);
  EXPECT_EQ(raw(head + "Connection: close\r\n\r\n"), 411);
  EXPECT_EQ(raw(head + "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body), 200);
  // Invalid UTF-8 in a JSON body, or a PNG posted as JSON: a clean 400, never a 500.
  const std::string bad = "{\"seed\": \"\xff\xfe\", \"add\": [\"Smiling\"]}";
  EXPECT_EQ(raw(head + "Content-Length: " + std::to_string(bad.size()) + "\r\nConnection: close\r\n\r\n" + bad), 400);
  const std::string png("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xff", 18);
  EXPECT_EQ(raw(head + "Content-Length: " + std::to_string(png.size()) + "\r\nConnection: close\r\n\r\n" + png), 400);
  // Methods the API does not serve: 405 before any body is read (a PUT without a length was read to the end).
  EXPECT_EQ(raw("PUT /edit HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"), 405);
  // Latents outside any N(0, 1) draw: 400.
  EXPECT_EQ(post("/edit", json{{"latents", {std::vector<double>(64, 1e30)}}, {"add", {"Smiling"}}}).first, 400);
  auto c = client();
  auto h = c.Get("/health");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
}

TEST_F(Serve, SlowOrOversizedRequestHeadsAreCutOffAndDoNotStarveOthers) {
  serve::ServerOptions o;
  o.connections = 2;
  o.head_timeout_s = 1.0;
  start(o);
  using Clock = std::chrono::steady_clock;
  // Four slow clients (twice the connection threads), each with half a request line sent.
  std::vector<int> slow;
  for (int i = 0; i < 4; ++i) {
    slow.push_back(connect_raw());
    (void)!write(slow.back(), "GET /health HTTP/1.1\r\n", 22);
  }
  // /health is answered once the slow ones are cut off (head_timeout), well within the timeout.
  const auto t0 = Clock::now();
  EXPECT_EQ(raw("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"), 200);
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - t0).count(), 5.0);
  for (int fd : slow) {
    const std::string r = read_all(fd);
    EXPECT_EQ(status_of(r), 408) << r;
    EXPECT_NE(r.find("head_timeout"), std::string::npos) << r;
  }
  // 20,000 headers: 431 before httplib stores them.
  std::string flood = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  for (int i = 0; i < 20000; ++i) flood += "X-A: b\r\n";
  EXPECT_EQ(raw(flood + "\r\n"), 431);
  // A body slower than the minimum rate after the grace: 408.
  const int fd = connect_raw();
  const std::string head = "POST /edit HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{";
  (void)!write(fd, head.data(), head.size());
  EXPECT_EQ(status_of(read_all(fd)), 408);
  // Three pipelined requests: one answer, and the connection closed (the client sends the others again).
  std::string r;
  EXPECT_EQ(raw("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /attributes HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", &r), 200);
  EXPECT_EQ(r.find("HTTP/1.1", 1), std::string::npos) << r;
  EXPECT_NE(r.find("Connection: close"), std::string::npos) << r;
}

TEST_F(Serve, TheWaitForAConnectionThreadCountsAgainstTheTimeout) {
  serve::ServerOptions o;
  o.connections = 1;
  o.timeout_s = 1.0;
  o.head_timeout_s = 30;
  start(o);
  using Clock = std::chrono::steady_clock;
  const int hold = connect_raw();  // holds the one connection thread (a head that never ends)
  (void)!write(hold, "GET /health HTTP/1.1\r\n", 22);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const auto t0 = Clock::now();
  std::string r;
  EXPECT_EQ(raw("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", &r), 503);
  const double waited = std::chrono::duration<double>(Clock::now() - t0).count();
  EXPECT_GE(waited, 0.7);
  EXPECT_LT(waited, 3.0);  // the timeout (1 s), not the holder's 30 s
  EXPECT_NE(r.find("Retry-After: 1"), std::string::npos) << r;
  EXPECT_NE(r.find("timeout"), std::string::npos) << r;
  // Five more than 4x connections waiting: the excess is answered at once.
  std::vector<int> waiting;
  for (int i = 0; i < 5; ++i) {
    waiting.push_back(connect_raw());
    (void)!write(waiting.back(), "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 41);
  }
  const auto t1 = Clock::now();
  EXPECT_EQ(raw("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", &r), 503);
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - t1).count(), 0.7);
  EXPECT_NE(r.find("connections waiting"), std::string::npos) << r;
  for (int fd : waiting) EXPECT_EQ(status_of(read_all(fd)), 503);
  close(hold);
}

TEST_F(Serve, RawRequestsFromMemoryAreServedAsFromASocket) {
  start();
  const std::string ok = server->serve_bytes("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  EXPECT_EQ(ok.rfind("HTTP/1.1 200", 0), 0u) << ok;
  EXPECT_EQ(server->serve_bytes("GET /health HTTP/1.1\r\nHost: evil.example\r\n\r\n").rfind("HTTP/1.1 403", 0), 0u);
  std::string flood = "GET / HTTP/1.1\r\n";
  for (int i = 0; i < 10000; ++i) flood += "X-A: b\r\n";
  EXPECT_EQ(server->serve_bytes(flood + "\r\n").rfind("HTTP/1.1 431", 0), 0u);
  EXPECT_EQ(server->serve_bytes("").size(), 0u);
}
