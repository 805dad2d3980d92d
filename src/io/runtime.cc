#include "io/runtime.h"

#include <dlfcn.h>
#include <malloc.h>
#include <torch/torch.h>

#include <cstdlib>
#include <mutex>
#include <thread>

namespace latentedit {

std::string blas_kernels() {
  using NameFn = char* (*)();
  const auto corename = reinterpret_cast<NameFn>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  return corename ? corename() : "";
}

std::string select_blas_kernels() {
  static std::once_flag once;
  static std::string what;
  std::call_once(once, [] {
    using VoidFn = void (*)();
    const auto quit = reinterpret_cast<VoidFn>(dlsym(RTLD_DEFAULT, "gotoblas_dynamic_quit"));
    const auto init = reinterpret_cast<VoidFn>(dlsym(RTLD_DEFAULT, "gotoblas_dynamic_init"));
    const std::string before = blas_kernels();
    if (before.empty() || !quit || !init) return;            // not OpenBLAS, or not a DYNAMIC_ARCH build
    if (std::getenv("OPENBLAS_CORETYPE")) return;            // the user chose

    if (before != "Prescott") return;                        // detection worked (or a genuinely old CPU)
    const char* core = nullptr;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
      core = "SkylakeX";
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
      core = "Haswell";
    else if (__builtin_cpu_supports("avx"))
      core = "Sandybridge";
    if (!core) return;
    // gotoblas_dynamic_init reads OPENBLAS_CORETYPE; nothing has called BLAS yet.
    setenv("OPENBLAS_CORETYPE", core, 0);
    quit();
    init();
    const std::string after = blas_kernels();
    what = "OpenBLAS did not recognise this CPU and chose its generic '" + before + "' kernels; using '" + after +
           "' (set OPENBLAS_CORETYPE to choose)";
  });
  return what;
}

int default_threads() {
  // As PyTorch does: OMP_NUM_THREADS when it is set to a positive number, else every core.
  if (const char* v = std::getenv("OMP_NUM_THREADS")) {
    char* end = nullptr;
    const long n = std::strtol(v, &end, 10);
    if (end != v && *end == '\0' && n > 0 && n <= 1024) return static_cast<int>(n);
  }
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

int set_threads(int n) {
  select_blas_kernels();
  if (n <= 0) n = default_threads();
  torch::set_num_threads(n);
  // OpenBLAS reads OPENBLAS_NUM_THREADS only when it is loaded, which has happened by now,
  // so call its setter directly when it is the BLAS in use.
  using SetFn = void (*)(int);
  if (auto fn = reinterpret_cast<SetFn>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) fn(1);  // torch's pool does the parallel work
  return n;
}

bool tune_allocator() {
  for (const char* v : {"GLIBC_TUNABLES", "MALLOC_MMAP_MAX_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"})
    if (std::getenv(v)) return false;  // the user chose
  // Blocks up to 1 GiB come from the heap and up to 1 GiB of freed memory stays there for reuse
  // (threads other than the main one still map blocks above their 64 MiB arenas).
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  return true;
}

}  // namespace latentedit
