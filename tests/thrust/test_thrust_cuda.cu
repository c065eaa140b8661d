// The Thrust parity tests compiled by nvcc: the same sources as test_thrust,
// on the CUDA device system with cuBLAS. One translation unit (nvcc is slow).
// Without a CUDA device the binary prints "SKIPPED: no CUDA device" and exits
// 77, which ctest reports as skipped (SKIP_RETURN_CODE).
#define BOOST_TEST_MODULE dsae_thrust_cuda
#define BOOST_TEST_NO_MAIN
#include <boost/test/unit_test.hpp>
#include <cuda_runtime.h>
#include <cstdio>

#include "test_ops.cpp"
#include "test_modules.cpp"
#include "test_model.cpp"

int main(int argc, char** argv) {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess || n == 0) {
    std::printf("SKIPPED: no CUDA device (%s)\n", e != cudaSuccess ? cudaGetErrorString(e) : "0 devices");
    return 77;
  }
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, 0) == cudaSuccess) std::printf("CUDA device 0: %s\n", prop.name);
  return boost::unit_test::unit_test_main(&init_unit_test, argc, argv);
}
