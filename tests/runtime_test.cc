#include <gtest/gtest.h>
#include <torch/torch.h>

#include <sys/resource.h>

#include <cstdlib>
#include <string>

#include <opencv2/imgcodecs.hpp>
#include <sys/stat.h>
#include <thread>
#include <vector>

#include "io/runtime.h"
#include "latentedit/errors.h"
#include "latentedit/image.h"

using namespace latentedit;

// Debian 12's OpenBLAS falls back to generic SSE3 kernels on CPUs it does not know (an Intel
// Emerald Rapids ran SGEMM 4x slower); the start-up check must leave kernels that use the CPU's
// vector units, and products must stay right.
TEST(Runtime, BlasKernelsUseTheCpusVectorUnitsAndProductsStayExact) {
  const bool user_chose = std::getenv("OPENBLAS_CORETYPE") != nullptr;
  const std::string note = select_blas_kernels();
  const std::string kernels = blas_kernels();
  if (!kernels.empty() && !user_chose && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    EXPECT_NE(kernels, "Prescott") << note;
  if (!note.empty()) {
    EXPECT_NE(note.find("Prescott"), std::string::npos) << note;
  }
  EXPECT_EQ(select_blas_kernels(), note);  // runs once
  torch::manual_seed(0);
  const auto a = torch::randn({300, 200}), b = torch::randn({200, 129});
  const auto got = torch::mm(a, b).to(torch::kFloat64);
  const auto want = torch::mm(a.to(torch::kFloat64), b.to(torch::kFloat64));
  EXPECT_LT((got - want).abs().max().item<double>(), 1e-3);
  const auto v = torch::randn({200});
  EXPECT_LT((torch::mv(a, v).to(torch::kFloat64) - torch::mv(a.to(torch::kFloat64), v.to(torch::kFloat64))).abs().max().item<double>(), 1e-3);
}

namespace {
long minor_faults() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_minflt;
}
}  // namespace

// glibc maps every block above 32 MiB anew and unmaps it on free, so an edit or evaluation step
// page-faulted its large buffers (Jacobians, activations of 128 latents) on every step; after
// tune_allocator a freed 40 MiB tensor's memory is reused without touching the kernel again.
TEST(Runtime, TunedAllocatorReusesLargeTensorsWithoutPageFaults) {
  if (!tune_allocator()) GTEST_SKIP() << "GLIBC_TUNABLES or a MALLOC_*_ variable is set: the user chose glibc's options";
  const int64_t n = 40 << 18;  // 40 MiB of floats
  auto round = [n](int i) { return torch::empty({n}).fill_(static_cast<float>(i))[n - 1].item<float>(); };
  // glibc's aligned allocations (c10 asks for 64-byte alignment) grow the heap for the first
  // several rounds before it reuses a freed block; then nothing is mapped again.
  for (int i = 0; i < 12; ++i) round(i);
  const long before = minor_faults();
  for (int i = 0; i < 5; ++i) EXPECT_EQ(round(i), static_cast<float>(i));
  // Untuned, each round faults its 10,240 pages in again (51,200 in all).
  EXPECT_LT(minor_faults() - before, 2000);
}

TEST(Runtime, AllocatorTuningLeavesTheUsersGlibcOptionsAlone) {
  ASSERT_EQ(setenv("MALLOC_TRIM_THRESHOLD_", "1000000", 1), 0);
  EXPECT_FALSE(tune_allocator());
  unsetenv("MALLOC_TRIM_THRESHOLD_");
}

// Decoding images never changes the process's stderr unless the program asked for it (the CLI's
// single-threaded commands): a server decodes for overlapping requests, and a redirect saved and
// restored by two of them at once left fd 2 pointing at /dev/null for good.
TEST(Runtime, DecodingImagesOnManyThreadsLeavesStderrAlone) {
  struct stat before {};
  ASSERT_EQ(fstat(2, &before), 0);
  cv::Mat m(512, 512, CV_8UC3);
  cv::randu(m, 0, 255);
  std::vector<uchar> b;
  cv::imencode(".jpg", m, b);
  std::string bytes(b.begin(), b.end());
  bytes[bytes.size() / 2] ^= 0x55;  // damaged scan data: libjpeg warns as it decodes
  quiet_image_decoders(false);
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&] {
      for (int i = 0; i < 10; ++i) try {
          decode_image(bytes, "damaged.jpg");
        } catch (const InputError&) {
        }
    });
  for (auto& t : ts) t.join();
  struct stat after {};
  ASSERT_EQ(fstat(2, &after), 0);
  EXPECT_EQ(before.st_dev, after.st_dev);
  EXPECT_EQ(before.st_ino, after.st_ino);
  // Cut off: refused, not decoded as if whole.
  const std::string whole(b.begin(), b.end());
  EXPECT_NO_THROW(decode_image(whole, "whole.jpg"));
  EXPECT_THROW(decode_image(whole.substr(0, whole.size() / 2), "half.jpg"), InputError);
}
