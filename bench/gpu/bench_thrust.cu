// bench_thrust.cpp compiled by nvcc for the CUDA device system (cuBLAS GEMM).
#include "bench_thrust.cpp"
