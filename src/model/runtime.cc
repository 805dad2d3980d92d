#include "latentedit/runtime.h"

#include <dlfcn.h>
#include <malloc.h>
#include <torch/torch.h>

#include <thread>

namespace latentedit {

int set_threads(int n) {
  if (n <= 0) n = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  torch::set_num_threads(n);
  // OpenBLAS reads OPENBLAS_NUM_THREADS only when it is loaded, which has happened by now,
  // so call its setter directly when it is the BLAS in use.
  using SetFn = void (*)(int);
  if (auto fn = reinterpret_cast<SetFn>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) fn(1);  // torch's pool does the parallel work
  return n;
}

void tune_allocator() {
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
}

}  // namespace latentedit
