# CUDA toolchain for the Thrust backend's CUDA targets (tests/thrust, bench/gpu).
# Enables CUDA, which lets cmake/dsaeComponents.cmake define dsae::cuda (the
# target an installed package gives its users too); sets DSAE_CUDA_FOUND and
# defines dsae_cuda_target(<target>): architectures + dsae::cuda.
# nvcc is looked up on PATH / CUDACXX, then at /usr/local/cuda/bin/nvcc.
# Architectures: CMAKE_CUDA_ARCHITECTURES, default 90 (H100/H200).
include(CheckLanguage)
if(NOT CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX} AND EXISTS /usr/local/cuda/bin/nvcc)
  set(ENV{CUDACXX} /usr/local/cuda/bin/nvcc)
endif()
if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
  set(CMAKE_CUDA_ARCHITECTURES 90 CACHE STRING "CUDA architectures of the dsae CUDA targets")
endif()
option(DSAE_ENABLE_CUDA "Build the Thrust backend's CUDA targets when nvcc is found" ON)
set(DSAE_CUDA_FOUND OFF)
if(DSAE_ENABLE_CUDA)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    enable_language(CUDA)
    find_package(CUDAToolkit)
    # dsaeComponents ran before CUDA was enabled; again now (the other
    # components already exist and are skipped).
    include(${PROJECT_SOURCE_DIR}/cmake/dsaeComponents.cmake)
    if(TARGET dsae::cuda)
      set(DSAE_CUDA_FOUND ON)
    endif()
  endif()
endif()

function(dsae_cuda_target tgt)
  set_target_properties(${tgt} PROPERTIES CUDA_ARCHITECTURES "${CMAKE_CUDA_ARCHITECTURES}")
  # C++20, cuBLAS, Eigen + Random123 (+ OpenMP's link line, unused: its
  # -fopenmp applies to C++ sources only, so the .cu code stays serial).
  target_link_libraries(${tgt} PRIVATE dsae::cuda)
endfunction()
