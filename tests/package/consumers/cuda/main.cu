// dsae::cuda: the Thrust backend compiled by nvcc (CUDA device system, cuBLAS
// GEMM) equals cpu<double> on a GEMM. Without a CUDA device: exit 77 (skipped).
#include "../common/gemm_vs_cpu.hpp"

#include <cuda_runtime.h>

int main() {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("SKIPPED: no CUDA device\n");
    return 77;
  }
  return gemm_vs_cpu("thrust (CUDA + cuBLAS)");
}
