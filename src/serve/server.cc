#include "serve/server.h"

#include <httplib.h>

#include "serve/connection.h"

#include <arpa/inet.h>

#include <chrono>
#include <cstdio>

#include "io/fields.h"
#include "io/json_read.h"
#include "latentedit/batch.h"
#include "latentedit/editor.h"
#include "latentedit/errors.h"
#include "latentedit/image.h"
#include "latentedit/outputs.h"
#include "io/runtime.h"
#include "latentedit/spec.h"
#include "batch/request.h"
#include "edit/messages.h"

namespace latentedit::serve {
extern const char* const kIndexHtml;  // ui.cc, generated from src/serve/ui/index.html

namespace {
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

// An HTTP status with a one-line message, thrown by the handlers.
struct HttpError {
  int status;
  std::string message;
};
// Thrown from the edit's progress callback when the request's time is up.
struct Timeout {};

const char* kJson = "application/json";

json error_body(int status, const std::string& message) { return {{"error", one_line(message)}, {"status", status}}; }


// "a, b,c" -> {"a", "b", "c"}
std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s + ",") {
    if (c == ',') {
      while (!cur.empty() && cur.back() == ' ') cur.pop_back();
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else if (c != ' ' || !cur.empty()) {
      cur += c;
    }
  }
  return out;
}

json parse_body(const httplib::Request& req) {
  if (req.body.empty()) throw HttpError{400, "the request body is empty; send a JSON object (see GET /api or docs/api.md)"};
  return parse_json(req.body, "request body", ErrorKind::kUsage);
}

// Holds one of the max_queue places of model work; 429 when none is free.
class Slot {
 public:
  Slot(std::atomic<int>& n, int max) : n_(n) {
    if (++n_ > max) {
      --n_;
      throw HttpError{429, "the server is busy (" + std::to_string(max) + " requests queued or running, max_queue); retry later"};
    }
  }
  ~Slot() { --n_; }
  Slot(const Slot&) = delete;
  Slot& operator=(const Slot&) = delete;

 private:
  std::atomic<int>& n_;
};
}  // namespace

struct Server::Impl {
  Impl(ServerOptions opts, LogFn l) : o(std::move(opts)), log(std::move(l)), http(connection_limits(o), log) {}

  static ConnectionLimits connection_limits(const ServerOptions& o) {
    ConnectionLimits c;
    c.threads = o.connections;
    c.max_waiting = 4 * static_cast<std::size_t>(o.connections);
    c.wait_s = o.timeout_s;
    c.head_timeout_s = o.head_timeout_s;
    return c;
  }

  ServerOptions o;
  LogFn log;
  GuardedHttp http;
  std::mutex models_mu;
  std::shared_ptr<const Models> models;
  std::atomic<int> queued{0};
  std::timed_mutex work;  // one model computation at a time: deterministic, and torch's pool has the cores
  std::thread thread;
  bool running = false, stopped = false;
  std::mutex state_mu;
  std::condition_variable state_cv;

  std::shared_ptr<const Models> current() {
    std::lock_guard<std::mutex> l(models_mu);
    return models;
  }
  // The models, or 503 while they load.
  std::shared_ptr<const Models> loaded() {
    auto m = current();
    if (!m) throw HttpError{503, "the model is still loading; retry when GET /health says \"ok\""};
    return m;
  }

  BatchLimits limits() const {
    BatchLimits L;
    L.max_count = o.max_count;
    L.max_steps = o.max_steps;
    return L;
  }

  std::string timeout_message() const {
    return "the request took longer than the server's limit of " + format_number(o.timeout_s) +
           " s (timeout); lower count or steps, or retry when the server is less busy";
  }

  // Runs `f(m)` holding a queue slot and the work lock, with torch's threads set; the deadline
  // covers the wait.
  template <typename F>
  json with_models(const Models& m, Clock::time_point deadline, F f) {
    Slot slot(queued, o.max_queue);
    std::unique_lock<std::timed_mutex> lock(work, std::defer_lock);
    if (!lock.try_lock_until(deadline)) throw Timeout{};
    set_threads(o.threads);  // torch's thread count is per calling thread under OpenMP
    return f(m);
  }

  // The bundle's discovered directions for the page's sliders: [{"direction": "sefa#3", "name": "#3 +Male", "method": "sefa"}].
  static json discovered_list(const Models& m) {
    json out = json::array();
    if (!m.manifest.contains("discovered") || !m.manifest["discovered"].is_object()) return out;
    for (const char* method : {"sefa", "ganspace"}) {
      if (!m.manifest["discovered"].contains(method)) continue;
      for (const auto& d : m.manifest["discovered"][method].value("directions", json::array()))
        out.push_back({{"direction", std::string(method) + "#" + std::to_string(d.value("index", 0))},
                       {"name", d.value("name", "")},
                       {"method", method}});
    }
    return out;
  }

  json attributes_body(const Models& m) const {
    return {{"model", m.name},
            {"attributes", m.attributes},
            {"z_dim", m.z_dim},
            {"image_size", m.image_size},
            {"precision", to_string(m.precision)},
            {"auditor", static_cast<bool>(m.auditor)},
            {"directions", m.directions.has_value()},
            {"latent_classifier", has_latent_classifier(m)},
            {"latent_thumbnail", m.directions.has_value() && !m.directions->thumbnail.empty()},
            {"defaults", EditSettings{}.to_json(m.attributes)},
            {"strengths", {{"boundary", kBoundaryStrength}, {"latent", kLatentStrength}, {"direction", kDirectionStrength}}},  // defaults
            {"discovered", discovered_list(m)},
            {"limits", {{"max_count", o.max_count}, {"max_steps", o.max_steps}, {"timeout_s", o.timeout_s},
                        {"max_body", o.max_body}, {"max_queue", o.max_queue}}}};
  }

  json sample(const json& req, Clock::time_point deadline) {
    const auto m0 = loaded();
    const BatchJob job = read_request_latents(req, *m0, limits());
    return with_models(*m0, deadline, [&](const Models& m) {
      const torch::Tensor img = generate(m, job.z);
      if (!torch::isfinite(img).all().item<bool>())
        throw HttpError{422, "the generator produced NaN or infinite pixels for these latents"};
      const torch::Tensor probs = torch::sigmoid(classify(m.classifier, img));
      json images = json::array(), latents = json::array(), scores = json::array();
      for (int64_t i = 0; i < img.size(0); ++i) {
        images.push_back(base64_encode(encode_png(tensor_to_bgr(img[i], m.range_lo, m.range_hi))));
        latents.push_back(to_floats(job.z[i]));
        scores.push_back(attribute_values(m.attributes, probs[i]));
      }
      return json{{"model", m.name}, {"source", job.source}, {"latents", latents}, {"images", images}, {"probs", scores}};
    });
  }

  // The images of a score request: a raw image body, or JSON {"image": B64} / {"images": [B64...]}.
  std::vector<std::pair<std::string, std::string>> score_images(const httplib::Request& req) const {
    const std::string type = req.get_header_value("Content-Type");
    if (type.rfind("image/", 0) == 0 || type == "application/octet-stream") return {{"body", req.body}};
    const json j = parse_body(req);
    if (!j.is_object() || j.contains("image") == j.contains("images"))
      throw HttpError{400, "send one image as the body (Content-Type image/png or image/jpeg), or JSON {\"image\": BASE64} or "
                           "{\"images\": [BASE64, ...]}"};
    std::vector<std::pair<std::string, std::string>> out;
    auto one = [&](const json& v, const std::string& path) {
      if (!v.is_string()) throw HttpError{400, path + ": expected a base64 string (optionally a data: URL)"};
      out.emplace_back(path, base64_decode(v.get<std::string>()));
    };
    if (j.contains("image")) {
      one(j["image"], "image");
    } else {
      if (!j["images"].is_array() || j["images"].empty()) throw HttpError{400, "images: expected a non-empty list of base64 strings"};
      if (static_cast<int64_t>(j["images"].size()) > o.max_count)
        throw HttpError{400, "images: " + std::to_string(j["images"].size()) + " images; the limit per request is " +
                                 std::to_string(o.max_count) + " (max_count)"};
      for (size_t i = 0; i < j["images"].size(); ++i) one(j["images"][i], "images[" + std::to_string(i) + "]");
    }
    return out;
  }

  json score(const httplib::Request& req, Clock::time_point deadline) {
    const auto m0 = loaded();
    std::vector<torch::Tensor> batch;
    for (const auto& [name, bytes] : score_images(req))
      batch.push_back(bgr_to_tensor(resize_center_crop(decode_image(bytes, name), static_cast<int>(m0->image_size)),
                                    m0->range_lo, m0->range_hi));
    return with_models(*m0, deadline, [&](const Models& m) {
      const torch::Tensor x = torch::stack(batch);
      const torch::Tensor logits = classify(m.classifier, x);
      if (!torch::isfinite(logits).all().item<bool>()) throw HttpError{422, "the classifier produced NaN or infinite scores"};
      const torch::Tensor probs = torch::sigmoid(logits);
      const torch::Tensor audit = m.auditor ? torch::sigmoid(classify(*m.auditor, x)) : torch::Tensor();
      json images = json::array();
      for (int64_t i = 0; i < x.size(0); ++i) {
        json e = {{"probs", attribute_values(m.attributes, probs[i])}, {"logits", to_floats(logits[i])}};
        if (audit.defined()) e["auditor_probs"] = attribute_values(m.attributes, audit[i]);
        images.push_back(e);
      }
      return json{{"model", m.name}, {"images", images}};
    });
  }

  json edit_request(const json& req, Clock::time_point deadline) {
    const auto m0 = loaded();
    const BatchJob job = read_edit_request(req, *m0, limits());  // validated before queueing
    return with_models(*m0, deadline, [&](const Models& m) {
      const auto t0 = Clock::now();
      const EditResult r = edit(m, job.z, job.settings.spec, [&](const EditProgress&) {
        if (Clock::now() > deadline) throw Timeout{};
      });
      if (edit_diverged(r)) throw HttpError{422, std::string(kDivergedHint) + " (step_size)"};
      const Audit a = audit_edit(m, job.settings.spec, r);
      OutputContext ctx;
      ctx.command = "edit";
      ctx.source = job.source;
      ctx.label = source_label(job.source);
      ctx.header = {{"threads", o.threads}, {"precision", to_string(m.precision)}};
      EditOutputs out = make_edit_outputs(m, job.settings, r, a, ctx);
      out.report["timings"] = {{"edit_s", r.seconds}, {"total_s", std::chrono::duration<double>(Clock::now() - t0).count()}};
      json files = json::object();
      for (const auto& [name, bytes] : out.images) files[name] = base64_encode(bytes);
      return json{{"summary", report_summary(out.report)}, {"report", out.report}, {"files", files}};
    });
  }

  // Wraps a JSON endpoint: timing, the error classes, the log line.
  httplib::Server::Handler endpoint(std::function<json(const httplib::Request&, Clock::time_point)> fn) {
    return [this, fn](const httplib::Request& req, httplib::Response& res) {
      const auto t0 = connection_accepted();  // the wait for a connection thread counts
      const auto deadline = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.timeout_s));
      json body;
      int status = 200;
      try {
        body = fn(req, deadline);
      } catch (const HttpError& e) {
        status = e.status, body = error_body(status, e.message);
      } catch (const Timeout&) {
        status = 503, body = error_body(status, timeout_message());
      } catch (const BatchInvalid& e) {
        status = 400;
        body = error_body(status, first_error(e));
        body["errors"] = e.errors();
      } catch (const Error& e) {  // with its remedy in plain words
        status = e.kind() == ErrorKind::kUsage || e.kind() == ErrorKind::kInput ? 400 : 500;
        body = error_body(status, with_remedy(e));
      } catch (const std::exception& e) {
        status = 500, body = error_body(status, std::string("internal error: ") + e.what());
      }
      res.status = status;
      res.set_header("Cache-Control", "no-store");
      res.set_content(dump_text(body), kJson);
      note(req, status, t0);
    };
  }

  void note(const httplib::Request& req, int status, Clock::time_point t0) const {
    if (!log) return;
    char b[64];
    std::snprintf(b, sizeof b, " %d %.1f ms", status, std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    log(req.method + " " + req.path + b);
  }

  // The request's refusal (status, message) when a web page the user merely visits could be
  // driving it, else {0, ""}: a Host that is not this server's (DNS rebinding), an Origin that is
  // not its own, a POST whose body type a cross-site form or no-preflight fetch can send.
  std::pair<int, std::string> refusal(const httplib::Request& req) const {
    const std::string host = ascii_lower(req.get_header_value("Host"));
    std::string name = host;  // without the port
    if (!name.empty() && name[0] == '[') name = name.substr(0, name.find(']') + 1);
    else if (auto c = name.rfind(':'); c != std::string::npos) name = name.substr(0, c);
    const std::string bound = ascii_lower(o.host);
    bool host_ok = name == "localhost" || name == "127.0.0.1" || name == "[::1]" || name == bound || name == "[" + bound + "]" ||
                   (is_loopback(bound) && is_loopback(name));
    for (const auto& h : split_list(o.allow_hosts)) host_ok = host_ok || name == ascii_lower(h) || host == ascii_lower(h);
    if (!host_ok)
      return {403, "Host '" + req.get_header_value("Host").substr(0, 100) +
                       "' is not this server's address (refused: a page on another site could reach the server through it); "
                       "add the name to allow_hosts if it is yours"};
    if (req.has_header("Origin")) {
      const std::string origin = ascii_lower(req.get_header_value("Origin"));
      bool ok = origin == "http://" + host;
      for (const auto& a : split_list(o.allow_origins)) ok = ok || origin == ascii_lower(a);
      if (!ok)
        return {403, "requests from pages of origin '" + req.get_header_value("Origin").substr(0, 100) +
                         "' are refused; add it to allow_origins if that page should use the API"};
    }
    if (req.method != "GET" && req.method != "HEAD" && req.method != "POST")
      return {405, req.method.substr(0, 20) + " is not served; the API takes GET and POST (see GET /api)"};
    // Bodies only with one plain Content-Length within max_body: a chunked body would be read
    // whole before any limit applies, and CL with TE or two CLs is the request-smuggling pattern.
    if (req.has_header("Transfer-Encoding"))
      return {411, "send the body with a Content-Length header; Transfer-Encoding (chunked) bodies are not accepted"};
    const size_t lengths = req.get_header_value_count("Content-Length");
    if (lengths > 1) return {400, "the request has " + std::to_string(lengths) + " Content-Length headers; send one"};
    if (lengths == 1) {
      const std::string cl = req.get_header_value("Content-Length");
      if (cl.empty() || cl.size() > 12 || cl.find_first_not_of("0123456789") != std::string::npos)
        return {400, "Content-Length '" + cl.substr(0, 30) + "' is not a byte count"};
      if (std::stoull(cl) > o.max_body)
        return {413, "the request body is larger than the server's limit of " + std::to_string(o.max_body) + " bytes (max_body_mb)"};
      if (req.method != "POST" && std::stoull(cl) > 0) return {400, req.method + " requests take no body"};
    } else if (req.method == "POST") {
      return {411, "a POST needs a Content-Length header (and a JSON body)"};
    }
    if (req.method == "POST") {
      std::string type = ascii_lower(req.get_header_value("Content-Type"));
      type = type.substr(0, type.find(';'));
      while (!type.empty() && type.back() == ' ') type.pop_back();
      const bool image = req.path == "/score" && (type == "image/png" || type == "image/jpeg");
      if (type != "application/json" && !image)
        return {415, "send the body as Content-Type: application/json" +
                         std::string(req.path == "/score" ? " (or image/png, image/jpeg)" : "") + ", not '" +
                         req.get_header_value("Content-Type").substr(0, 100) + "'"};
    }
    return {0, ""};
  }

  void routes() {
    http.set_default_headers({{"X-Content-Type-Options", "nosniff"}, {"X-Frame-Options", "DENY"}});
    http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      const auto [status, msg] = refusal(req);
      if (status == 0) return httplib::Server::HandlerResponse::Unhandled;
      res.status = status;
      res.set_header("Cache-Control", "no-store");
      res.set_header("Connection", "close");  // an unread body must not be taken for the next request
      res.set_content(dump_text(error_body(status, msg)), kJson);
      note(req, status, Clock::now());
      return httplib::Server::HandlerResponse::Handled;
    });
    http.set_payload_max_length(o.max_body);
    // SO_REUSEADDR only: httplib's default also sets SO_REUSEPORT, with which a second server
    // silently shares a port already in use instead of failing to bind.
    http.set_socket_options([](socket_t sock) {
      int yes = 1;
      setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    });

    http.Get("/", [this](const httplib::Request& req, httplib::Response& res) {
      res.set_header("Content-Security-Policy", "default-src 'self' data: blob: 'unsafe-inline'");
      res.set_content(kIndexHtml, "text/html; charset=utf-8");
      note(req, 200, Clock::now());
    });
    http.Get("/health", [this](const httplib::Request& req, httplib::Response& res) {
      const auto m = current();
      res.status = m ? 200 : 503;
      res.set_header("Cache-Control", "no-store");
      res.set_content(dump_text(m ? json{{"status", "ok"}, {"model", m->name}} : json{{"status", "loading"}}), kJson);
      note(req, res.status, Clock::now());
    });
    http.Get("/attributes", endpoint([this](const httplib::Request&, Clock::time_point) {
      return attributes_body(*loaded());
    }));
    http.Get("/api", endpoint([](const httplib::Request&, Clock::time_point) {
      return json{{"endpoints",
                   {"GET /health", "GET /attributes", "POST /sample", "POST /score", "POST /edit", "GET / (the web page)"}},
                  {"docs", "docs/api.md in the latentedit sources"}};
    }));
    http.Post("/sample", endpoint([this](const httplib::Request& req, Clock::time_point d) { return sample(parse_body(req), d); }));
    http.Post("/score", endpoint([this](const httplib::Request& req, Clock::time_point d) { return score(req, d); }));
    http.Post("/edit", endpoint([this](const httplib::Request& req, Clock::time_point d) { return edit_request(parse_body(req), d); }));

    // Errors httplib raises itself (404 no route, 413 body too large, 400 bad request): a JSON body too.
    http.set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
      if (!res.body.empty() || connection_cut_off()) return;  // a handler's own error; the guard's answer
      std::string msg;
      if (res.status == 404) msg = "no such endpoint: " + req.method + " " + req.path + " (see GET /api)";
      else if (res.status == 413) msg = "the request body is larger than the server's limit of " + std::to_string(o.max_body) + " bytes (max_body_mb)";
      else if (res.status == 400) msg = "a malformed HTTP request";
      else msg = "HTTP status " + std::to_string(res.status);
      res.set_content(dump_text(error_body(res.status, msg)), kJson);
      note(req, res.status, Clock::now());
    });
  }
};

Server::Server(ServerOptions o, LogFn log) : impl_(std::make_unique<Impl>(std::move(o), std::move(log))) { impl_->routes(); }

std::string Server::serve_bytes(const std::string& request) { return impl_->http.serve_bytes(request); }

Server::~Server() { stop(); }

FieldTable<ServerOptions> server_fields() {
  using T = ServerOptions;
  using K = FieldKind;
  FieldTable<T> t;
  t.push_back(bound<T>({"host", K::kText, "Address to listen on (loopback by default; others need `allow_remote`)"},
                       [](T& o) -> std::string& { return o.host; }));
  t.push_back(bound<T>({"port", K::kInt, "Port (0: any free port; the address is printed on stdout)", 0, 65535}, [](T& o) -> int& { return o.port; }));
  t.push_back(bound<T>({"connections", K::kInt, "HTTP connections served at once (more wait, within timeout; 4x as many waiting get 503)", 1, 1024}, [](T& o) -> int& { return o.connections; }));
  t.push_back(bound<T>({"max_queue", K::kInt, "Model requests queued or running; one more is answered 429", 1, 10000},
                       [](T& o) -> int& { return o.max_queue; }));
  t.push_back(bound<T>({"max_count", K::kInt, "Latents or images per request", 1, 1024}, [](T& o) -> int& { return o.max_count; }));
  t.push_back(bound<T>({"max_steps", K::kInt, "Edit steps per request", 1, 100000}, [](T& o) -> int& { return o.max_steps; }));
  t.push_back(bound<T>({"timeout", K::kReal, "Seconds a request may take, queueing included (then 503)", 0, 86400, true},
                       [](T& o) -> double& { return o.timeout_s; }));
  t.push_back(bound<T>({"head_timeout", K::kReal, "Seconds a client has to send a request's line and headers (then 408)", 0.1, 3600},
                       [](T& o) -> double& { return o.head_timeout_s; }));
  t.push_back(bound<T>({"allow_hosts", K::kText, "Extra Host header names accepted, comma-separated (e.g. a reverse proxy's); others get 403"},
                       [](T& o) -> std::string& { return o.allow_hosts; }));
  t.push_back(bound<T>({"allow_origins", K::kText, "Origins whose pages may call the API, comma-separated (e.g. http://localhost:3000); others get 403"},
                       [](T& o) -> std::string& { return o.allow_origins; }));
  {
    FieldInfo f{"max_body_mb", K::kReal, "Largest request body in MiB (then 413)", 0.001, 1024};
    t.push_back({f, [](const T& o) { return nlohmann::json(static_cast<double>(o.max_body) / (1024.0 * 1024.0)); },
                 [](T& o, const nlohmann::json& v) { o.max_body = static_cast<std::size_t>(v.get<double>() * 1024 * 1024); }});
  }
  return t;
}

void validate(const ServerOptions& o) {
  validate_fields(server_fields(), o);
  if (o.host.empty()) throw UsageError("host: empty; give an address such as 127.0.0.1");
}

int Server::bind() {
  auto& o = impl_->o;
  validate(o);
  int port = o.port;
  if (port == 0) {
    port = impl_->http.bind_to_any_port(o.host);
    if (port < 0) port = 0;
  } else if (!impl_->http.bind_to_port(o.host, port)) {
    port = 0;
  }
  if (port <= 0)
    throw IoError("cannot listen on " + o.host + ":" + std::to_string(o.port) +
                  " (the port is in use, needs privileges, or the host is not an address of this machine); choose another port or host");
  impl_->http.set_backlog(1024);
  o.port = port;
  return port;
}

void Server::start() {
  std::lock_guard<std::mutex> l(impl_->state_mu);
  if (impl_->running || impl_->stopped) return;
  impl_->running = true;
  impl_->thread = std::thread([this] { impl_->http.listen_after_bind(); });
}

void Server::set_models(Models m) {
  std::lock_guard<std::mutex> l(impl_->models_mu);
  impl_->models = std::make_shared<const Models>(std::move(m));
}

void Server::stop() {
  {
    std::lock_guard<std::mutex> l(impl_->state_mu);
    if (impl_->stopped) return;
    impl_->stopped = true;
  }
  impl_->http.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
  impl_->state_cv.notify_all();
}

void Server::wait() {
  std::unique_lock<std::mutex> l(impl_->state_mu);
  impl_->state_cv.wait(l, [this] { return impl_->stopped; });
}

bool is_loopback(const std::string& host) {
  if (host == "localhost" || host == "::1") return true;
  in_addr a{};
  return inet_pton(AF_INET, host.c_str(), &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

namespace {
const char* kB64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
}

std::string base64_encode(const std::string& bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8) | uint8_t(bytes[i + 2]);
    out += {kB64[v >> 18], kB64[(v >> 12) & 63], kB64[(v >> 6) & 63], kB64[v & 63]};
  }
  if (i + 1 == bytes.size()) {
    const uint32_t v = uint8_t(bytes[i]) << 16;
    out += {kB64[v >> 18], kB64[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == bytes.size()) {
    const uint32_t v = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8);
    out += {kB64[v >> 18], kB64[(v >> 12) & 63], kB64[(v >> 6) & 63], '='};
  }
  return out;
}

std::string base64_decode(const std::string& text) {
  std::string s = text;
  if (s.rfind("data:", 0) == 0) {  // a data: URL, as browsers make them
    const auto comma = s.find(',');
    if (comma == std::string::npos || s.substr(0, comma).find(";base64") == std::string::npos)
      throw UsageError("a data: URL without ;base64 data; send base64");
    s = s.substr(comma + 1);
  }
  int8_t val[256];
  std::fill(std::begin(val), std::end(val), int8_t(-1));
  for (int i = 0; i < 64; ++i) val[uint8_t(kB64[i])] = static_cast<int8_t>(i);
  std::string out;
  out.reserve(s.size() / 4 * 3);
  uint32_t acc = 0;
  int bits = 0;
  size_t n = 0, pad = 0;
  for (const char c : s) {
    if (c == '\n' || c == '\r' || c == ' ') continue;
    ++n;
    if (c == '=') {
      ++pad;
      continue;
    }
    if (pad || val[uint8_t(c)] < 0) throw UsageError("not valid base64 (a character outside A-Z a-z 0-9 + / = at position " + std::to_string(n) + ")");
    acc = (acc << 6) | static_cast<uint32_t>(val[uint8_t(c)]);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  if (n % 4 != 0 || pad > 2) throw UsageError("not valid base64 (its length is not a multiple of 4)");
  return out;
}

}  // namespace latentedit::serve
