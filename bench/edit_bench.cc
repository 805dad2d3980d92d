// latentedit_bench: latentedit's editor and training steps against the Python reference of the
// course algorithm (bench/python_reference.py, run by this program with the same weights and seeds
// in its best thread configuration, chosen by measurement in the same run; the notebook's loop and
// a tuned loop, in FP32 and, on CPUs with native BF16, in BF16), end-to-end wall time against a
// Python script doing the same job, the physical FP32/BF16 floors, peak RSS, training steps, and
// the default edit (auto) end to end beside the course update.
//
// Usage: latentedit_bench [--threads N] [--reps R] [--bundle DIR] [--python /usr/bin/python3|none]
//                         [--cli PATH] [--train-steps K] [--sections 1234567]
// Every figure is a median of R runs (min and max beside it). Results go to stdout.
#include <dlfcn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <torch/torch.h>
#include <torch/version.h>
#include <unistd.h>

#include "bench_args.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "latentedit/attributes.h"
#include "latentedit/bundle.h"
#include "latentedit/editor.h"
#include "model/fused.h"
#include "io/runtime.h"
#include "latentedit/safetensors.h"
#include "latentedit/train.h"
#include "model/networks.h"

using namespace latentedit;
namespace fs = std::filesystem;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {
struct Stat {
  double median = 0, min = 0, max = 0;
};
Stat stat(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return {v[v.size() / 2], v.front(), v.back()};
}
Stat stat(const json& j) { return {j["median"].get<double>(), j["min"].get<double>(), j["max"].get<double>()}; }
double secs(Clock::time_point a) { return std::chrono::duration<double>(Clock::now() - a).count(); }

std::string cpu_model() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown CPU";
}

// In a forked child: replaces the process with `args` (argv[0] a path); exits 127 if it cannot.
[[noreturn]] void exec_child(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  execv(argv[0], argv.data());
  _exit(127);
}

// ms per image-step of a 10-step +Smiling edit with the course's method (course_spec(): plain
// gradient, penalty 0.1, no EOT), the algorithm the Python reference runs, at batch n. `between` runs after
// each of latentedit's runs (the Python reference's run, so that both alternate).
EditSpec bench_spec(int steps = 10, int64_t micro_batch = EditSpec().micro_batch) {
  EditSpec s = course_spec();
  s.targets = {{31, Direction::kAdd, std::nullopt}};
  s.steps = steps;
  s.micro_batch = micro_batch;
  return s;
}
// One edit of n latents (seed 0) with bench_spec(steps): ms per image-step.
double one_edit_ms(const Models& m, int64_t n, int steps = 10, int64_t micro_batch = EditSpec().micro_batch) {
  return edit(m, sample_latents(0, n, m.z_dim), bench_spec(steps, micro_batch)).seconds * 1000.0 / static_cast<double>(n * steps);
}
Stat edit_ms(const Models& m, int64_t n, int reps, int steps = 10, int64_t micro_batch = EditSpec().micro_batch,
             const std::function<void()>& between = {}) {
  one_edit_ms(m, n, steps, micro_batch);  // warm-up
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    t.push_back(one_edit_ms(m, n, steps, micro_batch));
    if (between) between();
  }
  return stat(t);
}

// Lets the other side's OpenMP workers, which spin for a few ms after a parallel region, fall
// asleep before the next timed run.
void settle() { std::this_thread::sleep_for(std::chrono::milliseconds(50)); }

// bench/python_reference.py --serve as a child process: one request line in, one JSON line out.
// A configuration of the Python side: torch's threads and OpenBLAS's (0: OpenBLAS's own
// default, i.e. as many as cores), and OpenBLAS's kernels (OPENBLAS_CORETYPE; empty: OpenBLAS's
// own detection).
struct PyConfig {
  int torch_threads = 1, openblas_threads = 1;
  std::string coretype;
  std::string name() const {
    return "torch " + std::to_string(torch_threads) + " thread" + (torch_threads > 1 ? "s" : "") + ", OPENBLAS_NUM_THREADS=" +
           (openblas_threads > 0 ? std::to_string(openblas_threads) : std::string("unset")) +
           (coretype.empty() ? ", OPENBLAS_CORETYPE unset" : ", OPENBLAS_CORETYPE=" + coretype);
  }
  void apply() const {  // in a child, before exec
    if (openblas_threads > 0) setenv("OPENBLAS_NUM_THREADS", std::to_string(openblas_threads).c_str(), 1);
    else unsetenv("OPENBLAS_NUM_THREADS");
    if (!coretype.empty()) setenv("OPENBLAS_CORETYPE", coretype.c_str(), 1);
    else unsetenv("OPENBLAS_CORETYPE");
  }
};

class PythonRef {
 public:
  PythonRef(const std::vector<std::string>& args, const PyConfig& cfg) {
    int in[2], out[2];
    if (pipe(in) != 0 || pipe(out) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(in[0], 0);
      dup2(out[1], 1);
      close(in[1]);
      close(out[0]);
      // Drop every other inherited descriptor: an earlier child's stdin pipe held open here would
      // keep that child from ever seeing EOF (and the bench from exiting).
      for (int fd = 3; fd < 1024; ++fd) close(fd);
      cfg.apply();
      exec_child(args);
    }
    close(in[0]);
    close(out[1]);
    to_ = fdopen(in[1], "w");
    from_ = fdopen(out[0], "r");
    const json hello = pid_ > 0 && to_ && from_ ? read() : json();
    ok_ = hello.is_object() && hello.value("ready", false);  // a child that failed to start prints nothing parseable
  }
  ~PythonRef() {
    if (to_) fclose(to_);
    if (from_) fclose(from_);
    if (pid_ > 0) waitpid(pid_, nullptr, 0);
  }
  bool ok() const { return ok_; }
  json ask(const std::string& request) {
    if (!ok_) return json();
    std::fprintf(to_, "%s\n", request.c_str());
    std::fflush(to_);
    json j = read();
    if (j.is_null() || j.contains("error")) ok_ = false;
    return j;
  }

 private:
  json read() {
    std::string line;
    for (int c; (c = std::fgetc(from_)) != EOF && c != '\n';) line.push_back(static_cast<char>(c));
    json j = json::parse(line, nullptr, false);
    return j.is_discarded() ? json() : j;
  }
  pid_t pid_ = -1;
  FILE* to_ = nullptr;
  FILE* from_ = nullptr;
  bool ok_ = false;
};

// The same models running the plain modules (ConvTranspose2d, BatchNorm) instead of the
// fused rewrite: what the rewrite gains. Empty unless both networks are single course-architecture
// modules (an ensemble classifier, as the bundle's, has no one module).
std::optional<Models> unfused(const Models& m) {
  auto g = std::dynamic_pointer_cast<GeneratorImpl>(m.generator.module);
  auto c = std::dynamic_pointer_cast<ClassifierImpl>(m.classifier.module);
  if (!g || !c) return std::nullopt;
  Models u = m;
  u.generator.forward = [g](const torch::Tensor& z) { return g->forward(z); };
  u.classifier.forward = [c](const torch::Tensor& x) { return c->forward(x); };
  return u;
}

// Runs a command; returns (wall seconds, peak RSS of the child in MB, exit code).
struct ChildRun {
  double seconds;
  double rss_mb;
  int rc;
};
ChildRun run_child(const std::vector<std::string>& args, const PyConfig* env = nullptr) {
  std::fflush(stdout);  // or the child would print our buffered output again
  const auto t0 = Clock::now();
  const pid_t pid = fork();
  if (pid == 0) {
    if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr)) _exit(127);
    if (env) env->apply();
    exec_child(args);
  }
  int status = 0;
  struct rusage ru {};
  wait4(pid, &status, 0, &ru);
  return {secs(t0), ru.ru_maxrss / 1024.0, WIFEXITED(status) ? WEXITSTATUS(status) : -1};
}

// Median ms per training step (after 3 warm-up steps) of latentedit's trainers on random data.
Stat train_ms(bool gan, int steps, int64_t cls_hidden, int64_t cls_batch, int64_t g_hidden, int64_t d_hidden, int64_t gan_batch) {
  torch::manual_seed(0);
  Dataset d;
  d.images = torch::randint(0, 256, {1024, 3, 64, 64}, torch::kUInt8);
  d.labels = (torch::rand({1024, 40}) > 0.5).to(torch::kFloat32);
  d.attributes = celeba_attributes();
  std::vector<double> at;
  auto cb = [&](const TrainStats& s) { at.push_back(s.seconds); };
  const int warm = 3;
  if (gan) {
    GanTrainOptions o;
    o.g_hidden = g_hidden;
    o.d_hidden = d_hidden;
    o.batch = gan_batch;
    o.steps = warm + steps;
    o.report_every = 1;
    o.bn_calibration_batches = 0;
    train_gan(d, o, cb);
  } else {
    ClassifierTrainOptions o;
    o.hidden_dim = cls_hidden;
    o.batch = cls_batch;
    o.steps = warm + steps;
    o.report_every = 1;
    train_classifier(d, o, cb);
  }
  std::vector<double> dt;
  for (size_t i = warm; i < at.size(); ++i) dt.push_back((at[i] - at[i - 1]) * 1000.0);
  return stat(dt);
}

// GFLOP/s of a large square matrix product in `dt` (torch::mm: OpenBLAS for FP32, oneDNN for BF16
// where the CPU has AVX-512 BF16): the machine's attainable dense multiply-add rate.
Stat gemm_gflops(torch::Dtype dt, int reps, int threads) {
  // set_threads() leaves OpenBLAS at one thread (torch's pool does latentedit's parallel work);
  // the floor needs the whole machine, so OpenBLAS gets every thread for this measurement.
  using SetFn = void (*)(int);
  const auto openblas_threads = reinterpret_cast<SetFn>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
  if (openblas_threads) openblas_threads(threads);
  struct Restore {
    SetFn fn;
    ~Restore() {
      if (fn) fn(1);
    }
  } restore{openblas_threads};
  const int64_t n = 2048;
  const auto a = torch::randn({n, n}).to(dt), b = torch::randn({n, n}).to(dt);
  torch::NoGradGuard ng;
  torch::mm(a, b);
  std::vector<double> g;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = Clock::now();
    torch::mm(a, b);
    g.push_back(2.0 * n * n * n / secs(t0) / 1e9);
  }
  return stat(g);
}

// GFLOP/s of a large regular convolution (oneDNN): counts direct FLOPs, so Winograd shows as speed.
Stat conv_gflops(int reps) {
  const auto x = torch::randn({64, 128, 16, 16}), w = torch::randn({256, 128, 3, 3});
  const double flops = 2.0 * 64 * 256 * 128 * 9 * 16 * 16;
  torch::NoGradGuard ng;
  torch::conv2d(x, w, {}, 1, 1);
  std::vector<double> g;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = Clock::now();
    torch::conv2d(x, w, {}, 1, 1);
    g.push_back(flops / secs(t0) / 1e9);
  }
  return stat(g);
}

// ms per image-step of the convolutions alone, at batch n: each convolution the fused course-size
// networks run (generator layers as sub-pixel convolutions, classifier layers as they are), forward
// plus its input-gradient, timed one by one with nothing else in between. Whatever the edit step
// adds on top (activations, pixel shuffle, autograd bookkeeping) is latentedit's overhead.
Stat conv_only_ms(const GeneratorOptions& go, const ClassifierOptions& co, int64_t n, int reps) {
  struct Shape {
    int64_t cin, cout, k, h, stride, pad;
  };
  std::vector<Shape> shapes;
  const int64_t h = go.hidden_dim;
  const int64_t gch[6] = {go.z_dim, h * 8, h * 4, h * 2, h, go.im_chan};
  int64_t H = 1;
  for (int i = 0; i < 5; ++i) {
    const int64_t K = i == 4 ? 4 : 3, J = (K + 1) / 2;
    if (i > 0) shapes.push_back({gch[i], 4 * gch[i + 1], J, H, 1, J - 1});  // layer 0 is a matrix product
    H = (H - 1) * 2 + K;
  }
  const int64_t c = co.hidden_dim;
  const int64_t cch[5] = {co.im_chan, c, c * 2, c * 4, co.n_classes};
  const int64_t strides[4] = {2, 2, 3, 2};
  H = 64;
  for (int i = 0; i < 4; ++i) {
    shapes.push_back({cch[i], cch[i + 1], 4, H, strides[i], 0});
    H = (H - 4) / strides[i] + 1;
  }
  torch::NoGradGuard ng;
  std::vector<double> per_rep(reps, 0.0);
  for (const Shape& sh : shapes) {
    const auto x = torch::randn({n, sh.cin, sh.h, sh.h}), w = torch::randn({sh.cout, sh.cin, sh.k, sh.k});
    const auto b = torch::randn({sh.cout});
    const auto y = torch::conv2d(x, w, b, sh.stride, sh.pad);
    const auto gy = torch::randn_like(y);
    auto once = [&] {
      torch::conv2d(x, w, b, sh.stride, sh.pad);
      at::convolution_backward(gy, x, w, c10::nullopt, {sh.stride, sh.stride}, {sh.pad, sh.pad}, {1, 1}, false, {0, 0}, 1,
                               {true, false, false});
    };
    once();
    for (int r = 0; r < reps; ++r) {
      const auto t0 = Clock::now();
      once();
      per_rep[r] += secs(t0) * 1000.0 / n;
    }
  }
  // The generator's first layer, a matrix product, and its input-gradient.
  const auto z = torch::randn({n, go.z_dim}), w0 = torch::randn({go.z_dim, h * 8 * 9});
  for (int r = 0; r < reps; ++r) {
    const auto t0 = Clock::now();
    const auto y = torch::mm(z, w0);
    torch::mm(y, w0.t());
    per_rep[r] += secs(t0) * 1000.0 / n;
  }
  return stat(per_rep);
}

void print_row(const char* what, int64_t n, const Stat& a, const Stat* py) {
  std::printf("  %-34s batch %2lld: %7.2f ms/image-step (min %.2f, max %.2f)", what, static_cast<long long>(n), a.median, a.min, a.max);
  if (py) std::printf("  python %7.2f (min %.2f, max %.2f)  ratio %.3f", py->median, py->min, py->max, a.median / py->median);
  std::printf("\n");
}
// The run's shared state: its settings, the course-size weights, the Python references and the
// figures one section hands to another; one method per section of the report.
struct Bench {
  int threads = 0, reps = 7, train_steps = 10;
  std::string bundle, python, cli, self, tmp, user_coretype, blas_note, coretype;
  std::string script = (fs::path(LATENTEDIT_SOURCE_DIR) / "bench/python_reference.py").string();
  Models course;
  bool have_bundle = false;
  // The Python side: the thread configurations tried, a reference process per configuration, and
  // per (loop, batch) the fastest.
  std::vector<PyConfig> cfgs;
  std::vector<std::unique_ptr<PythonRef>> pys;
  std::vector<std::string> loops = {"course", "tuned"};
  const std::vector<std::string> bf16_loops = {"autocast", "bf16cast"};
  const std::vector<int64_t> batches = {1, 8, 64};
  std::map<std::pair<std::string, int64_t>, size_t> best;  // (loop, batch) -> index into cfgs
  std::map<int64_t, std::string> bf16_loop;                 // batch -> the faster BF16 variant
  Stat course64{};                      // section 1's course-size batch-64 step, for section 3
  std::map<int64_t, Stat> course16_n;   // --precision bf16, course size, by batch

  json py_ask(const std::string& loop, const std::string& model, int64_t n) {
    if (pys.empty()) return json();
    return pys[best[{loop, n}]]->ask("edit " + model + " " + std::to_string(n) + " " + loop);
  }

  // 0. Start the Python references and (measure_configs) choose their thread configuration.
  // tuned_only: only section 7 needs the Python side (its tuned FP32 loop), so only that loop's
  // configurations are measured.
  void start_python(bool measure_configs, bool tuned_only = false) {
    if (tuned_only) loops = {"tuned"};
    // The Python reference, same weights; its runs alternate with latentedit's. Its thread
    // configuration is chosen by measurement, per loop and batch size: 1 thread, N threads with
    // OpenBLAS single-threaded, N threads with OpenBLAS at its default (N).
    // That set of configurations is tried with the kernels of this process's environment; when
    // OpenBLAS misdetected this CPU (latentedit's start-up check re-selected its kernels), again
    // with OPENBLAS_CORETYPE set to those, as a user who noticed would; and when the user set a
    // coretype (which latentedit honours), again without it: OpenBLAS's own detection may be
    // faster (on an AMD EPYC with AVX-512 BF16, OpenBLAS 0.3.21 picks its Cooperlake kernels:
    // 332 GFLOP/s SGEMM against 190 with Haswell's). The Python side at its best.
    auto add_configs = [&](const std::string& core) {
      cfgs.push_back({1, 1, core});
      if (threads > 1) cfgs.push_back({threads, 1, core}), cfgs.push_back({threads, 0, core});
    };
    add_configs(user_coretype);
    if (!user_coretype.empty()) add_configs("");
    if (!blas_note.empty()) add_configs(coretype);
    // The FP32 loops, and where the CPU has native BF16 (where latentedit offers --precision bf16) the
    // tuned loop's two BF16 variants a user would try: torch.autocast, and the classifier converted
    // to bfloat16 (python_reference.py's prepare()). The faster of the two is "Python tuned, BF16".
    if (cpu_has_bf16() && !tuned_only) loops.insert(loops.end(), bf16_loops.begin(), bf16_loops.end());
    if (python != "none") {
      for (const PyConfig& c : cfgs) {
        std::vector<std::string> cmd = {python, script, "--serve", "--threads", std::to_string(c.torch_threads), "--weights", tmp};
        if (have_bundle) cmd.insert(cmd.end(), {"--bundle", bundle});
        pys.push_back(std::make_unique<PythonRef>(cmd, c));
        if (!pys.back()->ok()) {
          std::printf("(Python reference unavailable: install python3-torch, see scripts/setup.sh --with-python)\n");
          pys.clear();
          break;
        }
      }
    }
    if (!pys.empty() && measure_configs) {
      std::printf("\n0. The Python side's thread configuration, chosen here by measurement (course size, ms per image-step, median of 3)\n");
      std::printf("  %-48s", "configuration");
      for (const auto& l : loops)
        for (int64_t n : batches) std::printf(" %8s b%-3lld", l.c_str(), static_cast<long long>(n));
      std::printf("\n");
      std::map<std::pair<std::string, int64_t>, double> best_ms;  // (loop, batch)
      for (size_t i = 0; i < cfgs.size(); ++i) {
        std::printf("  %-48s", cfgs[i].name().c_str());
        for (const auto& l : loops)
          for (int64_t n : batches) {
            std::vector<double> t;
            for (int r = 0; r < 3; ++r) {
              const json j = pys[i]->ask("edit course " + std::to_string(n) + " " + l);
              if (j.is_number()) t.push_back(j.get<double>());
              settle();
            }
            const double med = t.empty() ? 1e300 : stat(t).median;
            std::printf(" %13.2f", med);
            const auto key = std::make_pair(l, n);
            if (!best_ms.count(key) || med < best_ms[key]) best_ms[key] = med, best[key] = i;
          }
        std::printf("\n");
      }
      if (cpu_has_bf16())
        for (int64_t n : batches)
          bf16_loop[n] = *std::min_element(bf16_loops.begin(), bf16_loops.end(), [&](const std::string& a, const std::string& b) {
            return best_ms[{a, n}] < best_ms[{b, n}];
          });
      std::printf("  best:");
      for (const auto& l : loops)
        for (int64_t n : batches)
          std::printf(" %s b%lld = %s;", l.c_str(), static_cast<long long>(n), cfgs[best[{l, n}]].name().c_str());
      std::printf("\n  (course: the notebook's loop, parameters not frozen; tuned: parameters frozen, torch.autograd.grad on z,\n"
                  "   the original scores under torch.inference_mode — what a user who cares about speed would write)\n");
      if (!bf16_loop.empty()) {
        std::printf("  (BF16, the tuned loop with autocast: both networks under torch.autocast(\"cpu\", bfloat16) — torch 1.13 keeps\n"
                    "   the generator's conv_transpose2d in FP32, and a generator cast to bfloat16 fails in it; bf16cast: the classifier\n"
                    "   converted to bfloat16, the generator FP32. \"python tuned bf16\" below is the faster:");
        for (int64_t n : batches) std::printf(" b%lld %s;", static_cast<long long>(n), bf16_loop[n].c_str());
        std::printf(")\n");
      }
    }
  }

  // 1. Edit speed per image-step against Python, FP32 and BF16, fused and not, micro-batches.
  void edit_loop() {
    // 1. Edit speed.
    std::printf("\n1. Edit loop (10 steps of 0.1, penalty 0.1, +Smiling), ms per image-step; Python in its best configuration (0.)\n");
    for (const auto& [label, key] : std::vector<std::pair<std::string, std::string>>{{"course size (G 64, C 64)", "course"}, {"bundle", "bundle"}}) {
      if (key == "bundle" && !have_bundle) continue;
      const Models m = key == "course" ? course : load_bundle(bundle);
      std::printf(" %s%s\n", label.c_str(), key == "bundle" ? (" " + m.name + " (G " + std::to_string(m.generator.hidden_dim) + ", C " +
                                                                std::to_string(m.classifier.hidden_dim) + ")").c_str() : "");
      // --precision bf16, where the CPU has native BF16: its runs alternate with the FP32 ones and Python's.
      std::optional<Models> m16;
      if (cpu_has_bf16()) set_precision(m16.emplace(m), Precision::kBf16);
      for (int64_t n : batches) {
        std::vector<double> pc, pt, pb, p16;
        if (m16) one_edit_ms(*m16, n);  // warm-up
        const Stat f = edit_ms(m, n, reps, 10, EditSpec().micro_batch, [&] {
          settle();
          const json c = py_ask("course", key, n);
          if (c.is_number()) pc.push_back(c.get<double>());
          settle();
          const json t = py_ask("tuned", key, n);
          if (t.is_number()) pt.push_back(t.get<double>());
          settle();
          if (m16) {
            pb.push_back(one_edit_ms(*m16, n));
            if (bf16_loop.count(n)) {
              settle();
              const json b = py_ask(bf16_loop[n], key, n);
              if (b.is_number()) p16.push_back(b.get<double>());
            }
          }
        });
        const bool have_py = pc.size() == static_cast<size_t>(reps) && pt.size() == static_cast<size_t>(reps);
        auto row = [&](const char* what, const Stat& f, bool bf16) {
          std::printf("  %-15s batch %2lld: %7.2f ms/image-step (min %.2f, max %.2f)", what, static_cast<long long>(n), f.median, f.min, f.max);
          if (have_py) {
            const Stat c = stat(pc), t = stat(pt);
            std::printf(" | python course loop %7.2f (min %.2f, max %.2f) ratio %.3f | python tuned %7.2f (min %.2f, max %.2f) ratio %.3f",
                        c.median, c.min, c.max, f.median / c.median, t.median, t.min, t.max, f.median / t.median);
          }
          if (bf16 && p16.size() == static_cast<size_t>(reps)) {
            const Stat t = stat(p16);
            std::printf(" | python tuned bf16 %7.2f (min %.2f, max %.2f) ratio %.3f", t.median, t.min, t.max, f.median / t.median);
          }
          std::printf("\n");
        };
        row("latentedit", f, false);
        if (m16) {
          const Stat b = stat(pb);
          row("latentedit bf16", b, true);
          if (key == "course") course16_n[n] = b;
        }
        if (key == "course" && n == 64) course64 = f;
      }
      if (const std::optional<Models> plain = unfused(m))
        for (int64_t n : batches) print_row("latentedit, unfused modules", n, edit_ms(*plain, n, reps), nullptr);
      else
        std::printf("  (no unfused rows: the classifier is an ensemble)\n");
      for (int64_t mb : {8, 16, 32}) {
        const std::string what = "latentedit, micro-batches of " + std::to_string(mb);
        print_row(what.c_str(), 64, edit_ms(m, 64, reps, 10, mb), nullptr);
      }
    }
  }

  // 2. Growth with steps.
  void growth() {
    // 2. Growth with steps (batch 8, course size).
    std::printf("\n2. Growth with steps (course size, batch 8): total ms per edit\n ");
    for (int s : {5, 10, 20, 40}) {
      const Stat t = edit_ms(course, 8, reps, s);
      std::printf(" %d steps %.1f ms |", s, t.median * 8 * s);
    }
    std::printf("\n");
  }

  // 3. The physical floors (FP32 and BF16 matrix-multiply peaks) and the convolutions alone.
  void floor() {
    // 3. Physical floors: the FLOPs of an image-step at this machine's measured matrix-multiply
    // peak (a large SGEMM, no Winograd savings), FP32 and BF16.
    {
    if (course64.median <= 0) course64 = edit_ms(course, 64, reps);  // section 1 did not run
    GeneratorOptions go;
    ClassifierOptions co;
    const double fwd = static_cast<double>(generator_flops(go) + classifier_flops(co));
    const double per_step = 2.0 * fwd;  // forward + input-gradient backward (same FLOPs as forward)
    const Stat f32 = gemm_gflops(torch::kFloat32, reps, threads), b16 = gemm_gflops(torch::kBFloat16, reps, threads);
    const Stat gf = conv_gflops(reps);
    const double floor_ms = per_step / (f32.median * 1e9) * 1000.0, floor_bf16 = per_step / (b16.median * 1e9) * 1000.0;
    std::printf("\n3. Physical floor (course size): %.0f MFLOP per image-step (G %.1f + C %.1f MFLOP forward, x2 for the input-gradient)\n",
                per_step / 1e6, generator_flops(go) / 1e6, classifier_flops(co) / 1e6);
    std::printf("   FP32 matrix-multiply peak: %.1f GFLOP/s (min %.1f, max %.1f; torch::mm 2048^3, OpenBLAS at every thread)  -> floor %.2f ms/image-step\n",
                f32.median, f32.min, f32.max, floor_ms);
    std::printf("   BF16 matrix-multiply peak: %.1f GFLOP/s (min %.1f, max %.1f; torch::mm 2048^3 in bfloat16) -> floor %.2f ms/image-step\n",
                b16.median, b16.min, b16.max, floor_bf16);
    std::printf("   (a 3x3 convolution, 64x128x16x16 -> 256 ch, runs at %.1f GFLOP/s counted as direct FLOPs: oneDNN's Winograd savings, not a floor)\n",
                gf.median);
    // A floor measured with kernels the user forced can be far below the machine's rate (an AMD EPYC
    // whose environment forced Haswell's: 190 GFLOP/s against 332 with OpenBLAS's own choice), which
    // would flatter every ratio to it; OpenBLAS picks its kernels when it loads, so say so.
    if (!user_coretype.empty())
      std::printf("   (measured with the kernels OPENBLAS_CORETYPE=%s forces; OpenBLAS's own choice may be faster: "
                  "`env -u OPENBLAS_CORETYPE` for the machine's floor)\n", user_coretype.c_str());
    std::printf("   latentedit at batch 64: %.2f ms = %.2fx the FP32 floor\n", course64.median, course64.median / floor_ms);
    if (cpu_has_bf16()) {
      if (!course16_n.count(64)) {
        Models m16 = course;
        set_precision(m16, Precision::kBf16);
        course16_n[64] = edit_ms(m16, 64, reps);
      }
      const Stat& b = course16_n[64];
      std::printf("   latentedit --precision bf16 at batch 64: %.2f ms = %.2fx the FP32 floor, %.2fx the BF16 floor\n", b.median,
                  b.median / floor_ms, b.median / floor_bf16);
    }
    const Stat conv = conv_only_ms(go, co, 64, reps);
    std::printf("   the convolutions alone (each layer's own shape, forward + input-gradient, batch 64): %.2f ms/image-step "
                "(min %.2f, max %.2f) = %.2fx the floor; latentedit = %.2fx the convolutions alone\n",
                conv.median, conv.min, conv.max, conv.median / floor_ms, course64.median / conv.median);
    }
  }

  // 4. End to end: whole-process wall of `edit` against the Python script.
  void end_to_end() {
    // 4. End to end as a user runs it: whole-process wall of `latentedit edit` (its normal outputs:
    // report, grid, per-latent PNGs) against the Python script doing the same edit and saving PNGs
    // (python_reference.py --e2e), alternated, each side in its best thread configuration.
    if (fs::exists(cli)) {
      std::printf("\n4. End to end, course-size weights, 10 steps of 0.1, +Smiling, with PNG outputs: whole-process wall seconds\n");
      for (int64_t n : {int64_t{1}, int64_t{64}}) {
        std::vector<double> t, t16, tc, tt, tb, t0;
        const std::string N = std::to_string(n);
        const std::vector<std::string> cli_edit = {cli, "edit", "--add", "Smiling", "--count", N, "--steps", "10", "--method", "gradient",
                                                   "--eot", "0", "--step-size", "0.1", "--keep-mask", "uniform", "-q", "--model", tmp,
                                                   "--threads", std::to_string(threads), "--out", tmp + "/cli_" + N, "--force"};
        for (int r = 0; r < reps; ++r) {
          t.push_back(run_child(cli_edit).seconds);
          if (cpu_has_bf16()) {
            std::vector<std::string> a = cli_edit;
            a.insert(a.end(), {"--precision", "bf16"});
            t16.push_back(run_child(a).seconds);
          }
          if (!pys.empty()) {
            const PyConfig& cc = cfgs[best[{"course", n}]];
            const PyConfig& ct = cfgs[best[{"tuned", n}]];
            tc.push_back(run_child({python, script, "--e2e", N, "--loop", "course", "--threads", std::to_string(cc.torch_threads),
                                    "--weights", tmp, "--out", tmp + "/py_" + N}, &cc).seconds);
            tt.push_back(run_child({python, script, "--e2e", N, "--loop", "tuned", "--threads", std::to_string(ct.torch_threads),
                                    "--weights", tmp, "--out", tmp + "/py_" + N}, &ct).seconds);
            if (bf16_loop.count(n)) {
              const PyConfig& cb = cfgs[best[{bf16_loop[n], n}]];
              tb.push_back(run_child({python, script, "--e2e", N, "--loop", bf16_loop[n], "--threads", std::to_string(cb.torch_threads),
                                      "--weights", tmp, "--out", tmp + "/py_" + N}, &cb).seconds);
            }
          }
          t0.push_back(run_child({self, "--noop"}).seconds);
        }
        const Stat s = stat(t), s0 = stat(t0);
        std::printf("  %2lld latent%s: latentedit %.3f s (min %.3f, max %.3f)", static_cast<long long>(n), n > 1 ? "s" : " ", s.median,
                    s.min, s.max);
        if (!tc.empty()) {
          const Stat c = stat(tc), u = stat(tt);
          std::printf(" | python course loop %.3f s (min %.3f, max %.3f) ratio %.3f | python tuned %.3f s (min %.3f, max %.3f) ratio %.3f",
                      c.median, c.min, c.max, s.median / c.median, u.median, u.min, u.max, s.median / u.median);
        }
        std::printf("\n");
        if (!t16.empty()) {
          const Stat b = stat(t16);
          std::printf("     latentedit --precision bf16 %.3f s (min %.3f, max %.3f)", b.median, b.min, b.max);
          if (!tc.empty()) std::printf(" ratio %.3f (course loop), %.3f (tuned)", b.median / stat(tc).median, b.median / stat(tt).median);
          if (!tb.empty()) {
            const Stat p = stat(tb);
            std::printf(" | python tuned bf16 (%s) %.3f s (min %.3f, max %.3f) ratio %.3f", bf16_loop[n].c_str(), p.median, p.min, p.max,
                        b.median / p.median);
          }
          std::printf("\n");
        }
        if (n == 1)
          std::printf("     a process linked to the same libraries that exits at once: %.3f s (min %.3f, max %.3f)\n", s0.median, s0.min, s0.max);
      }
    }
  }

  // 5. Peak RSS.
  void rss() {
    // 5. Peak RSS at batch 64.
    {
      std::vector<double> rss;
      for (int r = 0; r < 3; ++r) rss.push_back(run_child({self, "--threads", std::to_string(threads), "--rss-child", tmp}).rss_mb);
      std::printf("\n5. Peak RSS, course-size models, 64 latents x 10 steps (whole process): %.0f MB (max of 3: %.0f)\n", stat(rss).median,
                  stat(rss).max);
    }
  }

  // 6. Training steps.
  void training() {
    // 6. Training steps.
    if (train_steps > 0) {
      std::printf("\n6. Training step, random data, median of %d steps after 3 warm-up\n", train_steps);
      // Each of latentedit's trainers right before the same step in Python.
      for (const bool gan : {false, true}) {
        const Stat s = train_ms(gan, train_steps, 64, 128, 32, 32, 64);
        const char* name = gan ? "gan (G 32, SN-D 32, batch 64, hinge, EMA)" : "classifier (hidden 64, batch 128, BCE, Adam)";
        std::printf("  %-46s latentedit %7.1f ms (min %.1f, max %.1f)", name, s.median, s.min, s.max);
        const std::string kind = gan ? "gan" : "classifier";
        // Training in Python: the configuration that was best for the course loop at batch 64.
        const json pj = pys.empty() ? json() : pys[best[{"course", 64}]]->ask("train " + kind + " " + std::to_string(train_steps));
        if (pj.is_object() && pj.contains("median")) {
          const Stat p = stat(pj);
          std::printf("  python %7.1f ms (min %.1f, max %.1f)  python/latentedit %.2fx", p.median, p.min, p.max, p.median / s.median);
        }
        std::printf("\n");
      }
    }
  }

  // 7. The default edit (method auto) end to end, against the course's update.
  void default_edit() {
    // Whole-process wall of `latentedit edit --add Smiling --count N` with every setting at its
    // default (auto: on the bundled model the latent method with its ladder and projected
    // fallbacks; on course-size weights, which have no latent classifier, what auto resolves to
    // there), against the same command with the course's update (gradient, no EOT, 10 x 0.1,
    // uniform keep mask) and the Python script doing the course's edit (python_reference.py
    // --e2e, its faster loop in its best thread configuration), alternated.
    if (!fs::exists(cli)) return;
    std::printf("\n7. The default edit (auto) end to end, +Smiling, with PNG outputs: whole-process wall seconds\n");
    struct Model {
      std::string name, dir;
    };
    std::vector<Model> models;
    if (have_bundle) models.push_back({"bundled", bundle});
    models.push_back({"course-size", tmp});
    for (const Model& mdl : models)
      for (int64_t n : batches) {
        const std::string N = std::to_string(n);
        const std::vector<std::string> base = {cli, "edit", "--add", "Smiling", "--count", N, "--seed", "7", "-q", "--model", mdl.dir,
                                               "--threads", std::to_string(threads), "--out", tmp + "/d_" + N, "--force"};
        std::vector<std::string> course_edit = base;
        course_edit.insert(course_edit.end(), {"--steps", "10", "--method", "gradient", "--eot", "0", "--step-size", "0.1", "--keep-mask", "uniform"});
        std::vector<double> td, tc, tp;
        for (int r = 0; r < reps; ++r) {
          td.push_back(run_child(base).seconds);
          tc.push_back(run_child(course_edit).seconds);
          if (!pys.empty() && mdl.dir == tmp) {
            const PyConfig& ct = cfgs[best[{"tuned", n}]];
            tp.push_back(run_child({python, script, "--e2e", N, "--loop", "tuned", "--threads", std::to_string(ct.torch_threads),
                                    "--weights", tmp, "--out", tmp + "/py_" + N}, &ct).seconds);
          }
        }
        const Stat d = stat(td), c = stat(tc);
        std::printf("  %-11s %2lld latent%s: default %.3f s (min %.3f, max %.3f) | course update %.3f s (min %.3f, max %.3f) ratio %.2f",
                    mdl.name.c_str(), static_cast<long long>(n), n > 1 ? "s" : " ", d.median, d.min, d.max, c.median, c.min, c.max,
                    d.median / c.median);
        if (!tp.empty()) {
          const Stat p = stat(tp);
          std::printf(" | python tuned course edit %.3f s (min %.3f, max %.3f) ratio %.2f", p.median, p.min, p.max, d.median / p.median);
        }
        std::printf("\n");
      }
  }
};

}  // namespace

int main(int argc, char** argv) {
  Bench b;
  // `--noop`: exit at once. Timing it gives the cost of starting any process linked to the same
  // libraries (libtorch's static initialisers and its ~290 shared objects), the floor of section 4.
  if (argc == 2 && !std::strcmp(argv[1], "--noop")) return 0;
  int threads = 0, reps = 7, train_steps = 10;
  std::string bundle, python = "/usr/bin/python3", cli, rss_child, sections = "1234567";
  const char* usage =
      "usage: latentedit_bench [--threads N] [--reps R] [--bundle DIR] [--python /usr/bin/python3|none] [--cli PATH]\n"
      "                        [--train-steps K] [--sections 1234567]   (every figure a median of R runs; minutes per section)\n";
  const int done = bench::read_args(argc, argv, "latentedit_bench", usage, [&](const std::string& a, const char* v) {
    if (a == "--threads") threads = std::atoi(v);
    else if (a == "--reps") reps = std::max(1, std::atoi(v));
    else if (a == "--bundle") bundle = v;
    else if (a == "--python") python = v;
    else if (a == "--cli") cli = v;
    else if (a == "--train-steps") train_steps = std::atoi(v);
    else if (a == "--rss-child") rss_child = v;
    else if (a == "--sections") sections = v;
    else return false;
    return true;
  });
  if (done >= 0) return done;
  tune_allocator();
  const char* user_core = std::getenv("OPENBLAS_CORETYPE");
  const std::string user_coretype = user_core ? user_core : "";
  const std::string blas_note = select_blas_kernels();  // may set OPENBLAS_CORETYPE for this process
  const char* fixed_core = std::getenv("OPENBLAS_CORETYPE");
  const std::string coretype = fixed_core ? fixed_core : "";
  threads = set_threads(threads);
  if (!rss_child.empty()) {  // child mode: load a bundle, edit 64 latents for 10 steps, exit
    const Models m = load_bundle(rss_child);
    EditSpec s = course_spec();
    s.targets = {{31, Direction::kAdd, std::nullopt}};
    edit(m, sample_latents(0, 64, m.z_dim), s);
    return 0;
  }
  if (bundle.empty()) try {
      bundle = default_bundle_dir(argv[0]);
    } catch (const std::exception&) {
      // build/bench/ is one level deeper than the CLI, so the bundled model is found from the sources.
      bundle = (fs::path(LATENTEDIT_SOURCE_DIR) / "pretrained/faces64").string();
    }
  if (cli.empty()) cli = (fs::path(argv[0]).parent_path().parent_path() / "latentedit").string();
  const std::string self = fs::canonical("/proc/self/exe").string();
  const std::time_t now = std::time(nullptr);
  char date[32];
  std::strftime(date, sizeof date, "%Y-%m-%d", std::gmtime(&now));
  std::printf("latentedit_bench %s | %s, %u cores | torch threads %d | libtorch %d.%d | %d reps per figure (median, min, max)\n",
              date, cpu_model().c_str(), std::max(1u, static_cast<unsigned>(sysconf(_SC_NPROCESSORS_ONLN))), threads,
              TORCH_VERSION_MAJOR, TORCH_VERSION_MINOR, reps);
  const std::string kernels = blas_kernels();
  std::printf("BLAS: %s%s%s\n", kernels.empty() ? "not OpenBLAS" : ("OpenBLAS, kernels " + kernels).c_str(),
              user_coretype.empty() ? "" : " (OPENBLAS_CORETYPE set by the user)",
              blas_note.empty() ? "" : (" — latentedit's start-up check: " + blas_note).c_str());

  // Course-size networks (random weights: speed does not depend on the values), as a bundle so
  // that Python, the RSS child and the CLI all load the same files.
  char tmpl[] = "/tmp/latentedit-bench-XXXXXX";
  const std::string tmp = mkdtemp(tmpl);
  {
    torch::manual_seed(0);
    Generator g;
    Classifier c;
    save_safetensors(tmp + "/generator.safetensors", state_dict(*g));
    save_safetensors(tmp + "/classifier.safetensors", state_dict(*c));
    write_manifest(tmp, make_manifest("course-size-random", 64, 64, "generator.safetensors", 64, "classifier.safetensors",
                                      celeba_attributes()));
  }
  const Models course = load_bundle(tmp);
  const bool have_bundle = !bundle.empty() && fs::exists(bundle + "/model.json");

  auto section = [&](char c) { return sections.find(c) != std::string::npos; };
  b.threads = threads, b.reps = reps, b.train_steps = train_steps, b.bundle = bundle, b.python = python, b.cli = cli;
  b.self = self, b.tmp = tmp, b.user_coretype = user_coretype, b.blas_note = blas_note, b.coretype = coretype;
  b.course = course, b.have_bundle = have_bundle;
  b.start_python(section('1') || section('4') || section('7'), !section('1') && !section('4'));
  if (section('1')) b.edit_loop();
  if (section('2')) b.growth();
  if (section('3')) b.floor();
  if (section('4')) b.end_to_end();
  if (section('5')) b.rss();
  if (section('6')) b.training();
  if (section('7')) b.default_edit();
  std::error_code ec;
  fs::remove_all(tmp, ec);
  return 0;
}
