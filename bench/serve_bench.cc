// Benchmark of `latentedit serve` (issue 15's figures): starts the real server process on a free
// port with the bundled model and measures
//   1. latency of POST /edit (1 latent, 10 steps, default settings: method auto) over N sequential
//      requests (seeds 0..N-1), p50/p99, beside the same requests with the course's update (method
//      gradient, no EOT, step 0.1, uniform keep mask) and the whole-process time of the default
//      `latentedit edit` run as a command (runs alternated, medians);
//   2. throughput with C concurrent clients for S seconds: requests/s, p50/p99, errors, and the
//      server's RSS after warm-up vs at the end.
// Usage: latentedit_serve_bench [--threads T] [--requests N] [--clients C] [--seconds S] [--cli-runs K] [--model DIR]
// (DIR: another bundle than the bundled model, e.g. a trial generator's)
#include <httplib.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_args.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {
using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

double pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p / 100.0 * static_cast<double>(v.size() - 1) + 0.5));
  return v[i];
}

long rss_kb(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  return -1;
}

std::string body(int seed, bool course = false) {
  return "{\"seed\": " + std::to_string(seed) + ", \"count\": 1, \"add\": [\"Smiling\"], \"steps\": 10" +
         (course ? ", \"method\": \"gradient\", \"eot\": 0, \"step_size\": 0.1, \"keep_mask\": \"uniform\"}" : "}");
}
}  // namespace

int main(int argc, char** argv) {
  int threads = 2, requests = 100, clients = 8, cli_runs = 10;
  double seconds = 60;
  std::string model = std::string(LATENTEDIT_SOURCE_DIR) + "/pretrained/faces64";
  const char* usage =
      "usage: latentedit_serve_bench [--threads N] [--requests R] [--clients C] [--seconds S] [--cli-runs K] [--model DIR]\n";
  const int done = bench::read_args(argc, argv, "latentedit_serve_bench", usage, [&](const std::string& a, const char* v) {
    if (a == "--threads") threads = static_cast<int>(std::atof(v));
    else if (a == "--requests") requests = static_cast<int>(std::atof(v));
    else if (a == "--clients") clients = static_cast<int>(std::atof(v));
    else if (a == "--seconds") seconds = std::atof(v);
    else if (a == "--cli-runs") cli_runs = static_cast<int>(std::atof(v));
    else if (a == "--model") model = v;
    else return false;
    return true;
  });
  if (done >= 0) return done;
  const std::string bin = LATENTEDIT_CLI;
  const std::string th = std::to_string(threads);

  // The server, its address read from its stdout.
  int out[2];
  if (pipe(out) != 0) return 1;
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(out[1], 1);
    close(out[0]);
    execl(bin.c_str(), bin.c_str(), "serve", "--port", "0", "--threads", th.c_str(), "--max-queue", "64", "-q", "--model",
          model.c_str(), (char*)nullptr);
    _exit(127);
  }
  close(out[1]);
  char buf[256] = {0};
  const ssize_t n = read(out[0], buf, sizeof buf - 1);
  const std::string line(buf, n > 0 ? static_cast<size_t>(n) : 0);
  const auto p = line.find("127.0.0.1:");
  if (p == std::string::npos) {
    std::fprintf(stderr, "the server printed no address: %s\n", line.c_str());
    return 1;
  }
  const int port = std::atoi(line.c_str() + p + 10);
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(120);
  for (int i = 0; i < 600; ++i) {
    if (auto r = c.Get("/health"); r && r->status == 200) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::printf("latentedit serve benchmark: %s, POST /edit 1 latent x 10 steps (+Smiling, default method), "
              "--threads %d, %u cores\n\n", model.c_str(), threads, std::thread::hardware_concurrency());
  for (int i = 0; i < 10; ++i) c.Post("/edit", body(1000 + i), "application/json");  // warm-up

  // 1. Sequential latency, alternated with whole-process CLI runs.
  std::vector<double> lat, lat_course, cli;
  int errors = 0;
  const int per_cli = std::max(1, requests / std::max(1, cli_runs));
  char tmpl[] = "/tmp/latentedit-serve-bench-XXXXXX";
  const std::string tmp = mkdtemp(tmpl);
  for (int i = 0; i < requests; ++i) {
    const auto t0 = Clock::now();
    auto r = c.Post("/edit", body(i), "application/json");
    lat.push_back(since(t0));
    if (!r || r->status != 200) ++errors;
    const auto t2 = Clock::now();
    auto rc = c.Post("/edit", body(i, true), "application/json");
    lat_course.push_back(since(t2));
    if (!rc || rc->status != 200) ++errors;
    if (i % per_cli == 0 && static_cast<int>(cli.size()) < cli_runs) {
      const std::string cmd = bin + " edit --seed " + std::to_string(i) + " --count 1 --add Smiling --steps 10 --threads " + th +
                              " -q --force --out " + tmp + "/cli --model " + model + " >/dev/null";
      const auto t1 = Clock::now();
      if (std::system(cmd.c_str()) != 0) ++errors;
      cli.push_back(since(t1));
    }
  }
  std::system(("rm -rf " + tmp).c_str());
  const double p50 = pct(lat, 50), cli50 = pct(cli, 50);
  std::printf("1. latency, %d sequential requests each, seeds 0-%d (%d errors)\n", requests, requests - 1, errors);
  std::printf("   POST /edit, default p50 %.3f s   p99 %.3f s   min %.3f   max %.3f\n", p50, pct(lat, 99), pct(lat, 0), pct(lat, 100));
  std::printf("   POST /edit, course  p50 %.3f s   p99 %.3f s   min %.3f   max %.3f   (default p50 / course p50 = %.2f)\n",
              pct(lat_course, 50), pct(lat_course, 99), pct(lat_course, 0), pct(lat_course, 100), p50 / pct(lat_course, 50));
  std::printf("   latentedit edit     median %.3f s (whole process, %zu runs, min %.3f, max %.3f)\n", cli50, cli.size(), pct(cli, 0),
              pct(cli, 100));
  std::printf("   server p50 / CLI median = %.2f (%.1fx faster)\n\n", p50 / cli50, cli50 / p50);

  // 2. Throughput with concurrent clients.
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, bad{0};
  std::mutex mu;
  std::vector<double> tlat;
  std::vector<std::pair<double, long>> rss;
  const auto t0 = Clock::now();
  std::vector<std::thread> ts;
  for (int k = 0; k < clients; ++k)
    ts.emplace_back([&, k] {
      httplib::Client cc("127.0.0.1", port);
      cc.set_read_timeout(120);
      for (int i = 0; !stop; ++i) {
        const auto t1 = Clock::now();
        auto r = cc.Post("/edit", body(k * 100000 + i), "application/json");
        const double d = since(t1);
        if (r && r->status == 200) {
          ++ok;
          std::lock_guard<std::mutex> l(mu);
          tlat.push_back(d);
        } else {
          ++bad;
        }
      }
    });
  while (since(t0) < seconds) {
    std::this_thread::sleep_for(std::chrono::seconds(1));
    rss.emplace_back(since(t0), rss_kb(pid));
  }
  stop = true;
  for (auto& t : ts) t.join();
  const double wall = since(t0);
  long warm = -1, peak_after = 0;
  for (const auto& [t, kb] : rss) {
    if (t >= std::min(10.0, seconds / 3) && warm < 0) warm = kb;
    if (warm >= 0) peak_after = std::max(peak_after, kb);
  }
  std::printf("2. throughput, %d concurrent clients for %.0f s\n", clients, wall);
  std::printf("   %d ok, %d errors, %.2f requests/s, latency p50 %.3f s, p99 %.3f s\n", ok.load(), bad.load(), ok / wall, pct(tlat, 50),
              pct(tlat, 99));
  std::printf("   server RSS: %.1f MB after warm-up, %.1f MB at the end, peak after warm-up %.1f MB\n", warm / 1024.0,
              rss.empty() ? 0.0 : rss.back().second / 1024.0, peak_after / 1024.0);
  kill(pid, SIGTERM);
  int st = 0;
  waitpid(pid, &st, 0);
  return errors || bad ? 1 : 0;
}
