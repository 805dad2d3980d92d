#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdlib>
#include <string>

#include "latentedit/runtime.h"

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
